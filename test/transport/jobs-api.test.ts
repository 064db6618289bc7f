import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { waitFor, type AnyActorRef } from 'xstate';
import { startServerSystem, type ServerSystem } from '../../actors/server-system.ts';
import { createToken } from '../../auth/tokens.ts';
import { AuthService } from '../../auth/auth-service.ts';
import { configPaths } from '../../config/paths.ts';
import { ensureSelfSignedCertificate } from '../../config/tls.ts';
import { SAFETY_NONE } from '../../datastore/safety.ts';
import { startHttpServer, type HttpServer } from '../../transport/server.ts';
import { addAcl, addUser, makeAuthDir, PASSWORD, type AuthDir } from '../helpers/auth-fixtures.ts';
import { backupStore, dynamicPlan, writeArchive, NOW_S, OWNER } from '../helpers/backup-fixtures.ts';
import { removeDir, tempDir } from '../helpers/chunk-fixtures.ts';
import { apiCall, tokenHeader } from '../helpers/https-api.ts';

const dir = tempDir('bulwark-jobs-api-');
let authDir: AuthDir;
let system: ServerSystem;
let server: HttpServer;
let admin: Record<string, string>;
let alice: Record<string, string>;
let auditor: Record<string, string>;

async function ended(upid: string): Promise<void> {
  await waitFor(system.root.system.get('jobs') as AnyActorRef, (s) => s.context.jobs[upid] === undefined);
}
const enc = encodeURIComponent;

before(async () => {
  const store = backupStore(dir);
  for (const time of [NOW_S - 7200, NOW_S - 3600, NOW_S]) {
    const w = await store.start(time);
    await writeArchive(w, 'root.pxar.didx', dynamicPlan([1, 2, time % 97]));
    await w.finish();
  }
  authDir = makeAuthDir();
  addUser(authDir.paths, { userid: 'admin@pbs', password: PASSWORD });
  addUser(authDir.paths, { userid: OWNER, password: PASSWORD });
  addUser(authDir.paths, { userid: 'audit@pbs' });
  addAcl(authDir.paths, [
    { path: '/', ugid: 'admin@pbs', roleid: 'Admin', propagate: true },
    { path: '/', ugid: 'admin@pbs!t', roleid: 'Admin', propagate: true },
    { path: '/datastore/store1', ugid: OWNER, roleid: 'DatastorePowerUser', propagate: true },
    { path: '/datastore/store1', ugid: `${OWNER}!t`, roleid: 'DatastorePowerUser', propagate: true },
    { path: '/', ugid: 'audit@pbs', roleid: 'Audit', propagate: true },
    { path: '/', ugid: 'audit@pbs!t', roleid: 'Audit', propagate: true },
  ]);
  const a = createToken(authDir.paths, 'admin@pbs', 't');
  const c = createToken(authDir.paths, 'audit@pbs', 't');
  admin = tokenHeader(a.tokenid, a.value);
  auditor = tokenHeader(c.tokenid, c.value);
  system = await startServerSystem({
    paths: configPaths(join(dir, 'data')), log: pino({ level: 'silent' }), safety: SAFETY_NONE,
    config: { datastoresDigest: 'x', datastores: { store1: { name: 'store1', path: store.path } } },
  });
  await waitFor(system.root.system.get('datastore:store1') as AnyActorRef, (s) => s.value === 'online');
  const tls = { keyFile: join(dir, 'proxy.key'), certFile: join(dir, 'proxy.pem') };
  await ensureSelfSignedCertificate(tls);
  server = await startHttpServer({
    host: '127.0.0.1', port: 0, ...tls, log: pino({ level: 'silent' }),
    system: system.root.system, auth: new AuthService(authDir.paths), paths: authDir.paths, jobs: system.jobs,
  });
  // alice owns host/web1 and logs in with a ticket: her writes need the CSRF token.
  const login = await apiCall<{ ticket: string; CSRFPreventionToken: string }>(server.port, 'POST', '/access/ticket', { form: { username: OWNER, password: PASSWORD } });
  alice = { cookie: `PBSAuthCookie=${encodeURIComponent(login.body.data!.ticket)}`, csrfpreventiontoken: login.body.data!.CSRFPreventionToken };
});

after(async () => {
  server?.close();
  await system?.close();
  authDir?.remove();
  removeDir(dir);
});

describe('datastore jobs and tasks over /api2/json', () => {
  test('POST gc returns a UPID; the task shows in the list, its status and log; GET gc gives the statistics', async () => {
    const started = await apiCall<string>(server.port, 'POST', '/admin/datastore/store1/gc', { headers: admin });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const upid = started.body.data!;
    assert.match(upid, /:garbage_collection:store1:admin@pbs!t:$/);
    await ended(upid);
    const status = await apiCall<{ status: string; exitstatus: string; type: string }>(server.port, 'GET', `/nodes/localhost/tasks/${enc(upid)}/status`, { headers: admin });
    assert.equal(status.body.data!.status, 'stopped');
    assert.equal(status.body.data!.exitstatus, 'OK');
    const log = await apiCall<{ n: number; t: string }[]>(server.port, 'GET', `/nodes/localhost/tasks/${enc(upid)}/log?start=1&limit=2`, { headers: admin });
    assert.equal(log.body.data!.length, 2);
    assert.equal(log.body.data![0]!.n, 1);
    assert.ok(log.body.total! > 2);
    assert.equal(log.body.active, false);
    const list = await apiCall<{ upid: string; worker_type: string; status: string }[]>(server.port, 'GET', '/nodes/localhost/tasks?typefilter=garbage', { headers: admin });
    assert.ok(list.body.data!.some((t) => t.upid === upid && t.worker_type === 'garbage_collection' && t.status === 'OK'));
    const gc = await apiCall<Record<string, unknown>>(server.port, 'GET', '/admin/datastore/store1/gc', { headers: admin });
    assert.equal(gc.body.data!.upid, upid);
    assert.equal(gc.body.data!['last-run-state'], 'OK');
    assert.equal(typeof gc.body.data!.diskChunks === 'number' || typeof gc.body.data!['disk-chunks'] === 'number', true);
  });

  test('privileges: a DatastorePowerUser may not start GC (403 names Datastore.Modify); an auditor reads but cannot write', async () => {
    const denied = await apiCall(server.port, 'POST', '/admin/datastore/store1/gc', { headers: alice });
    assert.equal(denied.status, 403);
    assert.match(denied.body.message!, /Datastore\.Modify/);
    assert.equal((await apiCall(server.port, 'GET', '/admin/datastore/store1/gc', { headers: auditor })).status, 200);
    assert.equal((await apiCall(server.port, 'POST', '/admin/datastore/store1/verify', { headers: auditor })).status, 403);
  });

  test('prune of an owned group with Datastore.Prune: dry run lists keep/remove, the real run removes; no CSRF token, no write', async () => {
    const noCsrf = await apiCall(server.port, 'POST', '/admin/datastore/store1/prune', { headers: { cookie: alice.cookie! }, form: { 'backup-type': 'host', 'backup-id': 'web1', 'keep-last': 1 } });
    assert.equal(noCsrf.status, 401);
    const form = { 'backup-type': 'host', 'backup-id': 'web1', 'keep-last': 1, 'dry-run': 1 };
    const dry = await apiCall<{ 'backup-time': number; keep: boolean }[]>(server.port, 'POST', '/admin/datastore/store1/prune', { headers: alice, form });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.deepEqual(dry.body.data!.map((s) => [s['backup-time'], s.keep]), [[NOW_S, true], [NOW_S - 3600, false], [NOW_S - 7200, false]]);
    const snaps = await apiCall<unknown[]>(server.port, 'GET', '/admin/datastore/store1/snapshots', { headers: admin });
    assert.equal(snaps.body.data!.length, 3, 'dry run removed nothing');
    const real = await apiCall(server.port, 'POST', '/admin/datastore/store1/prune', { headers: alice, json: { 'backup-type': 'host', 'backup-id': 'web1', 'keep-last': 2 } });
    assert.equal(real.status, 200);
    assert.equal((await apiCall<unknown[]>(server.port, 'GET', '/admin/datastore/store1/snapshots', { headers: admin })).body.data!.length, 2);
  });

  test('bad parameters are refused with 400 naming the parameter, before any task exists', async () => {
    const before = (await system.tasks.list({ limit: 0 })).tasks.length;
    for (const [path, form, name] of [
      ['/admin/datastore/store1/prune-datastore', { 'keep-last': 'x' }, 'keep-last'],
      ['/admin/datastore/store1/prune-datastore', { 'max-depth': 9 }, 'max-depth'],
      ['/admin/datastore/store1/verify', { 'outdated-after': -1 }, 'outdated-after'],
      ['/admin/datastore/store1/prune', { 'backup-type': 'nope', 'backup-id': 'x' }, 'backup-type'],
    ] as const) {
      const r = await apiCall(server.port, 'POST', path, { headers: admin, form });
      assert.equal(r.status, 400, `${path} ${JSON.stringify(form)}`);
      assert.match(r.body.message!, new RegExp(name));
    }
    assert.equal((await system.tasks.list({ limit: 0 })).tasks.length, before);
    assert.equal((await apiCall(server.port, 'POST', '/admin/datastore/nostore/gc', { headers: admin })).status, 404);
  });

  test('verify runs as a task; a user sees only their own tasks, the auditor all; stopping a finished task is refused', async () => {
    const r = await apiCall<string>(server.port, 'POST', '/admin/datastore/store1/verify', { headers: admin, form: { 'ignore-verified': 0 } });
    const upid = r.body.data!;
    await ended(upid);
    const own = await apiCall<{ user: string }[]>(server.port, 'GET', '/nodes/localhost/tasks?limit=0', { headers: alice });
    assert.ok(own.body.data!.every((t) => t.user.startsWith(OWNER)));
    const all = await apiCall<{ upid: string }[]>(server.port, 'GET', '/nodes/localhost/tasks?limit=0', { headers: auditor });
    assert.ok(all.body.data!.some((t) => t.upid === upid));
    assert.equal((await apiCall(server.port, 'GET', `/nodes/localhost/tasks/${enc(upid)}/log`, { headers: alice })).status, 403);
    const stop = await apiCall(server.port, 'DELETE', `/nodes/localhost/tasks/${enc(upid)}`, { headers: admin });
    assert.equal(stop.status, 400);
    assert.equal((await apiCall(server.port, 'GET', '/nodes/localhost/tasks/UPID:broken/status', { headers: admin })).status, 400);
  });
});
