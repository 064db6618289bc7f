import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken } from '../../auth/tokens.ts';
import { addAclEntry } from '../../config/user-config.ts';
import { PASSWORD, standardAuth, T0 } from '../helpers/auth-fixtures.ts';

const s = standardAuth();
after(() => s.remove());
const { auth, clock, paths } = s;
const invalid = (e: unknown) =>
  (e as { code?: string }).code === 'BULWARK_UNAUTHORIZED' && (e as Error).message === 'authentication failed: invalid credentials';

test('password login returns a ticket and CSRF token that verify', async () => {
  const r = await auth.login('alice@pbs', PASSWORD, '10.0.0.1');
  assert.equal(r.username, 'alice@pbs');
  assert.equal(auth.keys.verifyTicket(r.ticket, T0), 'alice@pbs');
  auth.keys.verifyCsrf('alice@pbs', r.CSRFPreventionToken, T0);
});

test('every bad login gives the same generic error', async () => {
  const attempts: [string, string][] = [
    ['alice@pbs', 'wrong'],
    ['ghost@pbs', PASSWORD], // no such user
    ['off@pbs', PASSWORD], // disabled
    ['old@pbs', PASSWORD], // expired
    ['alice@pam', PASSWORD], // other realm
    ['alice@pbs!ci', PASSWORD], // tokens cannot log in
    ['not a user', PASSWORD],
  ];
  for (const [i, [user, pw]] of attempts.entries()) await assert.rejects(auth.login(user, pw, `10.1.0.${i}`), invalid, user);
});

test('a valid ticket of the same user renews it; other users’ or stale tickets do not', async () => {
  const old = auth.keys.createTicket('alice@pbs', T0 - 3600_000);
  const renewed = await auth.login('alice@pbs', old, '10.2.0.1');
  assert.equal(auth.keys.verifyTicket(renewed.ticket, T0), 'alice@pbs');
  assert.notEqual(renewed.ticket, old);
  await assert.rejects(auth.login('admin@pbs', old, '10.2.0.2'), invalid);
  await assert.rejects(auth.login('alice@pbs', auth.keys.createTicket('alice@pbs', T0 - 7201_000), '10.2.0.3'), invalid);
  await assert.rejects(auth.login('off@pbs', auth.keys.createTicket('off@pbs', T0), '10.2.0.4'), invalid);
});

test('five failures block the user, even with the right password, until the block ends', async () => {
  auth.limiter.recordSuccess('admin@pbs'); // forget the failure of the previous test
  for (let i = 0; i < 5; i++) await assert.rejects(auth.login('admin@pbs', `wrong${i}`, `10.3.0.${i}`), invalid);
  await assert.rejects(auth.login('admin@pbs', PASSWORD, '10.3.1.1'), { code: 'BULWARK_RATE_LIMITED' });
  clock.advance(60_000);
  assert.equal((await auth.login('admin@pbs', PASSWORD, '10.3.1.1')).username, 'admin@pbs');
  clock.set(T0);
});

test('privileges and check follow the ACL, with PBS’s message on refusal', () => {
  assert.ok(auth.privileges('admin@pbs', '/system').has('Sys.Modify'));
  auth.check('alice@pbs', '/datastore/store1/ns1', 'Datastore.Backup');
  auth.check('alice@pbs', '/datastore/store1', ['Datastore.Backup', 'Datastore.Modify'], { partial: true });
  assert.throws(() => auth.check('alice@pbs', '/datastore/store1', ['Datastore.Backup', 'Datastore.Modify']),
    (e: Error & { code?: string }) => e.code === 'BULWARK_FORBIDDEN'
      && e.message === 'permission check failed: alice@pbs needs Datastore.Backup&Datastore.Modify on /datastore/store1');
  assert.throws(() => auth.check('alice@pbs', '/datastore/store2/', ['Datastore.Audit', 'Datastore.Read'], { partial: true }),
    (e: Error & { code?: string }) => e.code === 'BULWARK_FORBIDDEN' && /Datastore\.Audit\|Datastore\.Read on \/datastore\/store2$/.test(e.message));
  assert.throws(() => auth.check('alice@pbs', 'relative', 'Datastore.Audit'), { code: 'BULWARK_INVALID_ARGUMENT' });
});

test('a token is capped by its user, and ACL edits apply without a restart', () => {
  const { tokenid } = createToken(paths, 'alice@pbs', 'wide');
  addAclEntry(paths.aclConfig, { path: '/datastore', ugid: tokenid, roleid: 'DatastoreAdmin', propagate: true });
  assert.deepEqual([...auth.privileges(tokenid, '/datastore/store1')], ['Datastore.Backup']);
  assert.throws(() => auth.check(tokenid, '/datastore/store1', 'Datastore.Prune'), { code: 'BULWARK_FORBIDDEN' });
  addAclEntry(paths.aclConfig, { path: '/datastore/store1', ugid: 'alice@pbs', roleid: 'DatastorePowerUser', propagate: true });
  auth.check(tokenid, '/datastore/store1', 'Datastore.Prune');
  assert.ok(auth.isActive(tokenid));
});
