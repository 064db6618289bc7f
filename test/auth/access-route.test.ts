import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSWORD, standardAuth, startAccessApp, T0, type TestApp } from '../helpers/auth-fixtures.ts';

const s = standardAuth();
let app: TestApp;
before(async () => { app = await startAccessApp(s.auth); });
after(() => { app.close(); s.remove(); });

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const post = (body: string, headers: Record<string, string> = FORM) =>
  fetch(`${app.url}/api2/json/access/ticket`, { method: 'POST', headers, body });

test('POST with a form body (as PBS clients send) returns PBS’s login reply', async () => {
  const res = await post(new URLSearchParams({ username: 'alice@pbs', password: PASSWORD }).toString());
  assert.equal(res.status, 200);
  const body = await res.json() as { data: { username: string; ticket: string; CSRFPreventionToken: string } };
  assert.deepEqual(Object.keys(body.data).sort(), ['CSRFPreventionToken', 'ticket', 'username']);
  assert.equal(body.data.username, 'alice@pbs');
  assert.equal(s.auth.keys.verifyTicket(body.data.ticket, T0), 'alice@pbs');
  s.auth.keys.verifyCsrf('alice@pbs', body.data.CSRFPreventionToken, T0);
  // The ticket works as the cookie, and as the password to renew itself.
  assert.equal(s.auth.authenticate({ cookie: `PBSAuthCookie=${encodeURIComponent(body.data.ticket)}` }, '').authid, 'alice@pbs');
  const renew = await post(new URLSearchParams({ username: 'alice@pbs', password: body.data.ticket }).toString());
  assert.equal(renew.status, 200);
});

test('JSON body and user name plus realm are accepted', async () => {
  const res = await post(JSON.stringify({ username: 'admin', realm: 'pbs', password: PASSWORD }), { 'content-type': 'application/json' });
  assert.equal(res.status, 200);
  assert.equal((await res.json() as { data: { username: string } }).data.username, 'admin@pbs');
});

test('wrong password and unknown user get the same 401', async () => {
  const replies = [];
  for (const username of ['alice@pbs', 'ghost@pbs']) {
    const res = await post(new URLSearchParams({ username, password: 'nope' }).toString());
    assert.equal(res.status, 401);
    replies.push(await res.json());
  }
  assert.deepEqual(replies[0], { data: null, message: 'authentication failed: invalid credentials', code: 'BULWARK_UNAUTHORIZED' });
  assert.deepEqual(replies[1], replies[0]);
});

test('missing parameters and bad JSON are 400', async () => {
  assert.equal((await post('password=x')).status, 400);
  assert.equal((await post('username=alice%40pbs')).status, 400);
  const bad = await post('{nope', { 'content-type': 'application/json' });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json() as { code: string }).code, 'BULWARK_INVALID_ARGUMENT');
});

test('GET /access/ticket returns data null', async () => {
  const res = await fetch(`${app.url}/api2/json/access/ticket`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { data: null });
});

test('repeated failures from one address end in 429 BULWARK_RATE_LIMITED (keep this test last)', async () => {
  let last: Response | undefined;
  for (let i = 0; i < 6; i++) {
    last = await post(new URLSearchParams({ username: `ghost${i}@pbs`, password: 'nope' }).toString());
    if (last.status !== 401) break;
  }
  assert.equal(last!.status, 429);
  assert.equal((await last!.json() as { code: string }).code, 'BULWARK_RATE_LIMITED');
});
