/**
 * Two-step login over HTTPS: register TOTP and recovery codes through
 * /access/tfa, then log in with PBS's partial-ticket flow. Time is the
 * test's clock (tickets, TOTP steps and the rate limiter all read it).
 * The tests run in order and share one user's second factors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { generateSync } from 'otplib';
import pino from 'pino';
import { AuthService } from '../../auth/auth-service.ts';
import { LOGIN_LIMIT_DEFAULTS } from '../../auth/login-limiter.ts';
import { ensureSelfSignedCertificate } from '../../config/tls.ts';
import { apiNotFound } from '../../transport/http-api.ts';
import { accessRoutes } from '../../transport/routes/access.ts';
import { tfaRoutes } from '../../transport/routes/tfa.ts';
import { loadUws, type us_listen_socket } from '../../transport/uws.ts';
import { addAcl, addUser, makeAuthDir, PASSWORD, T0, testClock, type AuthDir } from '../helpers/auth-fixtures.ts';
import { apiCall, type ApiReply } from '../helpers/https-api.ts';

const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // 20 bytes
const URI = `otpauth://totp/Bulwark:alice%40pbs?secret=${SECRET}&issuer=Bulwark`;
const clock = testClock(T0 + 10_000);
const totp = (): string => generateSync({ secret: SECRET, epoch: Math.floor(clock.now() / 1000) });
const nextStep = (): void => clock.advance(30_000);
/** Past the login limiter's failure window (all failures here come from 127.0.0.1). */
const LIMIT_WINDOW = LOGIN_LIMIT_DEFAULTS.windowMs + 60_000;

let authDir: AuthDir;
let auth: AuthService;
let port: number;
let closeServer: () => void;

type Login = { username: string; ticket: string; CSRFPreventionToken: string; NeedTFA?: number };
const login = (form: Record<string, string>): Promise<ApiReply<Login>> => apiCall<Login>(port, 'POST', '/access/ticket', { form });
const session = (l: Login): Record<string, string> => ({ cookie: `PBSAuthCookie=${encodeURIComponent(l.ticket)}`, csrfpreventiontoken: l.CSRFPreventionToken });
const cookieOnly = (ticket: string): Record<string, string> => ({ cookie: `PBSAuthCookie=${encodeURIComponent(ticket)}` });

/** Step one for alice: must answer with a partial ticket. */
async function partial(): Promise<string> {
  const r = await login({ username: 'alice@pbs', password: PASSWORD });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.data!.NeedTFA, 1);
  return r.body.data!.ticket;
}
const second = (challenge: string, response: string) => login({ username: 'alice@pbs', password: response, 'tfa-challenge': challenge });

before(async () => {
  authDir = makeAuthDir();
  addUser(authDir.paths, { userid: 'alice@pbs', password: PASSWORD });
  addUser(authDir.paths, { userid: 'bob@pbs', password: PASSWORD });
  addUser(authDir.paths, { userid: 'admin@pbs', password: PASSWORD });
  addAcl(authDir.paths, [{ path: '/', ugid: 'admin@pbs', roleid: 'Admin', propagate: true }]);
  auth = new AuthService(authDir.paths, { now: clock.now });
  const tls = { keyFile: join(authDir.dir, 'proxy.key'), certFile: join(authDir.dir, 'proxy.pem') };
  await ensureSelfSignedCertificate(tls);
  const { uws } = loadUws();
  const app = uws.SSLApp({ key_file_name: tls.keyFile, cert_file_name: tls.certFile });
  const log = pino({ level: 'silent' });
  accessRoutes(app, log, auth);
  tfaRoutes(app, { log, auth, system: { get: () => undefined } });
  apiNotFound(app);
  const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen('127.0.0.1', 0, resolve));
  if (!socket) throw new Error('test server could not listen');
  port = uws.us_socket_local_port(socket as never);
  closeServer = () => {
    uws.us_listen_socket_close(socket);
    (app as unknown as { close?: () => void }).close?.();
  };
});

after(() => {
  closeServer?.();
  authDir?.remove();
});

describe('TOTP and recovery codes as second factor', () => {
  let alice: Record<string, string>;
  let totpId: string;
  let recovery: string[];

  test('alice adds TOTP for herself: needs CSRF, her password and a current code; bob may not touch hers', async () => {
    const first = await login({ username: 'alice@pbs', password: PASSWORD });
    assert.equal(first.body.data!.NeedTFA, undefined, 'no second factor yet');
    alice = session(first.body.data!);
    const form = { type: 'totp', description: 'phone', totp: URI, value: totp(), password: PASSWORD };
    const noCsrf = await apiCall(port, 'POST', '/access/tfa/alice@pbs', { headers: { cookie: alice.cookie! }, form });
    assert.equal(noCsrf.status, 401);
    const { password: _, ...noPassword } = form;
    assert.equal((await apiCall(port, 'POST', '/access/tfa/alice@pbs', { headers: alice, form: noPassword })).body.code, 'BULWARK_UNAUTHORIZED');
    const wrongPassword = await apiCall(port, 'POST', '/access/tfa/alice@pbs', { headers: alice, form: { ...form, password: 'nope' } });
    assert.equal(wrongPassword.status, 401);
    const wrongCode = await apiCall(port, 'POST', '/access/tfa/alice@pbs', { headers: alice, form: { ...form, value: '000000' } });
    assert.equal(wrongCode.body.code, 'BULWARK_INVALID_ARGUMENT');
    const badType = await apiCall(port, 'POST', '/access/tfa/alice@pbs', { headers: alice, form: { ...form, type: 'webauthn' } });
    assert.equal(badType.body.code, 'BULWARK_INVALID_ARGUMENT');

    const bob = session((await login({ username: 'bob@pbs', password: PASSWORD })).body.data!);
    const denied = await apiCall(port, 'POST', '/access/tfa/alice@pbs', { headers: bob, form: { ...form, password: PASSWORD } });
    assert.equal(denied.status, 403);
    assert.match(denied.body.message!, /Permissions\.Modify on \/access\/users/);
    assert.equal((await apiCall(port, 'GET', '/access/tfa/alice@pbs', { headers: bob })).status, 403);

    const added = await apiCall<{ id: string }>(port, 'POST', '/access/tfa/alice@pbs', { headers: alice, form });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    totpId = added.body.data!.id;
    const list = await apiCall<unknown[]>(port, 'GET', '/access/tfa/alice@pbs', { headers: alice });
    assert.deepEqual(list.body.data, [{ type: 'totp', id: totpId, description: 'phone', created: Math.floor(clock.now() / 1000) }]);
    assert.ok(!JSON.stringify(list.body).includes(SECRET), 'the secret is never shown again');
    assert.deepEqual((await apiCall(port, 'GET', '/access/tfa', { headers: bob })).body.data, [], 'bob sees only his own');
  });

  test('login: the password gives a partial ticket that opens nothing; a wrong code fails; the right one gives a working ticket', async () => {
    nextStep(); // the code that confirmed the entry is used up
    const challenge = await partial();
    assert.match(challenge, /^PBS:!tfa!/);
    const step1 = await login({ username: 'alice@pbs', password: PASSWORD });
    assert.equal(step1.body.data!.CSRFPreventionToken, 'invalid');
    assert.equal((await apiCall(port, 'GET', '/access/tfa', { headers: cookieOnly(challenge) })).status, 401, 'not an API ticket');
    assert.equal((await login({ username: 'alice@pbs', password: challenge })).status, 401, 'not a renewable ticket');
    assert.equal((await second(challenge, 'totp:000000')).status, 401);
    assert.equal((await second(challenge, totp())).status, 401, 'the response needs its totp: prefix');
    const done = await second(challenge, `totp:${totp()}`);
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.data!.username, 'alice@pbs');
    assert.equal(done.body.data!.NeedTFA, undefined);
    const list = await apiCall<{ userid: string }[]>(port, 'GET', '/access/tfa', { headers: cookieOnly(done.body.data!.ticket) });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.data!.map((u) => u.userid), ['alice@pbs']);
    // The full ticket renews without a second factor (it was issued after one).
    const renewed = await login({ username: 'alice@pbs', password: done.body.data!.ticket });
    assert.equal(renewed.status, 200);
    assert.equal(renewed.body.data!.NeedTFA, undefined);
    alice = session(renewed.body.data!);
  });

  test('a code is accepted once; another user’s partial ticket does not fit', async () => {
    const used = totp(); // accepted in the previous test, same step
    assert.equal((await second(await partial(), `totp:${used}`)).status, 401);
    clock.advance(LIMIT_WINDOW); // four failures from this address so far; start a fresh count
    const bobChallenge = auth.tfa.createPartialTicket('bob@pbs', { totp: true }, clock.now());
    assert.equal((await second(bobChallenge, `totp:${totp()}`)).status, 401);
    assert.equal((await second(await partial(), `totp:${totp()}`)).status, 200);
  });

  test('recovery codes: returned once at creation, each logs in once', async () => {
    const r = await apiCall<{ id: string; recovery: string[] }>(port, 'POST', '/access/tfa/alice@pbs', { headers: alice, form: { type: 'recovery', password: PASSWORD } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.data!.id, 'recovery');
    recovery = r.body.data!.recovery;
    assert.equal(recovery.length, 10);
    const again = await apiCall(port, 'POST', '/access/tfa/alice@pbs', { headers: alice, form: { type: 'recovery', password: PASSWORD } });
    assert.equal(again.body.code, 'BULWARK_ALREADY_EXISTS');
    const entry = await apiCall<Record<string, unknown>>(port, 'GET', '/access/tfa/alice@pbs/recovery', { headers: alice });
    assert.deepEqual(Object.keys(entry.body.data!).sort(), ['created', 'id', 'type'], 'no codes in the entry');

    const ok = await second(await partial(), `recovery:${recovery[0]}`);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await apiCall(port, 'GET', '/access/tfa', { headers: cookieOnly(ok.body.data!.ticket) })).status, 200);
    assert.equal((await second(await partial(), `recovery:${recovery[0]}`)).status, 401, 'second use');
    assert.equal((await second(await partial(), `recovery:${recovery[1]}`)).status, 200);
  });

  test('an admin lists everyone and removes alice’s recovery codes with his own password', async () => {
    const admin = session((await login({ username: 'admin@pbs', password: PASSWORD })).body.data!);
    const all = await apiCall<{ userid: string; entries: { type: string }[] }[]>(port, 'GET', '/access/tfa', { headers: admin });
    assert.deepEqual(all.body.data!.map((u) => [u.userid, u.entries.map((e) => e.type)]), [['alice@pbs', ['recovery', 'totp']]]);
    assert.equal((await apiCall(port, 'DELETE', '/access/tfa/alice@pbs/recovery', { headers: admin })).status, 401, 'no password');
    const del = await apiCall(port, 'DELETE', `/access/tfa/alice@pbs/recovery?password=${encodeURIComponent(PASSWORD)}`, { headers: admin });
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.equal((await apiCall(port, 'GET', '/access/tfa/alice@pbs/recovery', { headers: admin })).status, 404);
    assert.equal((await second(await partial(), `recovery:${recovery[2]}`)).status, 401);
    const entry = await apiCall<{ id: string }>(port, 'GET', `/access/tfa/alice@pbs/${totpId}`, { headers: admin });
    assert.equal(entry.body.data!.id, totpId);
  });

  test('a ticket changed in one byte is refused; so is one past its 2 h lifetime', async () => {
    nextStep();
    const done = await second(await partial(), `totp:${totp()}`);
    const ticket = done.body.data!.ticket;
    assert.equal((await apiCall(port, 'GET', '/access/tfa', { headers: cookieOnly(ticket) })).status, 200);
    for (const i of [4, ticket.indexOf('::') - 1, ticket.length - 5]) {
      const tampered = ticket.slice(0, i) + (ticket[i] === 'A' ? 'B' : 'A') + ticket.slice(i + 1);
      const r = await apiCall(port, 'GET', '/access/tfa', { headers: cookieOnly(tampered) });
      assert.equal(r.status, 401, `byte ${i}`);
      assert.equal(r.body.code, 'BULWARK_UNAUTHORIZED');
    }
    clock.advance(2 * 3600_000 + 1000);
    const expired = await apiCall(port, 'GET', '/access/tfa', { headers: cookieOnly(ticket) });
    assert.equal(expired.status, 401);
    assert.match(expired.body.message!, /expired/);
  });

  test('second-factor failures count for the login limit: after five, even the right code is refused with 429 (keep last)', async () => {
    clock.advance(LIMIT_WINDOW); // earlier failures leave the limiter's window
    const challenge = await partial();
    for (let i = 0; i < 5; i++) assert.equal((await second(challenge, `totp:00000${i}`)).status, 401, `guess ${i}`);
    const refused = await second(challenge, `totp:${totp()}`);
    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, 'BULWARK_RATE_LIMITED');
    assert.equal((await login({ username: 'alice@pbs', password: PASSWORD })).status, 429, 'the password step too');
    const wait = auth.limiter.retryAfter('alice@pbs', '127.0.0.1');
    assert.ok(wait > 0);
    clock.advance(wait * 1000);
    assert.equal((await second(await partial(), `totp:${totp()}`)).status, 200);
  });
});
