import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { waitFor, type AnyActorRef } from 'xstate';
import { startServerSystem, type ServerSystem } from '../../actors/server-system.ts';
import { AuthService } from '../../auth/auth-service.ts';
import { createToken } from '../../auth/tokens.ts';
import { loadDatastoreConfig, saveDatastoreEntry } from '../../config/datastore-config.ts';
import { saveRemote } from '../../config/remote-config.ts';
import { ensureSelfSignedCertificate } from '../../config/tls.ts';
import { SAFETY_NONE } from '../../datastore/safety.ts';
import { apiNotFound } from '../../transport/http-api.ts';
import { accessRoutes } from '../../transport/routes/access.ts';
import { configDatastoreRoutes, type DatastoreConfigTasks } from '../../transport/routes/config-datastore.ts';
import { configJobRoutes } from '../../transport/routes/config-jobs.ts';
import { configRemoteRoutes } from '../../transport/routes/config-remote.ts';
import { configTrafficControlRoutes } from '../../transport/routes/config-traffic-control.ts';
import { datastoreJobRoutes } from '../../transport/routes/datastore-jobs.ts';
import { taskRoutes } from '../../transport/routes/tasks.ts';
import { loadUws, type us_listen_socket } from '../../transport/uws.ts';
import { addAcl, addUser, makeAuthDir, PASSWORD, type AuthDir } from '../helpers/auth-fixtures.ts';
import { removeDir, sparseStoreDir, tmpfsTempDir } from '../helpers/chunk-fixtures.ts';
import { apiCall, tokenHeader } from '../helpers/https-api.ts';

// A real 65536-dir chunk store is made here, so the dir is on tmpfs when there is one.
const dir = tmpfsTempDir('bulwark-config-api-');
const FINGERPRINT = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0')).join(':');
let authDir: AuthDir;
let system: ServerSystem;
let port: number;
let closeServer: () => void;
let storeTasks: DatastoreConfigTasks;
const as: Record<'admin' | 'auditor' | 'op', Record<string, string>> = { admin: {}, auditor: {}, op: {} };

const enc = encodeURIComponent;
const call = <T = unknown>(who: Record<string, string>, method: string, path: string, body?: Record<string, unknown>) =>
  apiCall<T>(port, method, path, { headers: who, ...(body !== undefined && { json: body }) });
const actor = (id: string): AnyActorRef | undefined => system.root.system.get(id) as AnyActorRef | undefined;

async function taskEnd(upid: string): Promise<string | undefined> {
  const r = await call<{ status: string; exitstatus?: string }>(as.admin, 'GET', `/nodes/localhost/tasks/${enc(upid)}/status`);
  assert.equal(r.body.data!.status, 'stopped');
  return r.body.data!.exitstatus;
}

/** Every config file's bytes, to show that a refused request wrote nothing. */
function etcSnapshot(): Record<string, string> {
  const etc = authDir.paths.etcDir;
  return Object.fromEntries(readdirSync(etc).filter((f) => !f.endsWith('.lck')).map((f) => [f, readFileSync(join(etc, f), 'utf8')]));
}

before(async () => {
  authDir = makeAuthDir();
  const { paths } = authDir;
  addUser(paths, { userid: 'admin@pbs', password: PASSWORD });
  addUser(paths, { userid: 'audit@pbs' });
  addUser(paths, { userid: 'op@pbs' });
  addAcl(paths, [
    { path: '/', ugid: 'admin@pbs', roleid: 'Admin', propagate: true },
    { path: '/', ugid: 'admin@pbs!t', roleid: 'Admin', propagate: true },
    { path: '/', ugid: 'audit@pbs!t', roleid: 'Audit', propagate: true },
    { path: '/', ugid: 'audit@pbs', roleid: 'Audit', propagate: true },
    { path: '/datastore/store1', ugid: 'op@pbs', roleid: 'DatastoreAdmin', propagate: true },
    { path: '/datastore/store1', ugid: 'op@pbs!t', roleid: 'DatastoreAdmin', propagate: true },
    { path: '/remote', ugid: 'op@pbs', roleid: 'RemoteAudit', propagate: true },
    { path: '/remote', ugid: 'op@pbs!t', roleid: 'RemoteAudit', propagate: true },
  ]);
  for (const [who, user] of [['admin', 'admin@pbs'], ['auditor', 'audit@pbs'], ['op', 'op@pbs']] as const) {
    const t = createToken(paths, user, 't');
    as[who] = tokenHeader(t.tokenid, t.value);
  }
  saveDatastoreEntry(paths.datastoreConfig, { name: 'store1', path: sparseStoreDir(dir, 'store1') });
  saveRemote({ config: paths.remoteConfig, shadow: paths.remoteShadow }, { name: 'origin', host: 'pbs.example.com', 'auth-id': 'sync@pbs!job' }, 'origin-secret');
  const loaded = loadDatastoreConfig(paths.datastoreConfig);
  system = await startServerSystem({
    paths, log: pino({ level: 'silent' }), safety: SAFETY_NONE,
    config: { datastores: loaded.data, datastoresDigest: loaded.digest },
  });
  await waitFor(actor('datastore:store1')!, (s) => s.value === 'online');

  // The routes under test on a real HTTPS listener, with the GC and task routes beside them.
  const tls = { keyFile: join(dir, 'proxy.key'), certFile: join(dir, 'proxy.pem') };
  await ensureSelfSignedCertificate(tls);
  const { uws } = loadUws();
  const app = uws.SSLApp({ key_file_name: tls.keyFile, cert_file_name: tls.certFile });
  const log = pino({ level: 'silent' });
  const auth = new AuthService(paths);
  const ctx = { log, auth, system: system.root.system, jobs: system.jobs };
  accessRoutes(app, log, auth);
  datastoreJobRoutes(app, ctx);
  taskRoutes(app, ctx);
  storeTasks = configDatastoreRoutes(app, ctx, paths);
  configJobRoutes(app, ctx, paths);
  configRemoteRoutes(app, ctx, paths);
  configTrafficControlRoutes(app, ctx, paths);
  apiNotFound(app);
  const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen('127.0.0.1', 0, resolve));
  assert.ok(socket, 'test server could not listen');
  port = uws.us_socket_local_port(socket as never);
  closeServer = () => {
    uws.us_listen_socket_close(socket);
    (app as unknown as { close?: () => void }).close?.();
  };
});

after(async () => {
  closeServer?.();
  await storeTasks?.idle();
  await system?.close();
  authDir?.remove();
  removeDir(dir);
});

describe('/config/datastore', () => {
  const path = join(dir, 'fresh');

  test('POST creates the store as a task: UPID, task OK, chunk dirs made, actor online, GC runs on it', async () => {
    const r = await call<string>(as.admin, 'POST', '/config/datastore', { name: 'fresh', path, comment: ' new store ', 'gc-schedule': 'daily', 'prune-schedule': 'weekly', 'keep-last': 5 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(r.body.data!, /:create-datastore:fresh:admin@pbs!t:$/);
    await storeTasks.idle();
    assert.equal(await taskEnd(r.body.data!), 'OK');
    assert.ok(statSync(join(path, '.chunks', '0000')).isDirectory() && statSync(join(path, '.chunks', 'ffff')).isDirectory());
    await waitFor(actor('datastore:fresh')!, (s) => s.value === 'online');
    const prune = await call<Record<string, unknown>[]>(as.admin, 'GET', '/config/prune');
    assert.deepEqual(prune.body.data!.map(({ id, ...job }) => [String(id).slice(0, 14), job]), [['default-fresh-', { store: 'fresh', schedule: 'weekly', 'keep-last': 5 }]], "PBS turns a new store's prune options into a prune job");

    const gc = await call<string>(as.admin, 'POST', '/admin/datastore/fresh/gc');
    assert.equal(gc.status, 200, JSON.stringify(gc.body));
    await waitFor(actor('jobs')!, (s) => s.context.jobs[gc.body.data!] === undefined);
    assert.equal(await taskEnd(gc.body.data!), 'OK');

    const read = await call<Record<string, unknown>>(as.auditor, 'GET', '/config/datastore/fresh');
    assert.deepEqual(read.body.data, { name: 'fresh', path, comment: 'new store', 'gc-schedule': 'daily' });
    assert.match((read.body as { digest?: string }).digest!, /^[0-9a-f]{64}$/);
    const list = await call<{ name: string }[]>(as.auditor, 'GET', '/config/datastore');
    assert.deepEqual(list.body.data!.map((s) => s.name).sort(), ['fresh', 'store1']);
    const opList = await call<{ name: string }[]>(as.op, 'GET', '/config/datastore');
    assert.deepEqual(opList.body.data!.map((s) => s.name), ['store1'], 'only stores the caller may audit');

    const again = await call(as.admin, 'POST', '/config/datastore', { name: 'fresh', path: join(dir, 'other') });
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'BULWARK_ALREADY_EXISTS');
    const samePath = await call(as.admin, 'POST', '/config/datastore', { name: 'other', path: join(path, 'inner') });
    assert.equal(samePath.status, 400);
    assert.match(samePath.body.message!, /path/);
  });

  test('PUT maintenance-mode in PBS format reaches the running actor; deleting it brings the store back online', async () => {
    const ro = await call(as.admin, 'PUT', '/config/datastore/fresh', { 'maintenance-mode': 'type=read-only' });
    assert.equal(ro.status, 200, JSON.stringify(ro.body));
    await waitFor(actor('datastore:fresh')!, (s) => s.value === 'readOnly');
    const shown = await call<Record<string, unknown>>(as.admin, 'GET', '/config/datastore/fresh');
    assert.equal(shown.body.data!['maintenance-mode'], 'type=read-only');
    const gc = await call(as.admin, 'POST', '/admin/datastore/fresh/gc');
    assert.equal(gc.status, 503, 'a read-only store takes no GC');

    assert.equal((await call(as.admin, 'PUT', '/config/datastore/fresh', { 'maintenance-mode': 'offline' })).status, 200);
    await waitFor(actor('datastore:fresh')!, (s) => s.value === 'offline');
    assert.equal((await call(as.admin, 'PUT', '/config/datastore/fresh', { delete: 'maintenance-mode,comment' })).status, 200);
    await waitFor(actor('datastore:fresh')!, (s) => s.value === 'online');
    const back = await call<Record<string, unknown>>(as.admin, 'GET', '/config/datastore/fresh');
    assert.equal(back.body.data!['maintenance-mode'], undefined);
    assert.equal(back.body.data!.comment, undefined);

    for (const mode of ['type=sleepy', 'type=offline,message=backup', 'type=delete']) {
      const bad = await call(as.admin, 'PUT', '/config/datastore/fresh', { 'maintenance-mode': mode });
      assert.equal(bad.status, 400, mode);
      assert.equal(bad.body.code, 'BULWARK_INVALID_ARGUMENT');
      assert.match(bad.body.message!, /maintenance-mode/);
    }
  });

  test('a stale digest is refused with 409 and leaves the file as it was', async () => {
    const { digest } = (await call(as.admin, 'GET', '/config/datastore/fresh')).body as { digest: string };
    assert.equal((await call(as.admin, 'PUT', '/config/datastore/fresh', { comment: 'first', digest })).status, 200);
    const bytes = readFileSync(authDir.paths.datastoreConfig, 'utf8');
    const stale = await call(as.admin, 'PUT', '/config/datastore/fresh', { comment: 'second', digest });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.code, 'BULWARK_CONFIG_DIGEST');
    assert.equal(readFileSync(authDir.paths.datastoreConfig, 'utf8'), bytes);
  });

  test('DELETE with destroy-data removes entry, jobs and data as a task and stops the actor', async () => {
    const job = await call(as.admin, 'POST', '/config/prune', { id: 'fresh-daily', store: 'fresh', schedule: 'daily', 'keep-last': 2 });
    assert.equal(job.status, 200, JSON.stringify(job.body));
    const r = await call<string>(as.admin, 'DELETE', '/config/datastore/fresh?destroy-data=1');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(r.body.data!, /:delete-datastore:fresh:admin@pbs!t:$/);
    assert.equal(actor('datastore:fresh'), undefined, 'the actor is stopped');
    await storeTasks.idle();
    assert.equal(await taskEnd(r.body.data!), 'OK');
    assert.equal(existsSync(path), false);
    assert.equal((await call(as.admin, 'GET', '/config/datastore/fresh')).status, 404);
    assert.deepEqual((await call(as.admin, 'GET', '/config/prune')).body.data, [], 'its prune jobs went with it');
    assert.equal((await call(as.admin, 'POST', '/admin/datastore/fresh/gc')).status, 404);
    assert.equal((await call(as.admin, 'DELETE', '/config/datastore/fresh')).status, 404);
  });
});

describe('/config/prune, /config/verify, /config/sync', () => {
  test('prune job CRUD with typed values, delete list and digest', async () => {
    assert.equal((await apiCall(port, 'POST', '/config/prune', { headers: as.admin, form: { id: 'p1', store: 'store1', schedule: 'daily', 'keep-last': 3, disable: 0 } })).status, 200);
    const read = await call<Record<string, unknown>>(as.op, 'GET', '/config/prune/p1');
    assert.deepEqual(read.body.data, { id: 'p1', store: 'store1', schedule: 'daily', 'keep-last': 3, disable: false });
    const { digest } = read.body as { digest: string };
    assert.equal((await call(as.op, 'PUT', '/config/prune/p1', { 'keep-daily': 7, delete: 'keep-last', digest })).status, 200);
    const updated = await call<Record<string, unknown>>(as.admin, 'GET', '/config/prune');
    assert.deepEqual(updated.body.data, [{ id: 'p1', store: 'store1', schedule: 'daily', 'keep-daily': 7, disable: false }]);
    const bytes = readFileSync(authDir.paths.pruneJobs, 'utf8');
    const stale = await call(as.op, 'PUT', '/config/prune/p1', { 'keep-daily': 1, digest });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.code, 'BULWARK_CONFIG_DIGEST');
    assert.equal(readFileSync(authDir.paths.pruneJobs, 'utf8'), bytes);
    const dup = await call(as.admin, 'POST', '/config/prune', { id: 'p1', store: 'store1', schedule: 'weekly' });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.code, 'BULWARK_ALREADY_EXISTS');
    assert.equal((await call(as.op, 'DELETE', '/config/prune/p1')).status, 200);
    assert.equal((await call(as.admin, 'GET', '/config/prune/p1')).status, 404);
  });

  test('verify job CRUD', async () => {
    assert.equal((await call(as.op, 'POST', '/config/verify', { id: 'v1', store: 'store1', 'ignore-verified': false, 'outdated-after': 30 })).status, 200);
    assert.equal((await call(as.op, 'PUT', '/config/verify/v1', { schedule: 'sat 03:00', ns: 'team/a', 'max-depth': 2 })).status, 200);
    const read = await call<Record<string, unknown>>(as.auditor, 'GET', '/config/verify/v1');
    assert.deepEqual(read.body.data, { id: 'v1', store: 'store1', ns: 'team/a', 'max-depth': 2, schedule: 'sat 03:00', 'ignore-verified': false, 'outdated-after': 30 });
    assert.equal((await call(as.op, 'PUT', '/config/verify/v1', { delete: ['ns', 'max-depth'] })).status, 200);
    assert.equal((await call<Record<string, unknown>>(as.op, 'GET', '/config/verify/v1')).body.data!.ns, undefined);
    assert.equal((await call(as.op, 'DELETE', '/config/verify/v1')).status, 200);
    assert.deepEqual((await call(as.op, 'GET', '/config/verify')).body.data, []);
  });

  test('sync job CRUD: lists and rates in PBS form, repeated form values, remote in use cannot go', async () => {
    const created = await call(as.admin, 'POST', '/config/sync', {
      id: 's1', store: 'store1', remote: 'origin', 'remote-store': 'main', 'remote-ns': 'prod', 'max-depth': 3,
      'group-filter': ['type:vm', 'include:group:ct/100', 'exclude:regex:^host/test'], 'rate-in': '10MiB', 'remove-vanished': true, schedule: 'hourly',
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const read = await call<Record<string, unknown>>(as.admin, 'GET', '/config/sync/s1');
    assert.deepEqual(read.body.data, {
      id: 's1', store: 'store1', 'max-depth': 3, remote: 'origin', 'remote-store': 'main', 'remote-ns': 'prod',
      'remove-vanished': true, schedule: 'hourly', 'group-filter': ['type:vm', 'group:ct/100', 'exclude:regex:^host/test'], 'rate-in': '10 MiB',
    });
    const put = await apiCall(port, 'PUT', '/config/sync/s1?group-filter=type:host&group-filter=regex:%5Eweb', { headers: as.admin, form: { 'burst-in': '1.5GB', delete: 'rate-in' } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const after = await call<Record<string, unknown>>(as.admin, 'GET', '/config/sync/s1');
    assert.deepEqual(after.body.data!['group-filter'], ['type:host', 'regex:^web']);
    assert.equal(after.body.data!['burst-in'], '1.5 GB');
    assert.equal(after.body.data!['rate-in'], undefined);

    assert.equal((await call(as.auditor, 'GET', '/config/sync/s1')).status, 403, 'reading needs Remote.Audit too');
    assert.equal((await call<unknown[]>(as.op, 'GET', '/config/sync')).body.data!.length, 1);
    const inUse = await call(as.admin, 'DELETE', '/config/remote/origin');
    assert.equal(inUse.status, 400);
    assert.match(inUse.body.message!, /sync job "s1"/);
    assert.equal((await call(as.admin, 'DELETE', '/config/sync/s1')).status, 200);
    assert.equal((await call(as.admin, 'GET', '/config/sync/s1')).status, 404);
  });
});

describe('/config/remote and /config/traffic-control', () => {
  test('remote CRUD: the password is stored apart (0600) and never returned', async () => {
    const form = { name: 'far', host: '2001:db8::7', port: 8007, 'auth-id': 'pull@pbs', password: 'hunter2-secret', fingerprint: FINGERPRINT, comment: 'DR site' };
    assert.equal((await apiCall(port, 'POST', '/config/remote', { headers: as.admin, form })).status, 200);
    const one = await call(as.admin, 'GET', '/config/remote/far');
    const list = await call(as.op, 'GET', '/config/remote');
    assert.deepEqual(one.body.data, { name: 'far', host: '2001:db8::7', port: 8007, 'auth-id': 'pull@pbs', fingerprint: FINGERPRINT, comment: 'DR site' });
    assert.deepEqual((list.body.data as { name: string }[]).map((r) => r.name).sort(), ['far', 'origin']);
    for (const reply of [one, list]) assert.doesNotMatch(JSON.stringify(reply.body), /secret/);
    assert.doesNotMatch(readFileSync(authDir.paths.remoteConfig, 'utf8'), /secret/);
    assert.match(readFileSync(authDir.paths.remoteShadow, 'utf8'), /hunter2-secret/);
    assert.equal(statSync(authDir.paths.remoteShadow).mode & 0o777, 0o600);

    assert.equal((await call(as.admin, 'PUT', '/config/remote/far', { password: 'changed-secret', delete: 'port,fingerprint' })).status, 200);
    const changed = await call(as.admin, 'GET', '/config/remote/far');
    assert.deepEqual(changed.body.data, { name: 'far', host: '2001:db8::7', 'auth-id': 'pull@pbs', comment: 'DR site' });
    assert.match(readFileSync(authDir.paths.remoteShadow, 'utf8'), /changed-secret/);

    const bytes = [readFileSync(authDir.paths.remoteConfig, 'utf8'), readFileSync(authDir.paths.remoteShadow, 'utf8')];
    const stale = await call(as.admin, 'PUT', '/config/remote/far', { password: 'never-stored', digest: '0'.repeat(64) });
    assert.equal(stale.status, 409);
    assert.deepEqual([readFileSync(authDir.paths.remoteConfig, 'utf8'), readFileSync(authDir.paths.remoteShadow, 'utf8')], bytes, 'neither file changed');

    assert.equal((await call(as.admin, 'DELETE', '/config/remote/far')).status, 200);
    assert.doesNotMatch(readFileSync(authDir.paths.remoteShadow, 'utf8'), /changed-secret/);
    assert.equal((await call(as.admin, 'GET', '/config/remote/far')).status, 404);
  });

  test('traffic-control CRUD: CIDR list, rates, time frames; Sys.Modify to list, Sys.Audit to read', async () => {
    const r = await call(as.admin, 'POST', '/config/traffic-control', { name: 'office', network: '10.0.0.0/8, fd00::/8', 'rate-in': '100MB', 'rate-out': 2000000, timeframe: ['mon..fri 8:00-18:00', 'sat 9-12'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const read = await call(as.auditor, 'GET', '/config/traffic-control/office');
    assert.deepEqual(read.body.data, { name: 'office', network: ['10.0.0.0/8', 'fd00::/8'], 'rate-in': '100 MB', 'rate-out': '2000000 B', timeframe: ['mon..fri 8:00-18:00', 'sat 9-12'] });
    assert.equal((await call(as.admin, 'PUT', '/config/traffic-control/office', { delete: 'timeframe', 'burst-in': '1GiB' })).status, 200);
    const list = await call<Record<string, unknown>[]>(as.admin, 'GET', '/config/traffic-control');
    assert.equal(list.body.data![0]!['burst-in'], '1 GiB');
    assert.equal(list.body.data![0]!.timeframe, undefined);
    assert.equal((await call(as.admin, 'DELETE', '/config/traffic-control/office')).status, 200);
    assert.deepEqual((await call(as.admin, 'GET', '/config/traffic-control')).body.data, []);
  });
});

describe('refusals', () => {
  test('bad inputs: 400 naming the parameter, nothing written, no task started', async () => {
    const nonEmpty = join(dir, 'not-empty');
    mkdirSync(nonEmpty);
    writeFileSync(join(nonEmpty, 'somebody.txt'), 'x');
    assert.equal((await call(as.admin, 'POST', '/config/prune', { id: 'keep', store: 'store1', schedule: 'daily' })).status, 200);
    const files = etcSnapshot();
    const tasks = (await system.tasks.list({ limit: 0 })).tasks.length;
    const cases: [string, string, Record<string, unknown>, string][] = [
      ['POST', '/config/datastore', { name: 'bad name', path: join(dir, 'x1') }, 'name'],
      ['POST', '/config/datastore', { name: 'x1', path: 'relative/dir' }, 'path'],
      ['POST', '/config/datastore', { name: 'x1', path: nonEmpty }, 'path'],
      ['POST', '/config/datastore', { name: 'x1', path: join(nonEmpty, 'somebody.txt', 'store') }, 'path'],
      ['POST', '/config/datastore', { name: 'x1', path: join(dir, 'x1'), 'gc-schedule': 'when pigs fly' }, 'gc-schedule'],
      ['POST', '/config/datastore', { name: 'x1', path: join(dir, 'x1'), 'verify-new': true }, 'verify-new'],
      ['PUT', '/config/datastore/store1', { 'keep-last': 3 }, 'keep-last'],
      ['PUT', '/config/datastore/store1', { delete: 'path' }, 'delete'],
      ['PUT', '/config/datastore/store1', { comment: 'x', digest: 'abc' }, 'digest'],
      ['POST', '/config/prune', { id: 'p2', store: 'store1', schedule: 'daily', 'keep-last': 'x' }, 'keep-last'],
      ['POST', '/config/prune', { id: 'p2', store: 'store1', schedule: 'daily', 'keep-dayly': 3 }, 'keep-dayly'],
      ['POST', '/config/prune', { id: 'p2', store: 'nostore', schedule: 'daily' }, 'store'],
      ['PUT', '/config/prune/keep', { delete: 'schedule' }, 'delete'],
      ['POST', '/config/verify', { id: 'v2', store: 'store1', 'max-depth': 9 }, 'max-depth'],
      ['POST', '/config/sync', { id: 's2', store: 'store1', 'remote-store': 'store1' }, 'remote-store'],
      ['POST', '/config/sync', { id: 's2', store: 'store1', remote: 'origin', 'remote-store': 'main', 'group-filter': 'type:disk' }, 'group-filter'],
      ['POST', '/config/sync', { id: 's2', store: 'store1', remote: 'nowhere', 'remote-store': 'main' }, 'remote'],
      ['POST', '/config/sync', { id: 's2', store: 'store1', remote: 'origin', 'remote-store': 'main', 'rate-in': 'fast' }, 'rate-in'],
      ['POST', '/config/remote', { name: 'rem2', host: 'bad host', 'auth-id': 'x@pbs', password: 'p' }, 'host'],
      ['POST', '/config/remote', { name: 'rem2', host: 'h.example', 'auth-id': 'nouser', password: 'p' }, 'auth-id'],
      ['POST', '/config/remote', { name: 'rem2', host: 'h.example', 'auth-id': 'x@pbs' }, 'password'],
      ['POST', '/config/remote', { name: 'rem2', host: 'h.example', 'auth-id': 'x@pbs', password: 'p', fingerprint: 'ab:cd' }, 'fingerprint'],
      ['POST', '/config/traffic-control', { name: 'tc2', network: '10.0.0.0/33' }, 'network'],
      ['POST', '/config/traffic-control', { name: 'tc2', network: '10.0.0.0/8', timeframe: '18:00-8:00' }, 'timeframe'],
      ['POST', '/config/traffic-control', { name: 'tc2', network: '10.0.0.0/8', 'rate-in': '-5' }, 'rate-in'],
    ];
    for (const [method, path, body, param] of cases) {
      const r = await call(as.admin, method, path, body);
      const what = `${method} ${path} ${JSON.stringify(body)}`;
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 'BULWARK_INVALID_ARGUMENT', what);
      assert.ok(r.body.message!.includes(param), `${what}: ${r.body.message}`);
    }
    const badSchedule = await call(as.admin, 'POST', '/config/prune', { id: 'p2', store: 'store1', schedule: 'every full moon' });
    assert.equal(badSchedule.status, 400);
    assert.equal(badSchedule.body.code, 'BULWARK_BAD_SCHEDULE');
    assert.deepEqual(etcSnapshot(), files);
    assert.equal((await system.tasks.list({ limit: 0 })).tasks.length, tasks);
  });

  test('privileges: 403 naming the missing privilege; no credentials 401; a ticket write without CSRF token 401', async () => {
    const cases: [Record<string, string>, string, string, Record<string, unknown> | undefined, string][] = [
      [as.op, 'POST', '/config/datastore', { name: 'mine', path: join(dir, 'mine') }, 'Datastore.Allocate'],
      [as.op, 'DELETE', '/config/datastore/store1', undefined, 'Datastore.Allocate'],
      [as.auditor, 'PUT', '/config/datastore/store1', { comment: 'x' }, 'Datastore.Modify'],
      [as.op, 'GET', '/config/datastore/other', undefined, 'Datastore.Audit'],
      [as.auditor, 'POST', '/config/prune', { id: 'p3', store: 'store1', schedule: 'daily' }, 'Datastore.Modify'],
      [as.auditor, 'POST', '/config/verify', { id: 'v3', store: 'store1' }, 'Datastore.Verify'],
      [as.auditor, 'POST', '/config/sync', { id: 's3', store: 'store1', remote: 'origin', 'remote-store': 'main' }, 'Datastore.Backup'],
      [as.op, 'POST', '/config/sync', { id: 's3', store: 'store1', remote: 'origin', 'remote-store': 'main' }, 'Remote.Read'],
      [as.op, 'POST', '/config/remote', { name: 'rem3', host: 'h.example', 'auth-id': 'x@pbs', password: 'p' }, 'Remote.Modify'],
      [as.auditor, 'GET', '/config/remote/origin', undefined, 'Remote.Audit'],
      [as.op, 'GET', '/config/traffic-control', undefined, 'Sys.Modify'],
      [as.op, 'GET', '/config/traffic-control/office', undefined, 'Sys.Audit'],
    ];
    const files = etcSnapshot();
    for (const [who, method, path, body, privilege] of cases) {
      const r = await call(who, method, path, body);
      assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 'BULWARK_FORBIDDEN');
      assert.ok(r.body.message!.includes(privilege), `${method} ${path}: ${r.body.message}`);
    }
    assert.deepEqual(etcSnapshot(), files);
    assert.equal((await call({}, 'GET', '/config/datastore')).status, 401);
    const login = await apiCall<{ ticket: string; CSRFPreventionToken: string }>(port, 'POST', '/access/ticket', { form: { username: 'admin@pbs', password: PASSWORD } });
    const cookie = `PBSAuthCookie=${enc(login.body.data!.ticket)}`;
    const noCsrf = await call({ cookie }, 'POST', '/config/traffic-control', { name: 'tc4', network: '10.0.0.0/8' });
    assert.equal(noCsrf.status, 401);
    const withCsrf = await call({ cookie, csrfpreventiontoken: login.body.data!.CSRFPreventionToken }, 'POST', '/config/traffic-control', { name: 'tc4', network: '10.0.0.0/8' });
    assert.equal(withCsrf.status, 200);
  });
});
