/**
 * For each PBS role granted on `/`, which API areas answer and which refuse
 * with 403 — written out by hand from PBS's role table, not derived from
 * Bulwark's own privilege code. Tokens get at most their user's rights:
 * a token with Admin under a user holding role R behaves as R, and so does a
 * token holding R under an Admin user.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { waitFor, type AnyActorRef } from 'xstate';
import { startServerSystem, type ServerSystem } from '../../actors/server-system.ts';
import { AuthService } from '../../auth/auth-service.ts';
import { createToken } from '../../auth/tokens.ts';
import { configPaths } from '../../config/paths.ts';
import { saveDatastoreEntry } from '../../config/datastore-config.ts';
import { ensureSelfSignedCertificate } from '../../config/tls.ts';
import { createDatastore } from '../../datastore/create.ts';
import { SAFETY_NONE } from '../../datastore/safety.ts';
import { startHttpServer, type HttpServer } from '../../transport/server.ts';
import { addAcl, addUser } from '../helpers/auth-fixtures.ts';
import { removeDir, tempDir } from '../helpers/chunk-fixtures.ts';
import { apiCall, tokenHeader } from '../helpers/https-api.ts';

const ROLES = ['Admin', 'Audit', 'NoAccess', 'DatastoreAdmin', 'DatastoreReader', 'DatastoreBackup', 'DatastorePowerUser', 'DatastoreAudit',
  'RemoteAudit', 'RemoteAdmin', 'RemoteSyncOperator', 'TapeAudit', 'TapeAdmin', 'TapeOperator', 'TapeReader'] as const;
type Role = (typeof ROLES)[number];

interface Area {
  readonly name: string;
  readonly method: string;
  /** A function so it can use the UPID of a task started in setup. */
  readonly path: () => string;
  readonly allowed: readonly Role[];
}

let adminTask = '';
const AREAS: readonly Area[] = [
  { name: 'node status (Sys.Audit)', method: 'GET', path: () => '/nodes/localhost/status', allowed: ['Admin', 'Audit'] },
  { name: "another user's task log (Sys.Audit)", method: 'GET', path: () => `/nodes/localhost/tasks/${encodeURIComponent(adminTask)}/log`, allowed: ['Admin', 'Audit'] },
  { name: 'GC status (Datastore.Audit)', method: 'GET', path: () => '/admin/datastore/store1/gc', allowed: ['Admin', 'Audit', 'DatastoreAdmin', 'DatastoreReader', 'DatastoreAudit'] },
  { name: 'snapshot list (Datastore.Audit, or Backup/Read for owned groups)', method: 'GET', path: () => '/admin/datastore/store1/snapshots', allowed: ['Admin', 'Audit', 'DatastoreAdmin', 'DatastoreReader', 'DatastoreBackup', 'DatastorePowerUser', 'DatastoreAudit'] },
  { name: 'start GC (Datastore.Modify)', method: 'POST', path: () => '/admin/datastore/store1/gc', allowed: ['Admin', 'DatastoreAdmin'] },
  { name: 'prune a datastore (Datastore.Modify)', method: 'POST', path: () => '/admin/datastore/store1/prune-datastore', allowed: ['Admin', 'DatastoreAdmin'] },
  { name: 'verify a datastore (Datastore.Verify)', method: 'POST', path: () => '/admin/datastore/store1/verify', allowed: ['Admin', 'DatastoreAdmin', 'DatastoreReader'] },
  { name: 'datastore config (Datastore.Audit)', method: 'GET', path: () => '/config/datastore/store1', allowed: ['Admin', 'Audit', 'DatastoreAdmin', 'DatastoreReader', 'DatastoreAudit'] },
  { name: 'remove a datastore (Datastore.Allocate)', method: 'DELETE', path: () => '/config/datastore/nosuch', allowed: ['Admin'] },
  { name: 'a remote (Remote.Audit)', method: 'GET', path: () => '/config/remote/nosuch', allowed: ['Admin', 'RemoteAudit', 'RemoteAdmin', 'RemoteSyncOperator'] },
  { name: 'remove a remote (Remote.Modify)', method: 'DELETE', path: () => '/config/remote/nosuch', allowed: ['Admin', 'RemoteAdmin'] },
  { name: 'remove a user (Permissions.Modify)', method: 'DELETE', path: () => '/access/users/nosuch@pbs', allowed: ['Admin'] },
];

const dir = tempDir('bulwark-roles-');
const paths = configPaths(join(dir, 'data'));
let system: ServerSystem;
let server: HttpServer;
/** Credentials per role: the user's own token, a token with Admin under the role's user, a token with the role under an Admin user. */
const creds = new Map<Role, { direct: Record<string, string>; adminTokenOfRoleUser: Record<string, string>; roleTokenOfAdmin: Record<string, string> }>();
let bareToken: Record<string, string>;

before(async () => {
  const storePath = join(dir, 'store1');
  createDatastore(storePath);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(paths.etcDir, { recursive: true });
  saveDatastoreEntry(paths.datastoreConfig, { name: 'store1', path: storePath });
  addUser(paths, { userid: 'root-admin@pbs' });
  addAcl(paths, [{ path: '/', ugid: 'root-admin@pbs', roleid: 'Admin', propagate: true }]);
  const admin = createToken(paths, 'root-admin@pbs', 'main');
  addAcl(paths, [{ path: '/', ugid: admin.tokenid, roleid: 'Admin', propagate: true }]);
  for (const role of ROLES) {
    const user = `u-${role.toLowerCase()}@pbs`;
    addUser(paths, { userid: user });
    const own = createToken(paths, user, 'own');
    const wide = createToken(paths, user, 'wide');
    const narrow = createToken(paths, 'root-admin@pbs', role.toLowerCase());
    addAcl(paths, [
      { path: '/', ugid: user, roleid: role, propagate: true },
      { path: '/', ugid: own.tokenid, roleid: role, propagate: true },
      { path: '/', ugid: wide.tokenid, roleid: 'Admin', propagate: true },
      { path: '/', ugid: narrow.tokenid, roleid: role, propagate: true },
    ]);
    creds.set(role, { direct: tokenHeader(own.tokenid, own.value), adminTokenOfRoleUser: tokenHeader(wide.tokenid, wide.value), roleTokenOfAdmin: tokenHeader(narrow.tokenid, narrow.value) });
  }
  const bare = createToken(paths, 'root-admin@pbs', 'bare');
  bareToken = tokenHeader(bare.tokenid, bare.value);

  system = await startServerSystem({
    paths, log: pino({ level: 'silent' }), safety: SAFETY_NONE,
    config: { datastoresDigest: 'x', datastores: { store1: { name: 'store1', path: storePath } } },
  });
  await waitFor(system.root.system.get('datastore:store1') as AnyActorRef, (s) => s.value === 'online');
  const tls = { keyFile: join(dir, 'proxy.key'), certFile: join(dir, 'proxy.pem') };
  await ensureSelfSignedCertificate(tls);
  server = await startHttpServer({ host: '127.0.0.1', port: 0, ...tls, log: pino({ level: 'silent' }), system: system.root.system, auth: new AuthService(paths), paths, jobs: system.jobs });
  const started = await apiCall<string>(server.port, 'POST', '/admin/datastore/store1/gc', { headers: tokenHeader(admin.tokenid, admin.value) });
  adminTask = started.body.data!;
});

after(async () => {
  server?.close();
  await server?.idle();
  await system?.close();
  removeDir(dir);
});

async function allowed(area: Area, headers: Record<string, string>): Promise<boolean> {
  const r = await apiCall(server.port, area.method, area.path(), { headers });
  if (r.status === 403) {
    assert.match(r.body.message ?? '', /needs /, `${area.name}: a 403 names the missing privilege`);
    return false;
  }
  assert.ok(r.status === 200 || r.status === 404, `${area.name}: unexpected ${r.status} ${JSON.stringify(r.body)}`);
  return true;
}

describe('role × API area matrix', () => {
  for (const role of ROLES) {
    test(`${role}`, async () => {
      const c = creds.get(role)!;
      for (const area of AREAS) {
        const want = area.allowed.includes(role);
        assert.equal(await allowed(area, c.direct), want, `${role} on ${area.name}`);
        assert.equal(await allowed(area, c.adminTokenOfRoleUser), want, `Admin token of a ${role} user on ${area.name}`);
        assert.equal(await allowed(area, c.roleTokenOfAdmin), want, `${role} token of an Admin user on ${area.name}`);
      }
    });
  }

  test('a token without ACL entries of its own has no rights, even under an Admin user', async () => {
    for (const area of AREAS) assert.equal(await allowed(area, bareToken), false, area.name);
  });
});
