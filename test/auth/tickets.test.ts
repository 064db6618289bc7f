import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createPublicKey, verify } from 'node:crypto';
import { AuthKeys, CSRF_LIFETIME, TICKET_LIFETIME } from '../../auth/tickets.ts';
import { makeAuthDir, T0 } from '../helpers/auth-fixtures.ts';

const d = makeAuthDir();
after(() => d.remove());
const keys = AuthKeys.load(d.paths);
const S = 1000;
const unauthorized = (why: RegExp) => (e: unknown) =>
  (e as { code?: string }).code === 'BULWARK_UNAUTHORIZED' && why.test((e as Error).message);

test('key files are created on first use with mode 0600 and reused afterwards', () => {
  assert.equal(statSync(d.paths.authKey).mode & 0o777, 0o600);
  assert.equal(statSync(d.paths.csrfKey).mode & 0o777, 0o600);
  assert.match(readFileSync(d.paths.authKey, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  const again = AuthKeys.load(d.paths);
  assert.equal(again.verifyTicket(keys.createTicket('alice@pbs', T0), T0), 'alice@pbs');
  assert.equal(again.publicKeyPem(), keys.publicKeyPem());
  again.verifyCsrf('alice@pbs', keys.createCsrf('alice@pbs', T0), T0);
});

test('a ticket has the PBS shape and round-trips; the public key alone verifies it', () => {
  const ticket = keys.createTicket('alice@pbs', T0);
  const hex = Math.floor(T0 / 1000).toString(16).toUpperCase();
  assert.match(ticket, new RegExp(`^PBS:alice@pbs:${hex}::[A-Za-z0-9+/]{86}$`));
  assert.equal(keys.verifyTicket(ticket, T0 + 3600 * S), 'alice@pbs');
  const [data, sig] = ticket.split('::') as [string, string];
  assert.ok(verify(null, Buffer.from(data), createPublicKey(keys.publicKeyPem()), Buffer.from(sig, 'base64')));
});

test('a ticket changed in any single byte is rejected', () => {
  const ticket = keys.createTicket('alice@pbs', T0);
  for (let i = 0; i < ticket.length; i++) {
    const c = ticket.charCodeAt(i);
    const tampered = ticket.slice(0, i) + String.fromCharCode(c === 0x41 ? 0x42 : c ^ 1) + ticket.slice(i + 1);
    assert.throws(() => keys.verifyTicket(tampered, T0), { code: 'BULWARK_UNAUTHORIZED' }, `byte ${i}`);
  }
  // A different last two characters (never the same as the real ones).
  const tail = ticket.endsWith('AA') ? 'BB' : 'AA';
  assert.throws(() => keys.verifyTicket(`${ticket.slice(0, -2)}${tail}`, T0), unauthorized(/signature|malformed/));
});

test('a ticket signed by another key is a bad signature', () => {
  const other = makeAuthDir();
  try {
    const foreign = AuthKeys.load(other.paths).createTicket('admin@pbs', T0);
    assert.throws(() => keys.verifyTicket(foreign, T0), unauthorized(/bad ticket signature/));
  } finally {
    other.remove();
  }
});

test('malformed tickets are rejected as malformed', () => {
  const good = keys.createTicket('alice@pbs', T0);
  const sig = good.split('::')[1]!;
  for (const bad of ['', 'PBS', 'garbage::', `PVE:alice@pbs:${'0'.repeat(8)}::${sig}`, `PBS:alice@pbs:12345::${sig}`,
    `PBS:alice@pbs!tok:665A6480::${sig}`, `PBS:!tfa!{}:665A6480::${sig}`, `PBS:a:b:665A6480::${sig}`, `${good}=`]) {
    assert.throws(() => keys.verifyTicket(bad, T0), unauthorized(/malformed/), bad);
  }
});

test('lifetime: valid for 2 h, expired after; up to 5 min from the future is accepted', () => {
  const ticket = keys.createTicket('alice@pbs', T0);
  assert.equal(keys.verifyTicket(ticket, T0 + TICKET_LIFETIME * S), 'alice@pbs');
  assert.throws(() => keys.verifyTicket(ticket, T0 + (TICKET_LIFETIME + 1) * S), unauthorized(/expired/));
  assert.equal(keys.verifyTicket(ticket, T0 - 300 * S), 'alice@pbs', 'issued by a clock 5 min ahead');
  assert.throws(() => keys.verifyTicket(ticket, T0 - 301 * S), unauthorized(/future/));
});

test('tokens cannot get tickets', () => {
  assert.throws(() => keys.createTicket('alice@pbs!ci', T0), { code: 'BULWARK_INVALID_ARGUMENT' });
  assert.throws(() => keys.createTicket('not an authid', T0), { code: 'BULWARK_INVALID_NAME' });
});

test('CSRF tokens: PBS shape, bound to the auth id, valid 2 h', () => {
  const token = keys.createCsrf('alice@pbs', T0);
  assert.match(token, /^[0-9A-F]{8}:[A-Za-z0-9+/]{43}$/);
  keys.verifyCsrf('alice@pbs', token, T0 + CSRF_LIFETIME * S);
  assert.throws(() => keys.verifyCsrf('alice@pbs', token, T0 + (CSRF_LIFETIME + 1) * S), unauthorized(/expired/));
  assert.throws(() => keys.verifyCsrf('alice@pbs', token, T0 - 301 * S), unauthorized(/expired/));
  assert.throws(() => keys.verifyCsrf('admin@pbs', token, T0), unauthorized(/invalid CSRF/));
  const later = keys.createCsrf('alice@pbs', T0 + 60 * S);
  const forged = `${later.slice(0, 8)}:${token.slice(9)}`; // new time, old MAC
  assert.throws(() => keys.verifyCsrf('alice@pbs', forged, T0 + 60 * S), unauthorized(/invalid CSRF/));
  for (const bad of ['', 'x', token.toLowerCase(), `${token}=`]) {
    assert.throws(() => keys.verifyCsrf('alice@pbs', bad, T0), unauthorized(/invalid CSRF/), bad);
  }
});

test('a corrupt key file is a config error, not a silent new key', () => {
  const other = makeAuthDir();
  try {
    writeFileSync(other.paths.authKey, 'not a key', { mode: 0o600 });
    assert.throws(() => AuthKeys.load(other.paths), { code: 'BULWARK_CONFIG_INVALID' });
  } finally {
    other.remove();
  }
});
