/**
 * The visualiser in a real browser (Debian's chromium driven by
 * playwright-core) against the real server binary: log in, see the live
 * supervisor tree, start a GC from the datastore view, follow the GC actor's
 * statechart through its phases to `done`, open its task log. A user
 * without Sys.Audit gets no system view, and the server refuses them the
 * feed. Screenshots go to test-output/visualiser/ (git-ignored); the test prints the path.
 *
 * The phases are checked on the state history the page shows (recorded by
 * the server's inspection feed as the actor passes through them), so no
 * step depends on catching a phase while it lasts.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createToken } from '../../auth/tokens.ts';
import { configPaths } from '../../config/paths.ts';
import { BackupWriter } from '../../datastore/backup-writer.ts';
import { ChunkStore } from '../../datastore/chunk-store.ts';
import { addAcl, addUser, PASSWORD } from '../helpers/auth-fixtures.ts';
import { dynamicPlan, NOW_S, writeArchive } from '../helpers/backup-fixtures.ts';
import { apiCall, tokenHeader } from '../helpers/https-api.ts';
import { removeDataDir, REPO_ROOT, startServer, type StartedServer } from '../helpers/server-process.ts';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN_PASSWORD = 'visualiser-admin-password';
const SHOTS = join(REPO_ROOT, 'test-output', 'visualiser');

let server: StartedServer;
let browser: Browser;
let base: string;
let adminToken: { tokenid: string; value: string };

interface Watched {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Requests to anything but this server (the page must make none) and errors the page logged. */
  readonly external: string[];
  readonly errors: string[];
}

/** A fresh browser context that records requests leaving 127.0.0.1 (and blocks them) and page errors. */
async function openPage(): Promise<Watched> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1440, height: 1000 } });
  const external: string[] = [];
  const errors: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.protocol === 'data:') return route.continue();
    external.push(url.href);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
  await page.goto(`${base}/ui/`);
  return { context, page, external, errors };
}

async function logIn(page: Page, username: string, password: string): Promise<void> {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#session:not([hidden])');
}

async function shot(t: TestContext, page: Page, name: string): Promise<void> {
  const file = join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  t.diagnostic(`screenshot ${file}`);
}

const actor = (systemId: string) => `button.actor[data-system-id="${systemId}"]`;

/** Two snapshots of host/web1 in the server's store1 sharing most chunks (what a backup leaves), the older one protected. */
async function seedSnapshots(storePath: string): Promise<void> {
  const chunkStore = ChunkStore.open(storePath, { sync: 'filesystem' });
  for (const [time, seeds] of [[NOW_S - 3600, [1, 2, 3]], [NOW_S, [1, 2, 4]]] as const) {
    const w = await BackupWriter.start({ storePath, chunkStore, type: 'host', id: 'web1', backupTime: time, owner: 'admin@pbs' });
    await writeArchive(w, 'root.pxar.didx', dynamicPlan([...seeds]));
    await w.finish();
  }
  const put = await apiCall(server.port, 'PUT', '/admin/datastore/store1/protected', {
    headers: tokenHeader(adminToken.tokenid, adminToken.value),
    form: { 'backup-type': 'host', 'backup-id': 'web1', 'backup-time': NOW_S - 3600, protected: 1 },
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ env: { BULWARK_ADMIN_PASSWORD: ADMIN_PASSWORD } });
  base = `https://127.0.0.1:${server.port}`;
  // A user who may back up to store1 but holds no Sys.Audit, and a token of admin's; the server re-reads these files on use.
  const paths = configPaths(server.dataDir);
  addUser(paths, { userid: 'backup@pbs', password: PASSWORD });
  addAcl(paths, [{ path: '/datastore/store1', ugid: 'backup@pbs', roleid: 'DatastoreBackup', propagate: true }]);
  adminToken = createToken(paths, 'admin@pbs', 'ui');
  addAcl(paths, [{ path: '/', ugid: adminToken.tokenid, roleid: 'Admin', propagate: true }]);
  await seedSnapshots(join(server.dataDir, 'store1'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
});

describe('the visualiser and admin page at /ui/', { timeout: 120_000 }, () => {
  test('admin logs in, sees the supervisor tree, starts a GC, watches its actor reach done and opens its log', async (t) => {
    t.diagnostic(`screenshots in ${SHOTS}`);
    const { context, page, external, errors } = await openPage();
    await logIn(page, 'admin@pbs', ADMIN_PASSWORD);

    // The live tree: the root's children and the datastore actor, online.
    for (const id of ['root', 'config', 'datastores', 'sessions', 'jobs', 'scheduler', 'datastore:store1']) await page.waitForSelector(actor(id));
    await page.waitForSelector(`${actor('datastore:store1')} .actor-state:text-is("online")`);
    assert.equal(await page.getAttribute(actor('datastores'), 'data-status'), 'active');
    await page.click(actor('datastore:store1'));
    await page.waitForSelector('#diagram svg.statechart g.state.current[data-state-id="datastore.online"]');
    assert.equal(await page.textContent('#actor-state'), 'online');
    await shot(t, page, '01-tree-datastore-actor');

    // Start GC from the datastore view, through the confirmation.
    await page.click('.tab[data-tab="datastores"]');
    await page.click('tr[data-store="store1"] button.start-gc');
    await page.waitForSelector('dialog#confirm[open]');
    assert.match(await page.textContent('#confirm-text') ?? '', /garbage collection on datastore store1/);
    await shot(t, page, '02-confirm-gc');
    await page.click('#confirm-ok');

    // The page switches to the job's actor; the feed recorded every state it passed through.
    await page.waitForSelector('#actor-panel[data-status="done"]');
    const title = await page.textContent('#actor-title');
    assert.match(title ?? '', /^job:UPID:[^:]+:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8,}:[0-9A-F]{8}:garbage_collection:store1:admin@pbs:$/);
    const history = await page.locator('#state-history li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-state')));
    assert.deepEqual(history, ['running.marking', 'running.sweeping', 'finishing', 'done']);
    await page.waitForSelector('#diagram svg.statechart g.state.current[data-state-id="gc.done"]');
    assert.equal(await page.$$eval('#diagram g.state.current', (gs) => gs.length), 1, 'one current state');
    const events = await page.locator('#event-list li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-type')));
    assert.ok(events.includes('PHASE'), `phase reports among the events: ${events.join(', ')}`);
    // The diagram is the gc machine's chart: its phases and edges are drawn.
    for (const id of ['gc.running', 'gc.running.marking', 'gc.running.sweeping', 'gc.finishing', 'gc.done']) await page.waitForSelector(`#diagram g.state[data-state-id="${id}"]`);
    assert.ok(await page.$$eval('#diagram path.edge', (ps) => ps.length) >= 5);
    await shot(t, page, '03-gc-actor-done');

    // Its task log.
    await page.click('#open-task-log');
    await page.waitForSelector('#task-log-panel[data-status="stopped"]');
    const log = await page.textContent('#task-log');
    assert.match(log ?? '', /Start GC phase1/);
    assert.match(log ?? '', /TASK OK\n?$/);
    await shot(t, page, '04-gc-task-log');

    // Jobs filtered by type and state.
    await page.selectOption('#task-type', 'garbage_collection');
    await page.waitForSelector('#task-table tbody tr[data-upid]');
    assert.ok((await page.$$eval('#task-table tbody tr[data-upid]', (rows) => rows.map((r) => r.children[1]!.textContent))).every((type) => type === 'garbage_collection'));
    await page.selectOption('#task-status', 'error');
    await page.waitForSelector('#task-table tbody tr[data-upid]', { state: 'detached' });
    await page.click('.tab[data-tab="system"]');
    await page.selectOption('#job-type', 'verify');
    await page.waitForSelector('button.actor[data-system-id^="job:"]', { state: 'detached' });
    await page.selectOption('#job-type', 'gc');
    await page.selectOption('#job-state', 'finished');
    await page.waitForSelector('button.actor[data-system-id^="job:"][data-status="done"]');

    // The datastore view now shows the GC's result.
    await page.click('.tab[data-tab="datastores"]');
    await page.waitForSelector('tr[data-store="store1"] .last-gc:text-matches("^OK")');
    assert.match(await page.textContent('tr[data-store="store1"] .usage') ?? '', /of/);
    // 6 chunk references, 4 chunks stored (and compressed): data referenced exceeds data on disk.
    const factor = /^(\d+\.\d\d)×$/.exec(await page.textContent('tr[data-store="store1"] .dedup') ?? '');
    assert.ok(factor && Number(factor[1]) > 1.5, `dedup factor ${factor?.[0]}`);
    const snaps = '.store-snapshots[data-store="store1"] .group[data-group="host/web1"] tbody tr';
    await page.waitForSelector(snaps);
    assert.deepEqual(await page.locator(`${snaps} td.protected`).allTextContents(), ['no', 'yes']);
    await shot(t, page, '05-datastores');

    assert.deepEqual(external, [], 'the page fetched nothing from elsewhere');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('verify and prune start from their buttons once confirmed; cancelling starts nothing', async (t) => {
    const { context, page, external, errors } = await openPage();
    await logIn(page, 'admin@pbs', ADMIN_PASSWORD);
    await page.waitForSelector(actor('jobs')); // the feed's snapshot is in: every job actor it keeps is listed
    await page.click('.tab[data-tab="datastores"]');
    const jobsBefore = await page.locator('#tree button.actor[data-system-id^="job:"]').count();
    await page.click('tr[data-store="store1"] button.start-verify');
    await page.click('#confirm-cancel');
    await page.waitForSelector('dialog#confirm', { state: 'hidden' });
    assert.equal(await page.isVisible('#datastores'), true, 'still on the datastore view');

    await page.click('tr[data-store="store1"] button.start-verify');
    await page.click('#confirm-ok');
    await page.waitForSelector('#actor-panel[data-status="done"]');
    assert.match(await page.textContent('#actor-title') ?? '', /:verify:store1:admin@pbs:$/);
    assert.equal(await page.locator('#tree button.actor[data-system-id^="job:"]').count(), jobsBefore + 1, 'one job, from the confirmed click');
    await page.click('.tab[data-tab="datastores"]');
    await page.waitForSelector('tr[data-store="store1"] .last-verify:text-matches("^OK")');
    const snaps = '.store-snapshots[data-store="store1"] tbody tr td.verify';
    await page.waitForSelector(snaps);
    assert.deepEqual(await page.locator(snaps).allTextContents(), ['ok', 'ok']);
    await shot(t, page, '06-verified-snapshots');

    await page.click('.tab[data-tab="datastores"]');
    await page.click('tr[data-store="store1"] button.start-prune');
    await page.waitForSelector('#prune-options:not([hidden])');
    await page.fill('#keep-last', '2');
    await page.check('#prune-dry-run');
    await shot(t, page, '07-confirm-prune');
    await page.click('#confirm-ok');
    await page.waitForSelector('#actor-panel[data-status="done"] #actor-title:text-matches(":prune:store1:")');
    await page.click('#open-task-log');
    await page.waitForSelector('#task-log-panel[data-status="stopped"]');
    const log = await page.textContent('#task-log') ?? '';
    assert.match(log, /dry run/);
    assert.match(log, /--keep-last 2/);
    assert.match(log, /TASK OK\n?$/);
    assert.deepEqual(external, []);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a user without Sys.Audit sees no system view, and the server refuses them the feed', async (t) => {
    const { context, page, external, errors } = await openPage();
    await logIn(page, 'backup@pbs', PASSWORD);
    await page.waitForSelector('tr[data-store="store1"]');
    assert.equal(await page.isHidden('.tab[data-tab="system"]'), true);
    assert.equal(await page.isHidden('#system'), true);
    assert.equal(await page.$$eval('button.actor', (b) => b.length), 0);
    // Not only hidden: the WebSocket itself is refused with this user's cookie.
    const outcome = await page.evaluate(`new Promise((resolve) => {
      const ws = new WebSocket('wss://' + location.host + '/api2/ws/inspect', ['bulwark-inspect']);
      ws.onopen = () => resolve('open');
      ws.onclose = () => resolve('refused');
    })`);
    assert.equal(outcome, 'refused');
    await shot(t, page, '08-no-sys-audit');
    assert.deepEqual(external, []);
    // The browser logs each refused call (views this user may not see, the refused WebSocket); nothing else may fail.
    assert.deepEqual(errors.filter((e) => !/status of 403 \(Forbidden\)|WebSocket connection to .* failed/.test(e)), []);
    await context.close();
  });

  test('an API token logs in too; its feed travels over the token subprotocol', async () => {
    const { context, page, errors } = await openPage();
    await logIn(page, adminToken.tokenid, adminToken.value);
    await page.waitForSelector(actor('datastore:store1'));
    assert.equal(await page.textContent('#whoami'), adminToken.tokenid);
    assert.deepEqual(errors, []);
    await context.close();
  });
});
