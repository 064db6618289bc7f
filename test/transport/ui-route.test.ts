import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import pino from 'pino';
import { waitFor, type AnyActorRef } from 'xstate';
import WebSocket from 'ws';
import { startServerSystem, type ServerSystem } from '../../actors/server-system.ts';
import { AuthService } from '../../auth/auth-service.ts';
import { createToken } from '../../auth/tokens.ts';
import { configPaths } from '../../config/paths.ts';
import { ensureSelfSignedCertificate } from '../../config/tls.ts';
import { createDatastore } from '../../datastore/create.ts';
import { SAFETY_NONE } from '../../datastore/safety.ts';
import { apiNotFound } from '../../transport/http-api.ts';
import type { FeedMessage } from '../../transport/inspect-feed.ts';
import { InspectFeed } from '../../transport/inspect-feed.ts';
import { accessRoutes } from '../../transport/routes/access.ts';
import { INSPECT_PATH, uiRoutes } from '../../transport/routes/ui.ts';
import { loadUws, type us_listen_socket } from '../../transport/uws.ts';
import { addAcl, addUser, makeAuthDir, PASSWORD, type AuthDir } from '../helpers/auth-fixtures.ts';
import { removeDir, tempDir } from '../helpers/chunk-fixtures.ts';
import { apiCall, tokenHeader } from '../helpers/https-api.ts';

const dir = tempDir('bulwark-ui-route-');
let authDir: AuthDir;
let system: ServerSystem;
let feed: InspectFeed;
let port: number;
let closeApp: () => void;
let adminCookie: string;
let backupCookie: string;
let token: { tokenid: string; value: string };

/** A uWS app with the access routes (for tickets) and the ui routes, the page's files taken from a fixture dir. */
async function startApp(webDir?: string): Promise<{ port: number; close: () => void }> {
  const tls = { keyFile: join(dir, 'proxy.key'), certFile: join(dir, 'proxy.pem') };
  await ensureSelfSignedCertificate(tls);
  const { uws } = loadUws();
  const app = uws.SSLApp({ key_file_name: tls.keyFile, cert_file_name: tls.certFile });
  const log = pino({ level: 'silent' });
  const auth = new AuthService(authDir.paths);
  accessRoutes(app, log, auth);
  uiRoutes(app, { log, auth, feed, ...(webDir && { webDir }) });
  apiNotFound(app);
  const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen('127.0.0.1', 0, resolve));
  assert.ok(socket);
  return { port: uws.us_socket_local_port(socket as never), close: () => uws.us_listen_socket_close(socket) };
}

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, rejectUnauthorized: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Opened { readonly ws: WebSocket; readonly first: FeedMessage }
type Upgrade = { refused: number; code: string } | Opened;

/** Opens the inspect WebSocket; resolves with the first message, or with the status and code the upgrade was refused with. */
function connect(headers: Record<string, string>, protocols: string[] = []): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${INSPECT_PATH}`, protocols, { headers, rejectUnauthorized: false });
    ws.once('message', (data) => resolve({ ws, first: JSON.parse(data.toString()) as FeedMessage }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ refused: res.statusCode ?? 0, code: (JSON.parse(body) as { code: string }).code }));
    });
    ws.once('error', reject);
  });
}

function opened(u: Upgrade): Opened {
  assert.ok('ws' in u, `refused: ${JSON.stringify(u)}`);
  return u;
}

async function ticketCookie(username: string): Promise<string> {
  const login = await apiCall<{ ticket: string }>(port, 'POST', '/access/ticket', { form: { username, password: PASSWORD } });
  return `PBSAuthCookie=${encodeURIComponent(login.body.data!.ticket)}`;
}

before(async () => {
  const storePath = join(dir, 'store1');
  createDatastore(storePath);
  authDir = makeAuthDir();
  addUser(authDir.paths, { userid: 'admin@pbs', password: PASSWORD });
  addUser(authDir.paths, { userid: 'backup@pbs', password: PASSWORD });
  token = createToken(authDir.paths, 'admin@pbs', 'ui');
  addAcl(authDir.paths, [
    { path: '/', ugid: 'admin@pbs', roleid: 'Admin', propagate: true },
    { path: '/', ugid: token.tokenid, roleid: 'Admin', propagate: true },
    { path: '/datastore/store1', ugid: 'backup@pbs', roleid: 'DatastoreBackup', propagate: true },
  ]);
  feed = new InspectFeed();
  system = await startServerSystem({
    paths: configPaths(join(dir, 'data')), log: pino({ level: 'silent' }), safety: SAFETY_NONE, inspect: feed.inspect,
    config: { datastoresDigest: 'x', datastores: { store1: { name: 'store1', path: storePath } } },
  });
  await waitFor(system.root.system.get('datastore:store1') as AnyActorRef, (s) => s.value === 'online');
  const app = await startApp();
  port = app.port;
  closeApp = app.close;
  adminCookie = await ticketCookie('admin@pbs');
  backupCookie = await ticketCookie('backup@pbs');
});

after(async () => {
  closeApp?.();
  await system?.close();
  authDir?.remove();
  removeDir(dir);
});

describe('static files under /ui/', () => {
  test('the page, its modules, its styles and the elkjs bundle, with content types and a CSP that allows only this server', async () => {
    for (const [path, type] of [['/ui/', 'text/html'], ['/ui/app.js', 'text/javascript'], ['/ui/style.css', 'text/css'], ['/ui/vendor/elk.bundled.js', 'text/javascript']] as const) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.match(String(res.headers['content-type']), new RegExp(`^${type}`), path);
      assert.match(String(res.headers['content-security-policy']), /default-src 'self'; script-src 'self'/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
    const html = (await get('/ui/')).body.toString();
    assert.ok(!/https?:\/\//.test(html.replace(/http:\/\/www\.w3\.org[^"]*/g, '')), 'the page refers to nothing elsewhere');
    const redirect = await get('/ui');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, '/ui/');
  });

  test('only the page\'s own files: unknown names and climbing out get 404', async () => {
    for (const path of ['/ui/nope.js', '/ui/%2e%2e/package.json', '/ui/..%2fpackage.json', '/ui/vendor/../../package.json', '/ui/vendor/elk-worker.js']) {
      assert.equal((await get(path)).status, 404, path);
    }
  });

  test('an unchanged file answers 304 to its ETag', async () => {
    const web = join(dir, 'web-fixture');
    mkdirSync(web, { recursive: true });
    writeFileSync(join(web, 'index.html'), '<!doctype html><title>fixture</title>');
    const app = await startApp(web);
    const saved = port;
    port = app.port;
    try {
      const first = await get('/ui/');
      assert.equal(first.body.toString(), '<!doctype html><title>fixture</title>');
      const again = await get('/ui/index.html', { 'if-none-match': String(first.headers.etag) });
      assert.equal(again.status, 304);
      assert.equal(again.body.length, 0);
    } finally {
      port = saved;
      app.close();
    }
  });
});

describe('a server without its web files', () => {
  test('starts, and /ui/ answers 404', async () => {
    const app = await startApp(join(dir, 'no-such-web-dir'));
    const saved = port;
    port = app.port;
    try {
      assert.equal((await get('/ui/')).status, 404);
    } finally {
      port = saved;
      app.close();
    }
  });
});

describe(`the inspection feed at ${INSPECT_PATH}`, () => {
  test('refused without credentials (401), without Sys.Audit on /system (403), and for a ticket from another origin (403)', async () => {
    assert.deepEqual(await connect({}), { refused: 401, code: 'BULWARK_UNAUTHORIZED' });
    assert.deepEqual(await connect({ cookie: backupCookie }), { refused: 403, code: 'BULWARK_FORBIDDEN' });
    assert.deepEqual(await connect({ cookie: adminCookie, origin: 'https://evil.example' }), { refused: 403, code: 'BULWARK_FORBIDDEN' });
    assert.deepEqual(await connect({}, ['bulwark-inspect', `bulwark-token.${Buffer.from(`${token.tokenid}:wrong`).toString('base64url')}`]), { refused: 401, code: 'BULWARK_UNAUTHORIZED' });
  });

  test('a ticket from the same origin, a token header, or a token subprotocol opens it; the server answers only bulwark-inspect', async () => {
    const viaCookie = opened(await connect({ cookie: adminCookie, origin: `https://127.0.0.1:${port}` }, ['bulwark-inspect']));
    assert.equal(viaCookie.ws.protocol, 'bulwark-inspect');
    const viaHeader = opened(await connect(tokenHeader(token.tokenid, token.value)));
    assert.equal(viaHeader.ws.protocol, '');
    const viaProtocol = opened(await connect({}, ['bulwark-inspect', `bulwark-token.${Buffer.from(`${token.tokenid}:${token.value}`).toString('base64url')}`]));
    assert.equal(viaProtocol.ws.protocol, 'bulwark-inspect');
    for (const o of [viaCookie, viaHeader, viaProtocol]) {
      assert.equal(o.first.type, 'snapshot');
      o.ws.close();
    }
  });

  test('a snapshot of the supervisor tree, then deltas as a GC job runs through its phases to done', async () => {
    const { ws, first } = opened(await connect(tokenHeader(token.tokenid, token.value)));
    const names = new Set(first.actors.map((a) => a.systemId).filter(Boolean));
    for (const id of ['root', 'config', 'datastores', 'sessions', 'jobs', 'scheduler', 'datastore:store1']) assert.ok(names.has(id), id);
    assert.equal(first.actors.find((a) => a.systemId === 'datastore:store1')!.state, 'online');
    assert.ok(first.machines.root && first.machines.datastore, 'statecharts of the running machines');
    assert.ok(!JSON.stringify(first).includes(dir), 'no paths (contexts) in the feed');

    const deltas: FeedMessage[] = [];
    const upid = await system.jobs.start({ kind: 'gc', store: 'store1', user: 'admin@pbs' });
    const job = await new Promise<string>((resolve) => {
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as FeedMessage;
        deltas.push(msg);
        const a = msg.actors.find((x) => x.systemId === `job:${upid}`);
        if (a?.status === 'done') resolve(a.id);
      });
    });
    ws.close();
    assert.ok(deltas.every((d) => d.type === 'delta'));
    assert.deepEqual(deltas.flatMap((d) => d.states).filter((s) => s.actor === job).map((s) => s.state), ['running.marking', 'running.sweeping', 'finishing', 'done']);
    assert.deepEqual(Object.keys(deltas.reduce((m, d) => ({ ...m, ...d.machines }), {})), ['gc'], 'the gc chart, sent once');
    assert.ok(!deltas.some((d) => JSON.stringify(d).includes(dir)), 'no paths (contexts, outputs) in the deltas');
  });
});
