import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { generateSync } from 'otplib';
import {
  loginChallenge, newRecovery, parseTfaResponse, parseTotpUri, useRecoveryCode, verifyTotp, PARTIAL_TICKET_LIFETIME,
} from '../../auth/tfa.ts';
import { loadTfaConfig, updateTfaConfig } from '../../config/tfa-config.ts';
import { standardAuth, T0 } from '../helpers/auth-fixtures.ts';

const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'; // 20 bytes
const URI = `otpauth://totp/Bulwark:alice%40pbs?secret=${SECRET}&issuer=Bulwark`;
const KEY = parseTotpUri(URI);
/** The code for the step holding `ms`. */
const code = (ms: number): string => generateSync({ secret: SECRET, epoch: Math.floor(ms / 1000) });
const STEP0 = Math.floor(T0 / 1000 / 30); // T0 is on a step boundary
const MID = T0 + 15_000; // the middle of STEP0

const s = standardAuth();
after(() => s.remove());
const tfa = s.auth.tfa;
const invalidArg = { code: 'BULWARK_INVALID_ARGUMENT' };

describe('TOTP', () => {
  test('parses PBS-style URIs and refuses bad ones', () => {
    assert.deepEqual(KEY, { secret: SECRET, algorithm: 'sha1', digits: 6, period: 30 });
    assert.equal(parseTotpUri(`otpauth://totp/x?secret=${SECRET.toLowerCase()}&algorithm=SHA256&digits=8&period=60`).algorithm, 'sha256');
    for (const bad of [
      'https://example.com/?secret=' + SECRET,
      `otpauth://hotp/x?secret=${SECRET}`,
      'otpauth://totp/x?secret=JBSWY3DPEHPK3PXP', // 80 bits: too short
      'otpauth://totp/x?secret=not-base32!!',
      'otpauth://totp/x',
      `otpauth://totp/x?secret=${SECRET}&digits=7`,
      `otpauth://totp/x?secret=${SECRET}&algorithm=MD5`,
      `otpauth://totp/x?secret=${SECRET}&period=0`,
      'not a uri',
    ]) assert.throws(() => parseTotpUri(bad), invalidArg, bad);
  });

  test('accepts the code of the current step and one step either side, nothing further', () => {
    assert.equal(verifyTotp(KEY, code(MID), MID), STEP0);
    assert.equal(verifyTotp(KEY, code(MID - 30_000), MID), STEP0 - 1);
    assert.equal(verifyTotp(KEY, code(MID + 30_000), MID), STEP0 + 1);
    assert.equal(verifyTotp(KEY, code(MID - 60_000), MID), undefined);
    assert.equal(verifyTotp(KEY, code(MID + 60_000), MID), undefined);
  });

  test('after a step was used, that step and older ones are refused; a clock gone back refuses too', () => {
    assert.equal(verifyTotp(KEY, code(MID), MID, STEP0), undefined);
    assert.equal(verifyTotp(KEY, code(MID - 30_000), MID, STEP0), undefined);
    assert.equal(verifyTotp(KEY, code(MID + 30_000), MID, STEP0), STEP0 + 1);
    assert.equal(verifyTotp(KEY, code(MID), MID, STEP0 + 5), undefined);
  });

  test('wrong and malformed codes are refused', () => {
    const right = code(MID);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    for (const c of [wrong, '', '12345', '1234567', 'abcdef', ` ${right}`]) assert.equal(verifyTotp(KEY, c, MID), undefined, c);
  });
});

describe('recovery codes', () => {
  test('ten codes of 64 bits, stored only as salted HMACs', () => {
    const { data, codes } = newRecovery(T0);
    assert.equal(codes.length, 10);
    for (const c of codes) assert.match(c, /^[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}$/);
    assert.equal(new Set(codes).size, 10);
    const stored = JSON.stringify(data);
    for (const c of codes) assert.ok(!stored.includes(c) && !stored.includes(c.replace(/-/g, '')));
    assert.notDeepEqual(newRecovery(T0).data.entries, data.entries, 'a fresh salt each time');
  });

  test('each code works once; wrong codes never', () => {
    const { data, codes } = newRecovery(T0);
    const once = useRecoveryCode(data, codes[3]!);
    assert.ok(once);
    assert.equal(once.entries[3], null);
    assert.equal(once.entries.filter((e) => e === null).length, 1);
    assert.equal(useRecoveryCode(once, codes[3]!), undefined, 'second use');
    assert.ok(useRecoveryCode(once, codes[4]!.toUpperCase()), 'case does not matter');
    assert.equal(useRecoveryCode(data, '0000-0000-0000-0000'), undefined);
    assert.equal(useRecoveryCode(data, ''), undefined);
  });
});

describe('challenge and response parsing', () => {
  test('a second factor is needed for an enabled TOTP or any recovery set, as in PBS', () => {
    const totp = { id: 'a', description: '', created: 0, enable: true, entry: URI };
    assert.equal(loginChallenge(undefined), undefined);
    assert.equal(loginChallenge({ totp: [{ ...totp, enable: false }] }), undefined);
    assert.deepEqual(loginChallenge({ totp: [totp] }), { totp: true });
    const { data } = newRecovery(T0);
    const used = { ...data, entries: data.entries.map((e, i) => (i === 0 ? e : null)) };
    assert.deepEqual(loginChallenge({ totp: [], recovery: used }), { recovery: [0] });
    assert.deepEqual(loginChallenge({ totp: [], recovery: { ...data, entries: data.entries.map(() => null) } }), { recovery: [] });
  });

  test('responses are totp:<code> or recovery:<code>', () => {
    assert.deepEqual(parseTfaResponse('totp:123456'), { kind: 'totp', value: '123456' });
    assert.deepEqual(parseTfaResponse('recovery:ab-cd'), { kind: 'recovery', value: 'ab-cd' });
    for (const bad of ['123456', 'totp:', 'u2f:{}', 'webauthn:{}', '']) assert.equal(parseTfaResponse(bad), undefined, bad);
  });
});

describe('TfaService: tfa.json and the consume-once rule', () => {
  test('adding TOTP needs a current code; the file is 0600 and keeps the URI, and the confirming code is used up', () => {
    s.clock.set(MID);
    assert.throws(() => tfa.addTotp('alice@pbs', 'phone', URI, code(MID - 60_000)), { code: 'BULWARK_INVALID_ARGUMENT', message: /value/ });
    const id = tfa.addTotp('alice@pbs', 'phone', URI, code(MID));
    assert.equal(statSync(s.paths.tfaConfig).mode & 0o777, 0o600);
    const stored = loadTfaConfig(s.paths.tfaConfig).data.users['alice@pbs']!.totp[0]!;
    assert.deepEqual({ ...stored }, { id, description: 'phone', created: T0 / 1000 + 15, enable: true, entry: URI, 'last-step': STEP0 });
    assert.deepEqual(tfa.entries('alice@pbs'), [{ type: 'totp', id, description: 'phone', created: T0 / 1000 + 15 }]);
    assert.equal(tfa.respond('alice@pbs', `totp:${code(MID)}`), false, 'the code that confirmed the entry');
  });

  test('a code works once: the replay of an accepted code is refused, the next step works', () => {
    s.clock.set(MID + 30_000);
    const c = code(MID + 30_000);
    assert.equal(tfa.respond('alice@pbs', `totp:${c}`), true);
    assert.equal(tfa.respond('alice@pbs', `totp:${c}`), false);
    s.clock.set(MID + 60_000);
    assert.equal(tfa.respond('alice@pbs', `totp:${c}`), false, 'still refused one step later, inside the window');
    assert.equal(tfa.respond('alice@pbs', `totp:${code(MID + 60_000)}`), true);
  });

  test('wrong responses change nothing on disk', () => {
    const before = readFileSync(s.paths.tfaConfig);
    for (const r of ['totp:000000', 'totp:', 'recovery:0000-0000-0000-0000', 'nonsense', `totp:${code(MID + 60_000)}`]) {
      assert.equal(tfa.respond('alice@pbs', r), false, r);
    }
    assert.equal(tfa.respond('admin@pbs', `totp:${code(MID + 60_000)}`), false, 'a user without second factors');
    assert.deepEqual(readFileSync(s.paths.tfaConfig), before);
  });

  test('recovery codes: shown once, each usable once, a second set is refused', () => {
    const codes = tfa.addRecovery('alice@pbs');
    assert.throws(() => tfa.addRecovery('alice@pbs'), { code: 'BULWARK_ALREADY_EXISTS' });
    assert.ok(!readFileSync(s.paths.tfaConfig, 'utf8').includes(codes[0]!));
    assert.equal(tfa.respond('alice@pbs', `recovery:${codes[0]}`), true);
    assert.equal(tfa.respond('alice@pbs', `recovery:${codes[0]}`), false);
    assert.deepEqual(tfa.challenge('alice@pbs'), { totp: true, recovery: [1, 2, 3, 4, 5, 6, 7, 8, 9] });
    assert.deepEqual(tfa.entries('alice@pbs').map((e) => e.type), ['recovery', 'totp']);
  });

  test('disable, re-enable and delete entries; unknown ids are 404; an empty user is dropped', () => {
    const { id } = tfa.entries('alice@pbs').find((e) => e.type === 'totp')!;
    tfa.update('alice@pbs', id, { enable: false });
    assert.deepEqual(tfa.entry('alice@pbs', id), { type: 'totp', id, description: 'phone', created: T0 / 1000 + 15, enable: false });
    assert.equal(tfa.respond('alice@pbs', `totp:${code(s.clock.now() + 30_000)}`), false, 'a disabled entry is not checked');
    tfa.update('alice@pbs', id, { description: 'new phone', enable: true });
    assert.equal(tfa.entry('alice@pbs', id).description, 'new phone');
    assert.throws(() => tfa.update('alice@pbs', 'nope', { enable: false }), { code: 'BULWARK_NOT_FOUND' });
    assert.throws(() => tfa.remove('alice@pbs', 'nope'), { code: 'BULWARK_NOT_FOUND' });
    assert.throws(() => tfa.entry('bob@pbs', 'recovery'), { code: 'BULWARK_NOT_FOUND' });
    tfa.remove('alice@pbs', 'recovery');
    tfa.remove('alice@pbs', id);
    assert.deepEqual(loadTfaConfig(s.paths.tfaConfig).data.users, {});
    assert.equal(tfa.challenge('alice@pbs'), undefined);
  });

  test('updates are digest-checked and a broken file is refused', () => {
    const { digest } = loadTfaConfig(s.paths.tfaConfig);
    assert.throws(() => updateTfaConfig(s.paths.tfaConfig, (c) => c, 'f'.repeat(64)), { code: 'BULWARK_CONFIG_DIGEST' });
    updateTfaConfig(s.paths.tfaConfig, (c) => c, digest);
    writeFileSync(s.paths.tfaConfig, JSON.stringify({ users: { 'alice@pbs': { totp: [{ id: 'x', created: 0, entry: 'http://x' }] } } }));
    assert.throws(() => loadTfaConfig(s.paths.tfaConfig), { code: 'BULWARK_CONFIG_INVALID' });
    writeFileSync(s.paths.tfaConfig, '{}');
  });
});

describe('partial tickets', () => {
  const challenge = { totp: true as const };

  test('verify for the user they were issued to, within 10 minutes', () => {
    const t = tfa.createPartialTicket('alice@pbs', challenge, T0);
    assert.match(t, /^PBS:!tfa!\{"totp"%3Atrue\}:[0-9A-F]{8}::[A-Za-z0-9+/]{86}$/);
    assert.deepEqual(tfa.verifyPartialTicket(t, 'alice@pbs', T0 + PARTIAL_TICKET_LIFETIME * 1000), challenge);
    const unauthorized = { code: 'BULWARK_UNAUTHORIZED' };
    assert.throws(() => tfa.verifyPartialTicket(t, 'admin@pbs', T0), unauthorized, 'another user');
    assert.throws(() => tfa.verifyPartialTicket(t, 'alice@pbs', T0 + (PARTIAL_TICKET_LIFETIME + 1) * 1000), unauthorized, 'expired');
    assert.throws(() => tfa.verifyPartialTicket(t, 'alice@pbs', T0 - 61_000), unauthorized, 'from the future');
    const flipped = t.slice(0, 12) + (t[12] === 'A' ? 'B' : 'A') + t.slice(13);
    assert.throws(() => tfa.verifyPartialTicket(flipped, 'alice@pbs', T0), unauthorized, 'tampered');
    assert.throws(() => tfa.verifyPartialTicket(s.auth.keys.createTicket('alice@pbs', T0), 'alice@pbs', T0), unauthorized, 'a full ticket');
  });

  test('is never accepted as a full ticket', () => {
    const t = tfa.createPartialTicket('alice@pbs', challenge, T0);
    assert.throws(() => s.auth.keys.verifyTicket(t, T0), { code: 'BULWARK_UNAUTHORIZED' });
    assert.throws(() => s.auth.authenticate({ cookie: `PBSAuthCookie=${encodeURIComponent(t)}` }, ''), { code: 'BULWARK_UNAUTHORIZED' });
  });
});
