import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { waitFor, type AnyActorRef } from 'xstate';
import { startServerSystem, type ServerSystem } from '../../actors/server-system.ts';
import { AuthService } from '../../auth/auth-service.ts';
import { createToken } from '../../auth/tokens.ts';
import { configPaths } from '../../config/paths.ts';
import { BackupDir, BackupGroup, BackupNamespace } from '../../datastore/backup-ref.ts';
import { generateKey } from '../../datastore/crypt-key.ts';
import { readNotes, readOwner } from '../../datastore/group-meta.ts';
import { manifestPath, snapshotPath } from '../../datastore/layout.ts';
import { lockSnapshot } from '../../datastore/locks.ts';
import { readManifest, signManifest, verifyManifestSignature, writeManifest } from '../../datastore/manifest.ts';
import { createNamespace } from '../../datastore/snapshots.ts';
import { datastoreAdminRoutes } from '../../transport/routes/datastore-admin.ts';
import { datastoreContentRoutes } from '../../transport/routes/datastore-content.ts';
import { addAcl, addUser, makeAuthDir, PASSWORD, type AuthDir } from '../helpers/auth-fixtures.ts';
import { backupStore, dynamicPlan, writeArchive, NOW_S, OTHER_OWNER, OWNER, type BackupStoreFixture } from '../helpers/backup-fixtures.ts';
import { removeDir, sparseStoreDir, tempDir } from '../helpers/chunk-fixtures.ts';
import { apiCall, tokenHeader, type ApiReply } from '../helpers/https-api.ts';
import { startRouteServer, type RouteServer } from '../helpers/route-server.ts';

const dir = tempDir('bulwark-content-api-');
let authDir: AuthDir;
let system: ServerSystem;
let server: RouteServer;
let store: BackupStoreFixture;
type Headers = Record<string, string>;
/** Admin on /. */
let admin: Headers;
/** alice@pbs, DatastorePowerUser (Backup + Prune) on the store, by ticket: writes need the CSRF token. */
let alice: Headers;
let aliceToken: Headers;
/** bob@pbs, DatastoreBackup only. */
let bob: Headers;
/** Audit on / (Datastore.Audit, Sys.Audit). */
let auditor: Headers;
/** DatastoreAudit on /datastore/store1/team only. */
let carol: Headers;
let nobody: Headers;

const H = 3600;
const ALICE_TOKEN = `${OWNER}!t`;
const key = generateKey();

const ref = (id: string, time: number, ns = ''): BackupDir => new BackupDir(new BackupGroup(BackupNamespace.parse(ns), 'host', id), time);
const group = (id: string, ns = ''): BackupGroup => new BackupGroup(BackupNamespace.parse(ns), 'host', id);
const exists = (id: string, time: number, ns = ''): boolean => existsSync(snapshotPath(store.path, ref(id, time, ns)));
const query = (o: Record<string, string | number>): string => `?${new URLSearchParams(Object.entries(o).map(([k, v]): [string, string] => [k, String(v)]))}`;
const snapQ = (id: string, time: number, extra: Record<string, string | number> = {}) => ({ 'backup-type': 'host', 'backup-id': id, 'backup-time': time, ...extra });
const groupQ = (id: string, extra: Record<string, string | number> = {}) => ({ 'backup-type': 'host', 'backup-id': id, ...extra });
const BASE = '/admin/datastore/store1';

function call<T = unknown>(method: string, path: string, headers: Headers, params?: Record<string, string | number>, storeName = 'store1'): Promise<ApiReply<T>> {
  const full = `/admin/datastore/${storeName}/${path}`;
  if (method === 'GET' || method === 'DELETE') return apiCall<T>(server.port, method, params ? full + query(params) : full, { headers });
  return apiCall<T>(server.port, method, full, { headers, form: params ?? {} });
}

function expectError(r: ApiReply, status: number, code: string, mentions?: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.code, code);
  if (mentions) assert.match(r.body.message!, mentions);
}

async function snapshot(id: string, time: number, opts: { owner?: string; ns?: string } = {}): Promise<void> {
  const w = await store.start(time, { id, ...(opts.owner && { owner: opts.owner }), ...(opts.ns && { ns: opts.ns }) });
  await writeArchive(w, 'root.pxar.didx', dynamicPlan([time % 1000, 7]));
  await w.finish();
}

before(async () => {
  store = backupStore(dir);
  for (const t of [NOW_S - 2 * H, NOW_S - H, NOW_S]) await snapshot('web1', t);
  await snapshot('web2', NOW_S - H, { owner: OTHER_OWNER });
  for (const id of ['keep', 'gone', 'notes', 'own', 'prot']) await snapshot(id, NOW_S - H);
  await snapshot('keep', NOW_S);
  await createNamespace(store.path, BackupNamespace.parse('team'));
  await snapshot('db', NOW_S - H, { ns: 'team' });
  // The client signs its manifest; the server never can.
  const mp = manifestPath(store.path, ref('notes', NOW_S - H));
  writeManifest(mp, signManifest(readManifest(mp), key));

  authDir = makeAuthDir();
  const users: [string, string, string][] = [
    ['admin@pbs', '/', 'Admin'], [OWNER, '/datastore/store1', 'DatastorePowerUser'], [OTHER_OWNER, '/datastore/store1', 'DatastoreBackup'],
    ['audit@pbs', '/', 'Audit'], ['carol@pbs', '/datastore/store1/team', 'DatastoreAudit'], ['nobody@pbs', '/', 'NoAccess'],
  ];
  const headers: Headers[] = [];
  for (const [userid, path, roleid] of users) {
    addUser(authDir.paths, { userid, password: PASSWORD });
    addAcl(authDir.paths, [{ path, ugid: userid, roleid, propagate: true }, { path, ugid: `${userid}!t`, roleid, propagate: true }]);
    const tok = createToken(authDir.paths, userid, 't');
    headers.push(tokenHeader(tok.tokenid, tok.value));
  }
  [admin, aliceToken, bob, auditor, carol, nobody] = headers as [Headers, Headers, Headers, Headers, Headers, Headers];

  system = await startServerSystem({
    paths: configPaths(join(dir, 'data')), log: pino({ level: 'silent' }),
    config: {
      datastoresDigest: 'x',
      datastores: { store1: { name: 'store1', path: store.path }, ro: { name: 'ro', path: sparseStoreDir(dir, 'ro'), 'maintenance-mode': 'read-only' } },
    },
  });
  await waitFor(system.root.system.get('datastore:store1') as AnyActorRef, (s) => s.value === 'online');
  await waitFor(system.root.system.get('datastore:ro') as AnyActorRef, (s) => s.value === 'readOnly');
  server = await startRouteServer({
    dir, auth: new AuthService(authDir.paths), system: system.root.system,
    routes: (app, ctx) => { datastoreAdminRoutes(app, ctx); datastoreContentRoutes(app, ctx); },
  });
  const login = await apiCall<{ ticket: string; CSRFPreventionToken: string }>(server.port, 'POST', '/access/ticket', { form: { username: OWNER, password: PASSWORD } });
  alice = { cookie: `PBSAuthCookie=${encodeURIComponent(login.body.data!.ticket)}`, csrfpreventiontoken: login.body.data!.CSRFPreventionToken };
});

after(async () => {
  server?.close();
  await system?.close();
  authDir?.remove();
  removeDir(dir);
});

describe('DELETE snapshots and groups', () => {
  test('bad parameters: 400 naming the parameter, nothing removed', async () => {
    for (const [params, name] of [
      [{ 'backup-type': 'host', 'backup-id': 'web1' }, 'backup-time'],
      [snapQ('web1', 'yesterday' as never), 'backup-time'],
      [{ ...snapQ('web1', NOW_S), 'backup-type': 'nope' }, 'backup-type'],
      [snapQ('../web1', NOW_S), 'backup-id'],
      [{ 'backup-type': 'host', 'backup-time': NOW_S }, 'backup-id'],
      [snapQ('web1', NOW_S, { ns: 'a//b' }), 'ns'],
      [snapQ('web1', NOW_S, { ns: 'a/b/c/d/e/f/g/h' }), 'ns'],
    ] as const) {
      expectError(await call('DELETE', 'snapshots', admin, params), 400, 'BULWARK_INVALID_ARGUMENT', new RegExp(`for ${name}:`));
    }
    expectError(await call('DELETE', 'groups', admin, { 'backup-type': 'host' }), 400, 'BULWARK_INVALID_ARGUMENT', /backup-id/);
    assert.ok(exists('web1', NOW_S));
  });

  test('privileges: Prune is needed and reaches only owned groups; no CSRF token, no delete', async () => {
    expectError(await call('DELETE', 'snapshots', bob, snapQ('web2', NOW_S - H)), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify\|Datastore\.Prune on \/datastore\/store1/);
    expectError(await call('DELETE', 'snapshots', auditor, snapQ('web1', NOW_S)), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify\|Datastore\.Prune/);
    expectError(await call('DELETE', 'snapshots', alice, snapQ('web2', NOW_S - H)), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify on \/datastore\/store1 .*not owned/);
    expectError(await call('DELETE', 'groups', alice, groupQ('web2')), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify/);
    const noCsrf = await call('DELETE', 'snapshots', { cookie: alice.cookie! }, snapQ('web1', NOW_S));
    assert.equal(noCsrf.status, 401);
    assert.ok(exists('web2', NOW_S - H) && exists('web1', NOW_S));
  });

  test('the owner deletes a snapshot with Datastore.Prune; a missing one is 404; a read-only store 503', async () => {
    const r = await call('DELETE', 'snapshots', alice, snapQ('web1', NOW_S - 2 * H));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.data, null);
    assert.equal(exists('web1', NOW_S - 2 * H), false);
    assert.ok(exists('web1', NOW_S - H));
    expectError(await call('DELETE', 'snapshots', admin, snapQ('web1', NOW_S - 2 * H)), 404, 'BULWARK_NOT_FOUND');
    expectError(await call('DELETE', 'snapshots', admin, snapQ('web1', NOW_S), 'ro'), 503, 'BULWARK_DATASTORE_UNAVAILABLE');
    expectError(await call('DELETE', 'snapshots', admin, snapQ('web1', NOW_S), 'nostore'), 404, 'BULWARK_NOT_FOUND');
  });

  test('a protected snapshot survives DELETE (409), and so does one in use (409)', async () => {
    assert.equal((await call('PUT', 'protected', admin, snapQ('prot', NOW_S - H, { protected: 1 }))).status, 200);
    expectError(await call('DELETE', 'snapshots', admin, snapQ('prot', NOW_S - H)), 409, 'BULWARK_SNAPSHOT_PROTECTED');
    assert.ok(existsSync(manifestPath(store.path, ref('prot', NOW_S - H))), 'nothing of it removed');
    const reader = await lockSnapshot(store.path, ref('web1', NOW_S - H), { shared: true });
    try {
      expectError(await call('DELETE', 'snapshots', admin, snapQ('web1', NOW_S - H)), 409, 'BULWARK_LOCKED');
    } finally {
      reader.release();
    }
    assert.ok(existsSync(manifestPath(store.path, ref('web1', NOW_S - H))));
  });

  test('deleting a group: protected snapshots stay (409 listing them), the rest go; a plain group goes entirely', async () => {
    assert.equal((await call('PUT', 'protected', alice, snapQ('keep', NOW_S - H, { protected: 'true' }))).status, 200);
    expectError(await call('DELETE', 'groups', admin, groupQ('keep')), 409, 'BULWARK_GROUP_NOT_EMPTY', /1 protected snapshot must stay.*1 snapshot deleted/);
    assert.ok(exists('keep', NOW_S - H));
    assert.equal(exists('keep', NOW_S), false);
    const r = await call('DELETE', 'groups', alice, groupQ('gone'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(existsSync(join(store.path, 'host', 'gone')), false);
    expectError(await call('DELETE', 'groups', admin, groupQ('gone')), 404, 'BULWARK_NOT_FOUND');
  });
});

describe('namespaces', () => {
  test('create, list (with parent and max-depth), delete', async () => {
    const created = await call<string>('POST', 'namespace', admin, { name: 'dev' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal(created.body.data, 'dev');
    assert.equal((await call<string>('POST', 'namespace', admin, { parent: 'dev', name: 'x' })).body.data, 'dev/x');
    const all = await call<{ ns: string }[]>('GET', 'namespace', admin);
    assert.deepEqual(all.body.data!.map((n) => n.ns), ['', 'dev', 'dev/x', 'team']);
    const top = await call<{ ns: string }[]>('GET', 'namespace', admin, { parent: 'dev', 'max-depth': 0 });
    assert.deepEqual(top.body.data, [{ ns: 'dev' }]);
    expectError(await call('POST', 'namespace', admin, { name: 'dev' }), 409, 'BULWARK_ALREADY_EXISTS');
    expectError(await call('POST', 'namespace', admin, { parent: 'nope', name: 'x' }), 404, 'BULWARK_NOT_FOUND');
    assert.equal((await call('DELETE', 'namespace', admin, { ns: 'dev/x' })).status, 200);
    assert.equal((await call('DELETE', 'namespace', admin, { ns: 'dev' })).status, 200);
    assert.equal(existsSync(join(store.path, 'ns', 'dev')), false);
  });

  test('a namespace with groups is not deleted without delete-groups (409); with it, it is', async () => {
    expectError(await call('DELETE', 'namespace', admin, { ns: 'team' }), 409, 'BULWARK_NAMESPACE_NOT_EMPTY');
    assert.ok(exists('db', NOW_S - H, 'team'));
    expectError(await call('DELETE', 'namespace', admin, { ns: 'team', 'delete-groups': 'maybe' }), 400, 'BULWARK_INVALID_ARGUMENT', /delete-groups/);
    assert.ok(exists('db', NOW_S - H, 'team'));
    // carol sees only the namespace she has a privilege on, and nothing above it.
    const seen = await call<{ ns: string }[]>('GET', 'namespace', carol);
    assert.deepEqual(seen.body.data, [{ ns: 'team' }]);
    assert.equal((await call('DELETE', 'namespace', admin, { ns: 'team', 'delete-groups': 1 })).status, 200);
    assert.equal(existsSync(join(store.path, 'ns', 'team')), false);
  });

  test('bad input is 400 naming the parameter and creates nothing', async () => {
    for (const [params, name] of [
      [{}, 'name'],
      [{ name: 'a/b' }, 'name'],
      [{ name: '..' }, 'name'],
      [{ name: 'x'.repeat(33) }, 'name'],
      [{ name: 'ok', parent: 'a//b' }, 'parent'],
    ] as const) {
      expectError(await call('POST', 'namespace', admin, params), 400, 'BULWARK_INVALID_ARGUMENT', new RegExp(`for ${name}:`));
    }
    expectError(await call('POST', 'namespace', admin, { name: 'h', parent: 'a/b/c/d/e/f/g' }), 400, 'BULWARK_INVALID_ARGUMENT', /for name:/);
    expectError(await call('GET', 'namespace', admin, { 'max-depth': 9 }), 400, 'BULWARK_INVALID_ARGUMENT', /max-depth/);
    expectError(await call('DELETE', 'namespace', admin, {}), 400, 'BULWARK_INVALID_ARGUMENT', /for ns:/);
    assert.equal(existsSync(join(store.path, 'ns', 'ok')), false);
  });

  test('privileges: Datastore.Modify on the parent to create and delete; listing needs a datastore privilege', async () => {
    expectError(await call('POST', 'namespace', alice, { name: 'mine' }), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify on \/datastore\/store1$/);
    assert.equal((await call('POST', 'namespace', admin, { name: 'mine' })).status, 200);
    expectError(await call('DELETE', 'namespace', alice, { ns: 'mine' }), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify on \/datastore\/store1$/);
    expectError(await call('GET', 'namespace', nobody), 403, 'BULWARK_FORBIDDEN', /Datastore\.Audit/);
    expectError(await call('GET', 'namespace', nobody, { parent: 'no/such' }), 403, 'BULWARK_FORBIDDEN');
    expectError(await call('GET', 'namespace', admin, { parent: 'no/such' }), 404, 'BULWARK_NOT_FOUND');
    assert.ok(existsSync(join(store.path, 'ns', 'mine')));
  });
});

describe('protection, notes and group notes', () => {
  test('protected: round trip; bad values 400; Datastore.Backup only on owned groups', async () => {
    const q = snapQ('web1', NOW_S);
    assert.equal((await call<boolean>('GET', 'protected', alice, q)).body.data, false);
    assert.equal((await call('PUT', 'protected', alice, { ...q, protected: 1 })).status, 200);
    assert.equal((await call<boolean>('GET', 'protected', auditor, q)).body.data, true);
    assert.equal((await call('PUT', 'protected', alice, { ...q, protected: 0 })).status, 200);
    assert.equal((await call<boolean>('GET', 'protected', admin, q)).body.data, false);
    expectError(await call('PUT', 'protected', alice, { ...q, protected: 'maybe' }), 400, 'BULWARK_INVALID_ARGUMENT', /for protected:/);
    expectError(await call('PUT', 'protected', alice, q), 400, 'BULWARK_INVALID_ARGUMENT', /for protected:/);
    expectError(await call('PUT', 'protected', bob, { ...q, protected: 1 }), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify on .*not owned/);
    expectError(await call('PUT', 'protected', auditor, { ...q, protected: 1 }), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify\|Datastore\.Backup/);
    expectError(await call('GET', 'protected', bob, q), 403, 'BULWARK_FORBIDDEN', /Datastore\.Audit/);
    expectError(await call('GET', 'protected', nobody, q), 403, 'BULWARK_FORBIDDEN', /Datastore\.Audit\|Datastore\.Backup/);
    assert.equal((await call<boolean>('GET', 'protected', admin, q)).body.data, false);
  });

  test('snapshot notes live in the manifest unprotected part: the signature stays valid', async () => {
    const q = snapQ('notes', NOW_S - H);
    assert.equal((await call<string>('GET', 'notes', alice, q)).body.data, '');
    const text = 'first line\nsecond line — ünïcode';
    const put = await apiCall(server.port, 'PUT', `${BASE}/notes`, { headers: alice, json: { ...q, notes: text } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal((await call<string>('GET', 'notes', auditor, q)).body.data, text);
    const m = readManifest(manifestPath(store.path, ref('notes', NOW_S - H)));
    assert.equal(m.unprotected.notes, text);
    verifyManifestSignature(m, key);
    const listed = await call<{ 'backup-id': string; comment?: string }[]>('GET', 'snapshots', admin, { 'backup-id': 'notes' });
    assert.equal(listed.body.data![0]!.comment, 'first line');
    assert.equal((await call('PUT', 'notes', alice, { ...q, notes: '' })).status, 200, 'empty clears');
    assert.equal((await call<string>('GET', 'notes', alice, q)).body.data, '');
  });

  test('snapshot notes: bad input 400, privileges 403, missing snapshot 404; the manifest is untouched', async () => {
    const q = snapQ('notes', NOW_S - H);
    const before = readManifest(manifestPath(store.path, ref('notes', NOW_S - H)));
    expectError(await call('PUT', 'notes', admin, q), 400, 'BULWARK_INVALID_ARGUMENT', /for notes:/);
    expectError(await call('PUT', 'notes', admin, { ...q, 'backup-time': -1, notes: 'x' }), 400, 'BULWARK_INVALID_ARGUMENT', /backup-time/);
    expectError(await call('PUT', 'notes', auditor, { ...q, notes: 'x' }), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify\|Datastore\.Backup/);
    expectError(await call('PUT', 'notes', bob, { ...q, notes: 'x' }), 403, 'BULWARK_FORBIDDEN', /not owned/);
    expectError(await call('GET', 'notes', bob, q), 403, 'BULWARK_FORBIDDEN', /Datastore\.Audit/);
    expectError(await call('PUT', 'notes', admin, { ...snapQ('notes', NOW_S), notes: 'x' }), 404, 'BULWARK_NOT_FOUND', /snapshot host\/notes/);
    assert.deepEqual(readManifest(manifestPath(store.path, ref('notes', NOW_S - H))), before);
  });

  test('group notes: round trip, 400 without notes, Datastore.Backup only on owned groups', async () => {
    const q = groupQ('web1');
    assert.equal((await call<string>('GET', 'group-notes', alice, q)).body.data, '');
    assert.equal((await call('PUT', 'group-notes', alice, { ...q, notes: 'web server\nrack 4' })).status, 200);
    assert.equal((await call<string>('GET', 'group-notes', auditor, q)).body.data, 'web server\nrack 4');
    assert.equal(await readNotes(store.path, group('web1')), 'web server\nrack 4');
    expectError(await call('PUT', 'group-notes', alice, q), 400, 'BULWARK_INVALID_ARGUMENT', /for notes:/);
    expectError(await call('PUT', 'group-notes', alice, { ...groupQ('web2'), notes: 'x' }), 403, 'BULWARK_FORBIDDEN', /not owned/);
    expectError(await call('PUT', 'group-notes', auditor, { ...q, notes: 'x' }), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify\|Datastore\.Backup/);
    expectError(await call('GET', 'group-notes', bob, q), 403, 'BULWARK_FORBIDDEN', /Datastore\.Audit on .*not owned/);
    expectError(await call('GET', 'group-notes', nobody, q), 403, 'BULWARK_FORBIDDEN', /Datastore\.Audit\|Datastore\.Backup/);
    expectError(await call('GET', 'group-notes', alice, groupQ('nosuch')), 404, 'BULWARK_NOT_FOUND');
    assert.equal(await readNotes(store.path, group('web1')), 'web server\nrack 4');
  });
});

describe('POST change-owner', () => {
  test('Datastore.Backup moves an owned group between a user and their own tokens only', async () => {
    const r = await call('POST', 'change-owner', alice, { ...groupQ('own'), 'new-owner': ALICE_TOKEN });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(await readOwner(store.path, group('own')), ALICE_TOKEN);
    assert.equal((await call('POST', 'change-owner', alice, { ...groupQ('own'), 'new-owner': OWNER })).status, 200);
    assert.equal(await readOwner(store.path, group('own')), OWNER);
    expectError(await call('POST', 'change-owner', alice, { ...groupQ('own'), 'new-owner': OTHER_OWNER }), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify on \/datastore\/store1/);
    expectError(await call('POST', 'change-owner', aliceToken, { ...groupQ('own'), 'new-owner': ALICE_TOKEN }), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify/);
    expectError(await call('POST', 'change-owner', alice, { ...groupQ('web2'), 'new-owner': OWNER }), 403, 'BULWARK_FORBIDDEN');
    expectError(await call('POST', 'change-owner', auditor, { ...groupQ('own'), 'new-owner': 'audit@pbs' }), 403, 'BULWARK_FORBIDDEN', /Datastore\.Modify\|Datastore\.Backup/);
    assert.equal(await readOwner(store.path, group('own')), OWNER);
  });

  test('Datastore.Modify gives any group to any active user; unknown or malformed owners are 400', async () => {
    for (const newOwner of ['ghost@pbs', 'not an id', '']) {
      expectError(await call('POST', 'change-owner', admin, { ...groupQ('own'), 'new-owner': newOwner }), 400, 'BULWARK_INVALID_ARGUMENT', /new-owner/);
    }
    expectError(await call('POST', 'change-owner', admin, { ...groupQ('nosuch'), 'new-owner': OTHER_OWNER }), 404, 'BULWARK_NOT_FOUND');
    assert.equal(await readOwner(store.path, group('own')), OWNER);
    assert.equal((await call('POST', 'change-owner', admin, { ...groupQ('own'), 'new-owner': OTHER_OWNER })).status, 200);
    assert.equal(await readOwner(store.path, group('own')), OTHER_OWNER);
    assert.ok(!readdirSync(join(store.path, 'host', 'own')).some((f) => f.includes('.tmp')), 'no temp file left');
  });
});

describe('GET /admin/datastore', () => {
  test('PBS DataStoreListItem: maintenance as a property string', async () => {
    const r = await apiCall<{ store: string; maintenance?: string }[]>(server.port, 'GET', '/admin/datastore', { headers: admin });
    assert.deepEqual([...r.body.data!].sort((a, b) => a.store.localeCompare(b.store)), [{ store: 'ro', maintenance: 'type=read-only' }, { store: 'store1' }]);
  });
});
