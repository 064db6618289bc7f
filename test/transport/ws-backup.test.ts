/**
 * End to end: a real uWS server (transport/server.ts) over a real actor
 * system and temp datastores, the real AuthService over a temp config dir,
 * and clients speaking the WebSocket protocols (test/helpers/ws-session-client.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { waitFor, type AnyActorRef } from 'xstate';
import { startServerSystem, type ServerSystem } from '../../actors/server-system.ts';
import type { RootActor } from '../../actors/system.ts';
import { configPaths } from '../../config/paths.ts';
import { AuthService } from '../../auth/auth-service.ts';
import { createToken } from '../../auth/tokens.ts';
import { ensureSelfSignedCertificate } from '../../config/tls.ts';
import { encodeBlob } from '../../datastore/blob.ts';
import { decodeManifestBlob } from '../../datastore/manifest.ts';
import { encodeFrame } from '../../transport/frame-codec.ts';
import { startHttpServer, type HttpServer } from '../../transport/server.ts';
import { addAcl, addUser, makeAuthDir, type AuthDir } from '../helpers/auth-fixtures.ts';
import { makeChunk, sparseStoreDir, type TestChunk } from '../helpers/chunk-fixtures.ts';
import { pbsDynamicCsum } from '../helpers/index-fixtures.ts';
import { connectSession, UpgradeRefused, type SessionClient } from '../helpers/ws-session-client.ts';

const CREDIT = 1 << 20;
let dir: string;
let authDir: AuthDir;
let root: RootActor;
let serverSystem: ServerSystem | undefined;
let server: HttpServer;
let token: Record<string, string>;
let noPrivToken: Record<string, string>;
let bobToken: Record<string, string>;
let storePath: string;
// Backup times must grow per group and stay within 5 min of the server clock.
let clock = Math.floor(Date.now() / 1000) - 3600;
const nextTime = () => ++clock;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bulwark-ws-'));
  // Sparse stores (no 65536 prefix dirs, which cost seconds to create); the chunk backend makes them on demand.
  storePath = sparseStoreDir(dir, 'store1');
  const roPath = sparseStoreDir(dir, 'ro');
  authDir = makeAuthDir();
  addUser(authDir.paths, { userid: 'alice@pbs' });
  const backup = createToken(authDir.paths, 'alice@pbs', 'backup');
  const nopriv = createToken(authDir.paths, 'alice@pbs', 'nopriv');
  addUser(authDir.paths, { userid: 'bob@pbs' });
  const bob = createToken(authDir.paths, 'bob@pbs', 'b');
  addAcl(authDir.paths, [
    { path: '/datastore', ugid: 'alice@pbs', roleid: 'DatastoreAdmin', propagate: true },
    { path: '/datastore', ugid: backup.tokenid, roleid: 'DatastoreAdmin', propagate: true },
    // Backup only: bob may read back only the groups he owns.
    { path: '/datastore', ugid: 'bob@pbs', roleid: 'DatastoreBackup', propagate: true },
    { path: '/datastore', ugid: bob.tokenid, roleid: 'DatastoreBackup', propagate: true },
  ]);
  bobToken = { authorization: `PBSAPIToken=${bob.tokenid}:${bob.value}` };
  token = { authorization: `PBSAPIToken=${backup.tokenid}:${backup.value}` };
  noPrivToken = { authorization: `PBSAPIToken=${nopriv.tokenid}:${nopriv.value}` };

  serverSystem = await startServerSystem({
    paths: configPaths(join(dir, 'data')),
    log: pino({ level: 'silent' }),
    config: {
      datastoresDigest: 'x',
      datastores: {
        store1: { name: 'store1', path: storePath },
        ro: { name: 'ro', path: roPath, 'maintenance-mode': 'read-only' },
      },
    },
  });
  root = serverSystem.root;
  await waitFor(root.system.get('datastore:store1') as AnyActorRef, (s) => s.value === 'online');
  await waitFor(root.system.get('datastore:ro') as AnyActorRef, (s) => s.value === 'readOnly');
  const tls = { keyFile: join(dir, 'proxy.key'), certFile: join(dir, 'proxy.pem') };
  await ensureSelfSignedCertificate(tls);
  server = await startHttpServer({
    host: '127.0.0.1', port: 0, ...tls, log: pino({ level: 'silent' }),
    system: root.system, auth: new AuthService(authDir.paths), paths: authDir.paths, sessionLimits: { credit: CREDIT },
  });
});

after(async () => {
  server?.close();
  await serverSystem?.close();
  authDir?.remove();
  rmSync(dir, { recursive: true, force: true });
});

const target = (id: string, time = nextTime(), store = 'store1') => ({ store, 'backup-type': 'host', 'backup-id': id, 'backup-time': time });
const backup = (q: Record<string, string | number>, headers = token) => connectSession(server.port, '/api2/ws/backup', q, headers);
const reader = (q: Record<string, string | number>, headers = token) => connectSession(server.port, '/api2/ws/reader', q, headers);
const snapshotDir = (id: string, time: number) => join(storePath, 'host', id, new Date(time * 1000).toISOString().replace('.000Z', 'Z'));
const sessionCount = () => Object.keys((root.system.get('sessions') as AnyActorRef).getSnapshot().context.sessions).length;

async function refused(p: Promise<unknown>): Promise<UpgradeRefused> {
  const err = await p.then(() => assert.fail('upgrade should have been refused'), (e: unknown) => e);
  assert.ok(err instanceof UpgradeRefused, String(err));
  return err;
}

/** Uploads `chunks` into a new dynamic index, pipelined, and closes it. */
async function uploadIndex(s: SessionClient, name: string, chunks: TestChunk[], firstId: number): Promise<number> {
  let id = firstId;
  const created = await s.request({ id: id++, op: 'create-index', kind: 'dynamic', name });
  const wid = created.ok!.wid as number;
  const uploads = chunks.map((c) => s.request({ id: id++, op: 'chunk', wid, digest: c.digest, size: c.data.length, data: c.blob }));
  let end = 0;
  const entries = chunks.map((c) => ({ end: (end += c.data.length), digest: c.digest }));
  const append = s.request({ id: id++, op: 'append', wid, digests: Buffer.concat(chunks.map((c) => c.digest)), offsets: entries.map((e) => e.end) });
  const close = s.request({ id: id++, op: 'close-index', wid, count: chunks.length, size: end, csum: pbsDynamicCsum(entries) });
  for (const r of [...(await Promise.all(uploads)), await append, await close]) assert.equal(r.error, undefined, JSON.stringify(r.error));
  return id;
}

/** The newest task of `type` and `user`, once the sessions supervisor has no session left (its end is recorded by then). */
async function lastTask(type: string): Promise<{ upid: string; status: string; exitstatus?: string }> {
  await waitFor(root.system.get('sessions') as AnyActorRef, () => sessionCount() === 0);
  const list = await serverSystem!.tasks.list({ type, limit: 1 });
  return list.tasks[0]!;
}

describe('sessions are tasks', () => {
  test('a finished backup and a reader each leave a task that ended OK; an aborted backup one that ended in error', async () => {
    const time = nextTime();
    const s = await backup(target('task1', time));
    let id = await uploadIndex(s, 'root.pxar.didx', [makeChunk(71, 3000)], 1);
    await s.request({ id: id++, op: 'finish' });
    await s.closed;
    const done = await lastTask('backup');
    assert.equal(done.exitstatus, 'OK');
    assert.match(done.upid, /:backup:store1\\x3ahost-task1:/);
    const log = (await serverSystem!.tasks.readLog(done.upid, { limit: 0 })).lines.map((l) => l.t).join('\n');
    assert.match(log, /starting backup to store1:host\/task1\//);
    assert.match(log, /backup finished/);

    const r = await reader(target('task1', time));
    await r.request({ id: 1, op: 'manifest' });
    r.close();
    await r.closed;
    assert.equal((await lastTask('reader')).exitstatus, 'OK');

    const bad = await backup(target('task1', nextTime()));
    bad.sendRaw(Buffer.from([0xc1, 0xc1, 0xc1]));
    await bad.aborted();
    const failed = await lastTask('backup');
    assert.match(failed.exitstatus!, /backup failed/);
  });

  test("aborting a running backup's task stops the session: the client is told, the snapshot removed", async () => {
    const time = nextTime();
    const s = await backup(target('task2', time));
    await s.request({ id: 1, op: 'create-index', kind: 'dynamic', name: 'root.pxar.didx' });
    const running = (await serverSystem!.tasks.list({ type: 'backup', running: true })).tasks;
    assert.equal(running.length, 1);
    assert.equal(serverSystem!.jobs.abort(running[0]!.upid), true);
    const notice = await s.aborted();
    assert.equal(notice.code, 'BULWARK_SESSION_ABORTED');
    assert.match(notice.message, /aborted by request/);
    const task = await lastTask('backup');
    assert.equal(task.exitstatus, 'abort requested - aborting task', 'the task ends aborted, not in error');
    assert.equal(task.status, 'aborted');
    assert.equal(existsSync(snapshotDir('task2', time)), false);
  });
});

describe('backup and reader sessions over WebSocket', () => {
  const chunks = [makeChunk(1, 3000), makeChunk(2, 5000), makeChunk(3, 7000)];
  const catalog = encodeBlob(Buffer.from('catalog data'));
  const firstTime = nextTime();

  test('a full backup (dynamic index with 3 chunks, a blob, finish) reads back byte for byte', async () => {
    const s = await backup(target('web1', firstTime));
    assert.deepEqual(s.hello, { op: 'hello', credits: CREDIT, 'max-chunk-size': 16 << 20, previous: null });
    let id = await uploadIndex(s, 'root.pxar.didx', chunks, 1);
    assert.deepEqual((await s.request({ id: id++, op: 'blob', name: 'catalog.blob', data: catalog })).ok, {});
    assert.deepEqual(await s.request({ id: id++, op: 'finish' }), { id: id - 1, ok: {} });
    assert.equal(await s.closed, 1000);
    const bytes = chunks.reduce((n, c) => n + c.blob.length, 0) + catalog.length;
    assert.equal(s.notices.filter((n) => n.op === 'credit').reduce((n, c) => n + (c.bytes as number), 0), bytes, 'all credit granted back');

    const r = await reader(target('web1', firstTime));
    const manifest = decodeManifestBlob((await r.request({ id: 1, op: 'manifest' })).ok!.data as Buffer, 'manifest');
    assert.deepEqual(manifest.files.map((f) => f.filename).sort(), ['catalog.blob', 'root.pxar.didx']);
    assert.equal((await r.request({ id: 2, op: 'chunk', digest: chunks[0]!.digest })).error?.code, 'BULWARK_NOT_FOUND', 'no chunk before its index');
    assert.ok(((await r.request({ id: 3, op: 'index', name: 'root.pxar.didx' })).ok!.data as Buffer).length > 4096);
    const got = await Promise.all(chunks.map((c, i) => r.request({ id: 10 + i, op: 'chunk', digest: c.digest })));
    got.forEach((g, i) => assert.deepEqual(g.ok!.data, chunks[i]!.blob));
    assert.deepEqual((await r.request({ id: 4, op: 'blob', name: 'catalog.blob' })).ok!.data, catalog);
    r.close();
    await r.closed;
  });

  test('a second backup of the group sees the first as previous and may reuse its chunks', async () => {
    const s = await backup(target('web1'));
    assert.deepEqual(s.hello.previous, { 'backup-time': firstTime });
    const prev = await s.request({ id: 1, op: 'previous', name: 'root.pxar.didx' });
    assert.ok((prev.ok!.data as Buffer).length > 4096);
    const created = await s.request({ id: 2, op: 'create-index', kind: 'dynamic', name: 'root.pxar.didx' });
    const wid = created.ok!.wid as number;
    const entries = [{ end: chunks[0]!.data.length, digest: chunks[0]!.digest }];
    assert.equal((await s.request({ id: 3, op: 'append', wid, digests: chunks[0]!.digest, offsets: [entries[0]!.end] })).error, undefined);
    assert.equal((await s.request({ id: 4, op: 'close-index', wid, count: 1, size: entries[0]!.end, csum: pbsDynamicCsum(entries) })).error, undefined);
    assert.deepEqual((await s.request({ id: 5, op: 'finish' })).ok, {});
    await s.closed;
  });

  test('bad input aborts only its own session: other sessions go on, earlier snapshots stay', async () => {
    const bystander = await backup(target('bystander'));
    let bid = 1;
    const big = makeChunk(9, CREDIT + 1, { compress: false, noise: true });
    const other = makeChunk(8, 100);
    const cases: [string, (s: SessionClient) => void | Promise<unknown>, string][] = [
      ['malformed frame', (s) => s.sendRaw(Buffer.from([0x93, 1, 2])), 'BULWARK_PROTOCOL'],
      ['not msgpack', (s) => s.sendRaw(Buffer.from([0x82, 0xa2])), 'BULWARK_PROTOCOL'],
      ['oversized chunk', async (s) => {
        const wid = (await s.request({ id: 1, op: 'create-index', kind: 'dynamic', name: 'a.didx' })).ok!.wid;
        s.sendRaw(encodeFrame({ id: 2, op: 'chunk', wid, digest: chunks[0]!.digest, size: 1, data: Buffer.alloc((16 << 20) + 45) }));
      }, 'BULWARK_CHUNK_TOO_LARGE'],
      ['digest mismatch', async (s) => {
        const wid = (await s.request({ id: 1, op: 'create-index', kind: 'dynamic', name: 'a.didx' })).ok!.wid;
        const r = await s.request({ id: 2, op: 'chunk', wid, digest: other.digest, size: chunks[0]!.data.length, data: chunks[0]!.blob });
        assert.equal(r.error?.code, 'BULWARK_DIGEST_MISMATCH');
      }, 'BULWARK_DIGEST_MISMATCH'],
      ['append of an unknown digest', async (s) => {
        const wid = (await s.request({ id: 1, op: 'create-index', kind: 'dynamic', name: 'a.didx' })).ok!.wid;
        const r = await s.request({ id: 2, op: 'append', wid, digests: other.digest, offsets: [100] });
        assert.equal(r.error?.code, 'BULWARK_UNKNOWN_CHUNK');
      }, 'BULWARK_UNKNOWN_CHUNK'],
      ['credit overrun', async (s) => {
        const wid = (await s.request({ id: 1, op: 'create-index', kind: 'dynamic', name: 'a.didx' })).ok!.wid;
        s.sendRaw(encodeFrame({ id: 2, op: 'chunk', wid, digest: big.digest, size: big.data.length, data: big.blob }));
      }, 'BULWARK_CREDIT_OVERRUN'],
    ];
    for (const [i, [name, act, code]] of cases.entries()) {
      const time = nextTime();
      const s = await backup(target(`bad${i}`, time));
      assert.ok(existsSync(snapshotDir(`bad${i}`, time)), `${name}: snapshot dir made at the upgrade`);
      await act(s);
      assert.equal((await s.aborted()).code, code, name);
      await waitFor(root.system.get('sessions') as AnyActorRef, () => sessionCount() === 1);
      assert.equal(existsSync(snapshotDir(`bad${i}`, time)), false, `${name}: unfinished snapshot removed`);
      const alive = await bystander.request({ id: bid++, op: 'resume' });
      assert.deepEqual(alive.ok, { digests: Buffer.alloc(0) }, `${name}: the other session carries on`);
    }
    assert.ok(existsSync(join(snapshotDir('web1', firstTime), 'index.json.blob')), 'the finished snapshot is untouched');
    bystander.close();
    await bystander.closed;
  });

  test('a client that disconnects mid-backup leaves no snapshot, and the re-run resumes its chunks', async () => {
    const time = nextTime();
    const c = makeChunk(20, 2000);
    const s = await backup(target('resumed', time));
    const wid = (await s.request({ id: 1, op: 'create-index', kind: 'dynamic', name: 'a.didx' })).ok!.wid;
    assert.deepEqual((await s.request({ id: 2, op: 'chunk', wid, digest: c.digest, size: c.data.length, data: c.blob })).ok, { existed: false });
    s.close();
    await s.closed;
    await waitFor(root.system.get('sessions') as AnyActorRef, () => sessionCount() === 0);
    assert.equal(existsSync(snapshotDir('resumed', time)), false);
    const again = await backup(target('resumed'));
    assert.deepEqual((await again.request({ id: 1, op: 'resume' })).ok, { digests: c.digest });
    again.close();
    await again.closed;
  });

  test('with Datastore.Backup alone, a client reads back only the groups it owns', async () => {
    const time = nextTime();
    const s = await backup(target('bobs', time), bobToken);
    const id = await uploadIndex(s, 'root.pxar.didx', chunks.slice(0, 1), 1);
    assert.deepEqual((await s.request({ id, op: 'finish' })).ok, {});
    await s.closed;
    const own = await reader(target('bobs', time), bobToken);
    assert.ok((await own.request({ id: 1, op: 'manifest' })).ok!.data);
    own.close();
    await own.closed;
    const e = await refused(reader(target('web1', firstTime), bobToken));
    assert.deepEqual([e.status, e.body.code], [403, 'BULWARK_OWNER_MISMATCH']);
  });

  test('refused upgrades are HTTP errors in the API shape', async () => {
    let e = await refused(backup(target('x'), {}));
    assert.equal(e.status, 401);
    assert.equal(e.body.code, 'BULWARK_UNAUTHORIZED');
    e = await refused(backup(target('x'), { authorization: `${token.authorization}x` }));
    assert.equal(e.status, 401);
    e = await refused(backup(target('x'), noPrivToken));
    assert.deepEqual([e.status, e.body.code], [403, 'BULWARK_FORBIDDEN']);
    e = await refused(reader(target('web1', firstTime), noPrivToken));
    assert.equal(e.status, 403);
    e = await refused(backup({ store: 'store1', 'backup-type': 'host', 'backup-time': nextTime() }));
    assert.deepEqual([e.status, e.body.code], [400, 'BULWARK_INVALID_ARGUMENT']);
    e = await refused(backup(target('x', nextTime(), 'nostore')));
    assert.deepEqual([e.status, e.body.code], [404, 'BULWARK_NOT_FOUND']);
    e = await refused(backup(target('x', nextTime(), 'ro')));
    assert.deepEqual([e.status, e.body.code], [503, 'BULWARK_DATASTORE_UNAVAILABLE']);
    assert.match(e.body.message!, /datastore ro is in read-only maintenance mode: backups are not possible/);
    e = await refused(backup(target('x', Math.floor(Date.now() / 1000) + 3600)));
    assert.deepEqual([e.status, e.body.code], [400, 'BULWARK_BACKUP_TIME_FUTURE']);
    e = await refused(reader(target('web1', firstTime + 100000)));
    assert.equal(e.status, 404);
  });

  test('a second concurrent backup of the same group gets 409 and the first one goes on', async () => {
    const first = await backup(target('locked'));
    const e = await refused(backup(target('locked')));
    assert.deepEqual([e.status, e.body.code], [409, 'BULWARK_LOCKED']);
    assert.ok((await first.request({ id: 1, op: 'resume' })).ok);
    first.close();
    await first.closed;
  });
});
