import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { authenticate, cookieValue, parseTokenAuthorization, requireCsrf } from '../../auth/authenticate.ts';
import { createToken } from '../../auth/tokens.ts';
import { saveUser } from '../../config/user-config.ts';
import { standardAuth, T0 } from '../helpers/auth-fixtures.ts';

const s = standardAuth();
after(() => s.remove());
const { auth, paths } = s;
const ci = createToken(paths, 'alice@pbs', 'ci');
const expiring = createToken(paths, 'alice@pbs', 'short', { expire: Math.floor(T0 / 1000) + 60 });
const disabled = createToken(paths, 'alice@pbs', 'off', { enable: false });
const offUserToken = createToken(paths, 'off@pbs', 'ci');
const cookie = (ticket: string) => ({ cookie: `other=1; PBSAuthCookie=${encodeURIComponent(ticket)}; x=y` });
const rejects = (why: RegExp) => (e: unknown) =>
  (e as { code?: string }).code === 'BULWARK_UNAUTHORIZED' && why.test((e as Error).message);

test('API token in both header forms', () => {
  for (const header of [`PBSAPIToken=${ci.tokenid}:${ci.value}`, `PBSAPIToken ${ci.tokenid}:${ci.value}`]) {
    assert.deepEqual(auth.authenticate({ authorization: header }, '10.0.0.1'),
      { authid: 'alice@pbs!ci', userid: 'alice@pbs', tokenName: 'ci', via: 'token' });
  }
  assert.deepEqual(authenticate(auth, { Authorization: `PBSAPIToken=${ci.tokenid}:${encodeURIComponent(ci.value)}` }, T0).authid, ci.tokenid);
});

test('wrong, unknown and malformed tokens are rejected', () => {
  const bad = [
    // The secret with its last character changed (to a different one: a UUID may well end in '0').
    `PBSAPIToken=${ci.tokenid}:${ci.value.slice(0, -1)}${ci.value.endsWith('0') ? '1' : '0'}`,
    `PBSAPIToken=alice@pbs!nope:${ci.value}`,
    `PBSAPIToken=bob@pbs!ci:${ci.value}`,
    `PBSAPIToken=alice@pbs:${ci.value}`,
    `PBSAPIToken=${ci.tokenid}`,
    `PBSAPIToken=garbage:${ci.value}`,
    `PBSAPIToken=${ci.tokenid}:%zz`,
  ];
  for (const header of bad) assert.throws(() => auth.authenticate({ authorization: header }, ''), { code: 'BULWARK_UNAUTHORIZED' }, header);
  assert.throws(() => auth.authenticate({ authorization: `Bearer ${ci.value}` }, ''), rejects(/no credentials/));
  assert.throws(() => auth.authenticate({}, ''), rejects(/no credentials/));
});

test('disabled or expired tokens, and tokens of a disabled user, are rejected', () => {
  assert.throws(() => auth.authenticate({ authorization: `PBSAPIToken=${disabled.tokenid}:${disabled.value}` }, ''), rejects(/disabled or expired/));
  assert.throws(() => auth.authenticate({ authorization: `PBSAPIToken=${offUserToken.tokenid}:${offUserToken.value}` }, ''), rejects(/disabled or expired/));
  const header = { authorization: `PBSAPIToken=${expiring.tokenid}:${expiring.value}` };
  assert.equal(authenticate(auth, header, T0 + 59_000).authid, expiring.tokenid);
  assert.throws(() => authenticate(auth, header, T0 + 60_000), rejects(/disabled or expired/));
});

test('ticket cookie authenticates; tampered, expired and disabled-user tickets do not', () => {
  const ticket = auth.keys.createTicket('alice@pbs', T0);
  assert.deepEqual(auth.authenticate(cookie(ticket), ''), { authid: 'alice@pbs', userid: 'alice@pbs', via: 'ticket' });
  assert.throws(() => auth.authenticate(cookie(ticket.replace('alice', 'admin')), ''), rejects(/signature/));
  assert.throws(() => authenticate(auth, cookie(ticket), T0 + 7201_000), rejects(/expired/));
  assert.throws(() => auth.authenticate(cookie(auth.keys.createTicket('off@pbs', T0)), ''), rejects(/disabled or expired/));
  assert.throws(() => auth.authenticate(cookie(auth.keys.createTicket('old@pbs', T0)), ''), rejects(/disabled or expired/));
  assert.throws(() => auth.authenticate(cookie(auth.keys.createTicket('ghost@pbs', T0)), ''), rejects(/disabled or expired/));
  assert.throws(() => auth.authenticate({ cookie: 'PBSAuthCookie=%E0%A4%A' }, ''), rejects(/malformed/));
});

test('a user disabled after the ticket was issued is locked out at once', () => {
  const ticket = auth.keys.createTicket('admin@pbs', T0);
  auth.authenticate(cookie(ticket), '');
  saveUser(paths.userConfig, { userid: 'admin@pbs', enable: false });
  assert.throws(() => auth.authenticate(cookie(ticket), ''), rejects(/disabled/));
  assert.equal(auth.isActive('admin@pbs'), false);
  saveUser(paths.userConfig, { userid: 'admin@pbs', enable: true });
  auth.authenticate(cookie(ticket), '');
});

test('CSRF: required for ticket writes, not for tokens', () => {
  const ticketCtx = auth.authenticate(cookie(auth.keys.createTicket('alice@pbs', T0)), '');
  const tokenCtx = auth.authenticate({ authorization: `PBSAPIToken=${ci.tokenid}:${ci.value}` }, '');
  auth.requireCsrf(tokenCtx, {});
  assert.throws(() => auth.requireCsrf(ticketCtx, {}), rejects(/missing CSRF/));
  assert.throws(() => auth.requireCsrf(ticketCtx, { csrfpreventiontoken: auth.keys.createCsrf('admin@pbs', T0) }), rejects(/invalid CSRF/));
  const good = auth.keys.createCsrf('alice@pbs', T0);
  auth.requireCsrf(ticketCtx, { csrfpreventiontoken: good });
  requireCsrf(ticketCtx, { CSRFPreventionToken: good }, auth.keys, T0 + 3600_000);
  assert.throws(() => requireCsrf(ticketCtx, { csrfpreventiontoken: good }, auth.keys, T0 + 7201_000), rejects(/expired/));
});

test('header helpers', () => {
  assert.equal(cookieValue('a=1;PBSAuthCookie=x%3Ay ; b=2', 'PBSAuthCookie'), 'x%3Ay');
  assert.equal(cookieValue('XPBSAuthCookie=1', 'PBSAuthCookie'), undefined);
  assert.equal(parseTokenAuthorization('PBSAPITokenX=a:b'), undefined);
  assert.deepEqual(parseTokenAuthorization('PBSAPIToken=a@pbs!t:s:e:c'), { tokenid: 'a@pbs!t', secret: 's:e:c' });
});
