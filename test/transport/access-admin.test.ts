import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { AuthService } from '../../auth/auth-service.ts';
import { LoginLimiter } from '../../auth/login-limiter.ts';
import { PRIVILEGES } from '../../auth/privileges.ts';
import { createToken } from '../../auth/tokens.ts';
import { ensureSelfSignedCertificate } from '../../config/tls.ts';
import { accessRoutes } from '../../transport/routes/access.ts';
import { aclRoutes } from '../../transport/routes/acl.ts';
import { permissionRoutes } from '../../transport/routes/permissions.ts';
import { userRoutes } from '../../transport/routes/users.ts';
import { apiNotFound } from '../../transport/http-api.ts';
import { loadUws, type us_listen_socket } from '../../transport/uws.ts';
import { addAcl, addUser, makeAuthDir, PASSWORD, T0, testClock, type AuthDir } from '../helpers/auth-fixtures.ts';
import { apiCall, tokenHeader, type ApiReply } from '../helpers/https-api.ts';

type Headers = Record<string, string>;
interface AclItem { path: string; ugid: string; ugid_type: string; roleid: string; propagate: boolean }

const T0_S = Math.floor(T0 / 1000);
let d: AuthDir;
let port: number;
let close: () => void;
let admin: Headers; // admin@pbs!t, Admin on /
let dsadmin: Headers; // ticket of dsadmin@pbs, DatastoreAdmin on /datastore/store1

const call = <T = unknown>(method: string, path: string, opts: { headers?: Headers; form?: Record<string, string | number> } = {}): Promise<ApiReply<T>> =>
  apiCall<T>(port, method, path, opts);

async function login(username: string, password: string): Promise<ApiReply<{ ticket: string; CSRFPreventionToken: string }>> {
  return call('POST', '/access/ticket', { form: { username, password } });
}

/** Cookie and CSRF headers of a fresh ticket. */
async function ticketHeaders(username: string, password = PASSWORD): Promise<Headers> {
  const r = await login(username, password);
  assert.equal(r.status, 200, `login ${username}: ${JSON.stringify(r.body)}`);
  return { cookie: `PBSAuthCookie=${encodeURIComponent(r.body.data!.ticket)}`, csrfpreventiontoken: r.body.data!.CSRFPreventionToken };
}

function assertRefused(r: ApiReply, status: number, code: string, name?: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.code, code);
  if (name !== undefined) assert.match(r.body.message!, new RegExp(name.replace(/\./g, '\\.')));
}

const configBytes = () => [d.paths.userConfig, d.paths.shadow, d.paths.aclConfig, d.paths.tokenShadow].map((f) => readFileSync(f, 'utf8'));
const aclFile = (): AclItem[] => JSON.parse(readFileSync(d.paths.aclConfig, 'utf8'));

before(async () => {
  d = makeAuthDir();
  addUser(d.paths, { userid: 'admin@pbs', password: PASSWORD });
  addUser(d.paths, { userid: 'dsadmin@pbs', password: PASSWORD });
  addUser(d.paths, { userid: 'bob@pbs', password: PASSWORD });
  addUser(d.paths, { userid: 'deleg@pbs', password: PASSWORD });
  addAcl(d.paths, [
    { path: '/', ugid: 'admin@pbs', roleid: 'Admin', propagate: true },
    { path: '/', ugid: 'admin@pbs!t', roleid: 'Admin', propagate: true },
    { path: '/datastore/store1', ugid: 'dsadmin@pbs', roleid: 'DatastoreAdmin', propagate: true },
    { path: '/datastore/store2', ugid: 'deleg@pbs', roleid: 'Admin', propagate: true },
  ]);
  const t = createToken(d.paths, 'admin@pbs', 't');
  admin = tokenHeader(t.tokenid, t.value);

  const tls = { keyFile: join(d.dir, 'proxy.key'), certFile: join(d.dir, 'proxy.pem') };
  await ensureSelfSignedCertificate(tls);
  const clock = testClock();
  // Many refused logins on purpose here; the limiter has its own tests.
  const auth = new AuthService(d.paths, { now: clock.now, limiter: new LoginLimiter({ now: clock.now, maxFailures: 1000 }) });
  const log = pino({ level: 'silent' });
  const { uws } = loadUws();
  const app = uws.SSLApp({ key_file_name: tls.keyFile, cert_file_name: tls.certFile });
  const ctx = { log, auth, system: { get: () => undefined }, paths: d.paths };
  accessRoutes(app, log, auth);
  userRoutes(app, ctx);
  aclRoutes(app, ctx);
  permissionRoutes(app, ctx);
  apiNotFound(app);
  const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen('127.0.0.1', 0, resolve));
  if (!socket) throw new Error('test server could not listen');
  port = uws.us_socket_local_port(socket as never);
  close = () => {
    uws.us_listen_socket_close(socket);
    (app as unknown as { close?: () => void }).close?.();
  };
  dsadmin = await ticketHeaders('dsadmin@pbs');
});

after(() => {
  close?.();
  d?.remove();
});

describe('/access users, tokens, ACLs and permissions over HTTPS', () => {
  test('user round trip: create with a password (stored hashed, 0600), log in, edit, disable, expire, delete', async () => {
    const created = await call('POST', '/access/users', {
      headers: admin, form: { userid: 'carol@pbs', password: 'carol-pass-1', comment: ' Carol ', email: 'carol@example.com', firstname: 'Carol' },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const shadow = readFileSync(d.paths.shadow, 'utf8');
    assert.ok(!shadow.includes('carol-pass-1'), 'password not stored in clear');
    assert.match(JSON.parse(shadow)['carol@pbs'], /^scrypt\$/);
    for (const f of [d.paths.userConfig, d.paths.shadow]) assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.equal((await login('carol@pbs', 'carol-pass-1')).status, 200);
    assertRefused(await call('POST', '/access/users', { headers: admin, form: { userid: 'carol@pbs' } }), 409, 'BULWARK_ALREADY_EXISTS');

    const one = await call<Record<string, unknown>>('GET', '/access/users/carol@pbs', { headers: admin });
    assert.deepEqual(one.body.data, { userid: 'carol@pbs', comment: 'Carol', enable: true, expire: 0, firstname: 'Carol', email: 'carol@example.com' });
    assert.match((one.body as { digest?: string }).digest!, /^[0-9a-f]{64}$/);
    const list = await call<{ userid: string }[]>('GET', '/access/users', { headers: admin });
    assert.deepEqual(list.body.data!.map((u) => u.userid), ['admin@pbs', 'bob@pbs', 'carol@pbs', 'deleg@pbs', 'dsadmin@pbs']);
    assert.equal((list.body as { digest?: string }).digest, (one.body as { digest?: string }).digest);

    assert.equal((await call('PUT', '/access/users/carol@pbs', { headers: admin, form: { delete: 'comment,email', lastname: 'Smith' } })).status, 200);
    const edited = await call<Record<string, unknown>>('GET', '/access/users/carol@pbs', { headers: admin });
    assert.deepEqual(edited.body.data, { userid: 'carol@pbs', enable: true, expire: 0, firstname: 'Carol', lastname: 'Smith' });

    assert.equal((await call('PUT', '/access/users/carol@pbs', { headers: admin, form: { enable: 0 } })).status, 200);
    assertRefused(await login('carol@pbs', 'carol-pass-1'), 401, 'BULWARK_UNAUTHORIZED');
    assert.equal((await call('PUT', '/access/users/carol@pbs', { headers: admin, form: { enable: 1, expire: T0_S - 1 } })).status, 200);
    assertRefused(await login('carol@pbs', 'carol-pass-1'), 401, 'BULWARK_UNAUTHORIZED');
    assert.equal((await call('PUT', '/access/users/carol@pbs', { headers: admin, form: { expire: 0 } })).status, 200);
    assert.equal((await login('carol@pbs', 'carol-pass-1')).status, 200);

    assert.equal((await call('DELETE', '/access/users/carol@pbs', { headers: admin })).status, 200);
    assertRefused(await call('GET', '/access/users/carol@pbs', { headers: admin }), 404, 'BULWARK_NOT_FOUND');
    assertRefused(await login('carol@pbs', 'carol-pass-1'), 401, 'BULWARK_UNAUTHORIZED');
    assert.ok(!readFileSync(d.paths.shadow, 'utf8').includes('carol@pbs'), 'password hash removed');
  });

  test('a token shows its secret once, works for API calls, and has no rights of its own until an ACL grants them', async () => {
    const made = await call<{ tokenid: string; value: string }>('POST', '/access/users/admin@pbs/token/ci', { headers: admin, form: { comment: 'CI' } });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const { tokenid, value } = made.body.data!;
    assert.equal(tokenid, 'admin@pbs!ci');
    const listed = await call<Record<string, unknown>[]>('GET', '/access/users/admin@pbs/token', { headers: admin });
    assert.deepEqual(listed.body.data!.find((t) => t['token-name'] === 'ci'), { 'token-name': 'ci', tokenid, comment: 'CI', enable: true, expire: 0 });
    assert.ok(!JSON.stringify(listed.body).includes(value), 'the secret is never shown again');
    const read = await call('GET', '/access/users/admin@pbs/token/ci', { headers: admin });
    assert.ok(!JSON.stringify(read.body).includes(value));
    assertRefused(await call('POST', '/access/users/admin@pbs/token/ci', { headers: admin }), 409, 'BULWARK_ALREADY_EXISTS');

    // The user is Admin, the token has no ACL entry: the intersection is nothing.
    const ci = tokenHeader(tokenid, value);
    const own = await call<{ userid: string }[]>('GET', '/access/users', { headers: ci });
    assert.equal(own.status, 200);
    assert.deepEqual(own.body.data!.map((u) => u.userid), ['admin@pbs'], 'without Sys.Audit only the own user');
    assert.deepEqual((await call('GET', '/access/permissions', { headers: ci })).body.data, {});
    assertRefused(await call('POST', '/access/users', { headers: ci, form: { userid: 'x@pbs' } }), 403, 'BULWARK_FORBIDDEN', 'Permissions.Modify');

    assert.equal((await call('PUT', '/access/acl', { headers: admin, form: { path: '/access', role: 'Audit', 'auth-id': tokenid } })).status, 200);
    assert.equal((await call<unknown[]>('GET', '/access/users', { headers: ci })).body.data!.length, 4);
    const perms = await call<Record<string, Record<string, boolean>>>('GET', '/access/permissions', { headers: ci });
    assert.deepEqual(perms.body.data, { '/access': { 'Sys.Audit': true, 'Datastore.Audit': true } });

    assert.equal((await call('PUT', '/access/users/admin@pbs/token/ci', { headers: admin, form: { enable: 0 } })).status, 200);
    assertRefused(await call('GET', '/access/users', { headers: ci }), 401, 'BULWARK_UNAUTHORIZED');
    assert.equal((await call('DELETE', '/access/users/admin@pbs/token/ci', { headers: admin })).status, 200);
    assert.ok(!aclFile().some((e) => e.ugid === tokenid), 'a deleted token leaves no ACL entry for a namesake to inherit');
    assertRefused(await call('GET', '/access/users/admin@pbs/token/ci', { headers: admin }), 404, 'BULWARK_NOT_FOUND');
  });

  test('self service: own tokens and password by ticket (CSRF needed), nothing of others, no self-extension', async () => {
    const bob = await ticketHeaders('bob@pbs');
    assertRefused(await call('POST', '/access/users/bob@pbs/token/mine', { headers: { cookie: bob.cookie! } }), 401, 'BULWARK_UNAUTHORIZED');
    const made = await call<{ tokenid: string; value: string }>('POST', '/access/users/bob@pbs/token/mine', { headers: bob });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    assert.equal((await call('GET', '/access/users/bob@pbs/token', { headers: bob })).status, 200);
    assertRefused(await call('GET', '/access/users/admin@pbs/token', { headers: bob }), 403, 'BULWARK_FORBIDDEN', 'Sys.Audit');
    assertRefused(await call('POST', '/access/users/admin@pbs/token/x', { headers: bob }), 403, 'BULWARK_FORBIDDEN', 'Permissions.Modify');
    // A token is not its user: it cannot make more tokens.
    const mine = tokenHeader(made.body.data!.tokenid, made.body.data!.value);
    assertRefused(await call('POST', '/access/users/bob@pbs/token/more', { headers: mine }), 403, 'BULWARK_FORBIDDEN', 'Permissions.Modify');
    // As PBS, a user may grant its own token ACLs (capped by the user's rights), but nobody else.
    assert.equal((await call('PUT', '/access/acl', { headers: bob, form: { path: '/datastore/store1', role: 'DatastoreBackup', 'auth-id': 'bob@pbs!mine' } })).status, 200);
    assertRefused(await call('PUT', '/access/acl', { headers: bob, form: { path: '/datastore/store1', role: 'Admin', 'auth-id': 'bob@pbs' } }), 403, 'BULWARK_FORBIDDEN', 'Permissions.Modify');
    const visible = await call<AclItem[]>('GET', '/access/acl', { headers: bob });
    assert.deepEqual(visible.body.data, [{ path: '/datastore/store1', ugid: 'bob@pbs!mine', ugid_type: 'user', propagate: true, roleid: 'DatastoreBackup' }]);

    assertRefused(await call('PUT', '/access/users/bob@pbs', { headers: bob, form: { expire: 0 } }), 403, 'BULWARK_FORBIDDEN', 'Permissions.Modify');
    assertRefused(await call('PUT', '/access/users/bob@pbs', { headers: bob, form: { password: 'bob-new-pass' } }), 401, 'BULWARK_UNAUTHORIZED', 'confirmation-password');
    assert.equal((await call('PUT', '/access/users/bob@pbs', { headers: bob, form: { password: 'bob-new-pass', 'confirmation-password': PASSWORD, comment: 'me' } })).status, 200);
    assertRefused(await login('bob@pbs', PASSWORD), 401, 'BULWARK_UNAUTHORIZED');
    assert.equal((await login('bob@pbs', 'bob-new-pass')).status, 200);
  });

  test('deleting a user removes its tokens, their secrets and every ACL entry of both', async () => {
    assert.equal((await call('POST', '/access/users', { headers: admin, form: { userid: 'erin@pbs' } })).status, 200);
    const t = await call<{ tokenid: string; value: string }>('POST', '/access/users/erin@pbs/token/t', { headers: admin });
    for (const ugid of ['erin@pbs', 'erin@pbs!t']) {
      assert.equal((await call('PUT', '/access/acl', { headers: admin, form: { path: '/datastore/store1', role: 'DatastoreReader', 'auth-id': ugid } })).status, 200);
    }
    const erinToken = tokenHeader(t.body.data!.tokenid, t.body.data!.value);
    assert.equal((await call('GET', '/access/permissions', { headers: erinToken })).status, 200);

    assert.equal((await call('DELETE', '/access/users/erin@pbs', { headers: admin })).status, 200);
    assert.ok(!aclFile().some((e) => e.ugid.startsWith('erin@pbs')));
    assert.ok(!readFileSync(d.paths.tokenShadow, 'utf8').includes('erin@pbs'));
    assert.ok(!readFileSync(d.paths.userConfig, 'utf8').includes('erin@pbs'));
    assertRefused(await call('GET', '/access/permissions', { headers: erinToken }), 401, 'BULWARK_UNAUTHORIZED');
    assertRefused(await call('DELETE', '/access/users/erin@pbs', { headers: admin }), 404, 'BULWARK_NOT_FOUND');
  });

  test('ACL put, get (below a path, exact), delete', async () => {
    const put = await call('PUT', '/access/acl', { headers: admin, form: { path: '/datastore/store1/ns1', role: 'DatastoreReader', 'auth-id': 'bob@pbs', propagate: 0 } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const entry = { path: '/datastore/store1/ns1', ugid: 'bob@pbs', ugid_type: 'user', propagate: false, roleid: 'DatastoreReader' };
    const below = await call<AclItem[]>('GET', '/access/acl?path=/datastore/store1', { headers: admin });
    assert.ok(below.body.data!.some((e) => JSON.stringify(e) === JSON.stringify(entry)), JSON.stringify(below.body.data));
    assert.ok(below.body.data!.every((e) => e.path.startsWith('/datastore/store1')));
    const exact = await call<AclItem[]>('GET', '/access/acl?path=/datastore/store1&exact=1', { headers: admin });
    assert.ok(exact.body.data!.every((e) => e.path === '/datastore/store1'));
    assert.ok(exact.body.data!.length > 0);
    assert.equal((await call('PUT', '/access/acl', { headers: admin, form: { path: '/datastore/store1/ns1', role: 'DatastoreReader', 'auth-id': 'bob@pbs', delete: 1 } })).status, 200);
    assert.ok(!aclFile().some((e) => e.path === '/datastore/store1/ns1'));
    // Permissions.Modify on a subtree delegates ACLs below it, and only there.
    const deleg = await ticketHeaders('deleg@pbs');
    assert.equal((await call('PUT', '/access/acl', { headers: deleg, form: { path: '/datastore/store2/ns1', role: 'DatastoreBackup', 'auth-id': 'bob@pbs' } })).status, 200);
    assertRefused(await call('PUT', '/access/acl', { headers: deleg, form: { path: '/datastore/store1', role: 'DatastoreBackup', 'auth-id': 'bob@pbs' } }), 403, 'BULWARK_FORBIDDEN', 'Permissions.Modify');
    assertRefused(await call('GET', '/access/acl/nothing', { headers: admin }), 404, 'BULWARK_NOT_FOUND');
  });

  test('a stale digest is refused with 409 and the newer edit survives (ACL, user, token)', async () => {
    const d1 = (await call<AclItem[]>('GET', '/access/acl', { headers: admin })).body as { digest?: string };
    const first = { path: '/remote', role: 'RemoteAudit', 'auth-id': 'bob@pbs', digest: d1.digest! };
    assert.equal((await call('PUT', '/access/acl', { headers: admin, form: first })).status, 200);
    const before = configBytes();
    assertRefused(await call('PUT', '/access/acl', { headers: admin, form: { ...first, role: 'RemoteAdmin' } }), 409, 'BULWARK_CONFIG_DIGEST');
    assertRefused(await call('PUT', '/access/acl', { headers: admin, form: { ...first, delete: 1 } }), 409, 'BULWARK_CONFIG_DIGEST');
    assert.deepEqual(configBytes(), before);
    assert.ok(aclFile().some((e) => e.path === '/remote' && e.roleid === 'RemoteAudit'));

    const u1 = (await call('GET', '/access/users/bob@pbs', { headers: admin })).body as { digest?: string };
    assert.equal((await call('PUT', '/access/users/bob@pbs', { headers: admin, form: { comment: 'first', digest: u1.digest! } })).status, 200);
    const stale = u1.digest!;
    const beforeUser = configBytes();
    assertRefused(await call('PUT', '/access/users/bob@pbs', { headers: admin, form: { comment: 'second', digest: stale } }), 409, 'BULWARK_CONFIG_DIGEST');
    assertRefused(await call('POST', '/access/users/bob@pbs/token/late', { headers: admin, form: { digest: stale } }), 409, 'BULWARK_CONFIG_DIGEST');
    assertRefused(await call('DELETE', `/access/users/bob@pbs?digest=${stale}`, { headers: admin }), 409, 'BULWARK_CONFIG_DIGEST');
    assert.deepEqual(configBytes(), beforeUser, 'nothing written, no orphan token secret');
    assert.equal((await call<{ comment: string }>('GET', '/access/users/bob@pbs', { headers: admin })).body.data!.comment, 'first');
  });

  test('every bad input is a 400 naming the parameter, and no config file changes', async () => {
    const before = configBytes();
    const cases: [string, string, Record<string, string | number>, string][] = [
      ['POST', '/access/users', { userid: 'no realm' }, 'userid'],
      ['POST', '/access/users', { userid: 'x@pbs!tok' }, 'userid'],
      ['POST', '/access/users', { userid: 'x@nosuchrealm' }, 'userid'],
      ['POST', '/access/users', { userid: 'x@pbs', password: 'abc' }, 'password'],
      ['POST', '/access/users', { userid: 'x@pbs', expire: -1 }, 'expire'],
      ['POST', '/access/users', { userid: 'x@pbs', enable: 'maybe' }, 'enable'],
      ['POST', '/access/users', { userid: 'x@pbs', email: 'a\nb@example.com' }, 'email'],
      ['GET', '/access/users/not-a-userid', {}, 'userid'],
      ['PUT', '/access/users/bob@pbs', { delete: 'userid' }, 'delete'],
      ['PUT', '/access/users/bob@pbs', { comment: 'x', digest: 'xyz' }, 'digest'],
      ['POST', '/access/users/bob@pbs/token/bad%20name', {}, 'token-name'],
      ['POST', '/access/users/bob@pbs/token/-lead', {}, 'token-name'],
      ['PUT', '/access/acl', { path: '/datastore/store1', role: 'Superuser', 'auth-id': 'bob@pbs' }, 'role'],
      ['PUT', '/access/acl', { path: '/nowhere/x', role: 'Audit', 'auth-id': 'bob@pbs' }, 'path'],
      ['PUT', '/access/acl', { path: 'datastore', role: 'Audit', 'auth-id': 'bob@pbs' }, 'path'],
      ['PUT', '/access/acl', { path: '/datastore/../x', role: 'Audit', 'auth-id': 'bob@pbs' }, 'path'],
      ['PUT', '/access/acl', { path: '/', role: 'Audit', 'auth-id': 'nobody' }, 'auth-id'],
      ['PUT', '/access/acl', { path: '/', role: 'Audit', 'auth-id': 'ghost@pbs' }, 'auth-id'],
      ['PUT', '/access/acl', { path: '/', role: 'Audit', 'auth-id': 'bob@pbs!ghost' }, 'auth-id'],
      ['PUT', '/access/acl', { path: '/', role: 'Audit' }, 'auth-id'],
      ['GET', '/access/acl?path=%2Fa%2F%2Fb', {}, 'path'],
      ['GET', '/access/permissions?path=nope', {}, 'path'],
      ['GET', '/access/permissions?auth-id=nope', {}, 'auth-id'],
    ];
    for (const [method, path, form, name] of cases) {
      const r = await call(method, path, { headers: admin, ...(method === 'GET' ? {} : { form }) });
      assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(form)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 'BULWARK_INVALID_ARGUMENT');
      assert.match(r.body.message!, new RegExp(`invalid value for ${name}:`), `${method} ${path}`);
    }
    assert.deepEqual(configBytes(), before);
  });

  test('privilege checks: a DatastoreAdmin of one store cannot manage users or ACLs and sees only itself', async () => {
    const before = configBytes();
    assertRefused(await call('POST', '/access/users', { headers: dsadmin, form: { userid: 'mallory@pbs' } }), 403, 'BULWARK_FORBIDDEN', 'Permissions.Modify on /access/users');
    assertRefused(await call('PUT', '/access/users/bob@pbs', { headers: dsadmin, form: { comment: 'x' } }), 403, 'BULWARK_FORBIDDEN', 'Permissions.Modify');
    assertRefused(await call('DELETE', '/access/users/bob@pbs', { headers: dsadmin }), 403, 'BULWARK_FORBIDDEN', 'Permissions.Modify');
    assertRefused(await call('GET', '/access/users/bob@pbs', { headers: dsadmin }), 403, 'BULWARK_FORBIDDEN', 'Sys.Audit');
    assertRefused(await call('PUT', '/access/acl', { headers: dsadmin, form: { path: '/datastore/store1', role: 'Admin', 'auth-id': 'dsadmin@pbs' } }), 403, 'BULWARK_FORBIDDEN', 'Permissions.Modify');
    assertRefused(await call('GET', '/access/permissions?auth-id=bob@pbs', { headers: dsadmin }), 403, 'BULWARK_FORBIDDEN', 'Sys.Audit');
    assert.deepEqual(configBytes(), before);
    const users = await call<{ userid: string }[]>('GET', '/access/users', { headers: dsadmin });
    assert.deepEqual(users.body.data!.map((u) => u.userid), ['dsadmin@pbs']);
    assert.deepEqual((await call('GET', '/access/acl', { headers: dsadmin })).body.data, []);
  });

  test('permissions: a user, its token (intersection, propagate bits) and a path below an entry', async () => {
    const store1 = { 'Datastore.Audit': true, 'Datastore.Modify': true, 'Datastore.Read': true, 'Datastore.Verify': true, 'Datastore.Backup': true, 'Datastore.Prune': true };
    const mine = await call<Record<string, Record<string, boolean>>>('GET', '/access/permissions', { headers: dsadmin });
    assert.deepEqual(mine.body.data, { '/datastore/store1': store1 });
    const below = await call('GET', '/access/permissions?path=/datastore/store1/ns9', { headers: dsadmin });
    assert.deepEqual(below.body.data, { '/datastore/store1/ns9': store1 });

    // The token's entry on store1 does not propagate (the user's does); on /system it exceeds what its user has.
    assert.equal((await call('POST', '/access/users/dsadmin@pbs/token/ro', { headers: dsadmin })).status, 200);
    for (const [path, role, propagate] of [['/datastore/store1', 'DatastoreReader', 0], ['/system', 'Audit', 1]] as const) {
      assert.equal((await call('PUT', '/access/acl', { headers: admin, form: { path, role, 'auth-id': 'dsadmin@pbs!ro', propagate } })).status, 200);
    }
    const token = await call('GET', '/access/permissions?auth-id=dsadmin@pbs!ro', { headers: dsadmin });
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.deepEqual(token.body.data, { '/datastore/store1': { 'Datastore.Audit': false, 'Datastore.Read': false, 'Datastore.Verify': false } });

    const all = await call<Record<string, Record<string, boolean>>>('GET', '/access/permissions?auth-id=admin@pbs&path=/', { headers: admin });
    assert.deepEqual(Object.keys(all.body.data!['/']!), [...PRIVILEGES]);
    assert.ok(Object.values(all.body.data!['/']!).every((v) => v === true));
  });
});
