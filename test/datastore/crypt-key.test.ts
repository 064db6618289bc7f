import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { formatFingerprint, generateKey, keyFromBytes, loadKeyFile, saveKeyFile, type KeyFile } from '../../datastore/crypt-key.ts';
import { removeDir, tempDir } from '../helpers/chunk-fixtures.ts';

const dir = tempDir();
after(() => removeDir(dir));

const CHEAP = { scrypt: { n: 1024, r: 8, p: 1 } };
const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

describe('CryptKey', () => {
  test('generateKey gives distinct 32-byte keys', () => {
    const a = generateKey();
    const b = generateKey();
    assert.equal(a.key.length, 32);
    assert.notDeepEqual(a.key, b.key);
    assert.notDeepEqual(a.fingerprint, b.fingerprint);
  });

  test('keyFromBytes refuses anything but 32 bytes (BULWARK_INVALID_KEY)', () => {
    for (const len of [0, 16, 31, 33, 64]) {
      assert.throws(() => keyFromBytes(Buffer.alloc(len)), { code: 'BULWARK_INVALID_KEY' }, `length ${len}`);
    }
  });

  test('keyFromBytes copies its input', () => {
    const mine = Buffer.from(bytes);
    const key = keyFromBytes(mine);
    mine.fill(0);
    assert.deepEqual(key.key, bytes);
  });

  test('idKey and fingerprint follow the PBS derivation', () => {
    const key = keyFromBytes(bytes);
    const idKey = pbkdf2Sync(bytes, '_id_key', 10, 32, 'sha256');
    assert.deepEqual(key.idKey, idKey);
    const input = createHash('sha256').update('Proxmox Backup Encryption Key Fingerprint').digest();
    assert.deepEqual(key.fingerprint, createHash('sha256').update(input).update(idKey).digest());
    assert.notDeepEqual(key.idKey, key.key);
  });

  test('fingerprints print as 32 colon-separated hex bytes', () => {
    const key = keyFromBytes(bytes);
    assert.match(key.fingerprintText, /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
    assert.equal(key.fingerprintText, formatFingerprint(key.fingerprint));
    assert.equal(formatFingerprint(Buffer.from([0, 10, 255])), '00:0a:ff');
  });

  test('authTag is HMAC-SHA256 keyed by idKey', () => {
    const key = keyFromBytes(bytes);
    assert.deepEqual(key.authTag('manifest'), createHmac('sha256', key.idKey).update('manifest').digest());
  });

  test('inspect and JSON show the fingerprint, never the key', () => {
    const key = keyFromBytes(bytes);
    const hex = bytes.toString('hex');
    assert.equal(inspect(key).includes(hex), false);
    assert.ok(inspect(key).includes(key.fingerprintText));
    assert.deepEqual(JSON.parse(JSON.stringify({ key })), { key: { fingerprint: key.fingerprintText } });
  });
});

describe('key files', () => {
  const now = () => Date.UTC(2024, 4, 1, 12, 0, 0);

  test('without a password: kdf null, data is the key, mode 0600, no temp file left', async () => {
    const key = generateKey();
    const path = join(dir, 'plain.json');
    await saveKeyFile(path, key, undefined, { now });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const file = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
    assert.deepEqual(file, {
      kdf: null,
      created: '2024-05-01T12:00:00Z',
      modified: '2024-05-01T12:00:00Z',
      data: key.key.toString('base64'),
      fingerprint: key.fingerprintText,
    });
    assert.deepEqual((await loadKeyFile(path)).key, key.key);
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
  });

  test('with a password: scrypt parameters recorded, key wrapped, round trip', async () => {
    const key = generateKey();
    const path = join(dir, 'pw.json');
    await saveKeyFile(path, key, 'correct horse', CHEAP);
    const file = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
    assert.deepEqual({ ...file.kdf!.scrypt, salt: undefined }, { n: 1024, r: 8, p: 1, salt: undefined });
    assert.equal(Buffer.from(file.kdf!.scrypt.salt, 'base64').length, 32);
    assert.equal(Buffer.from(file.data, 'base64').length, 16 + 16 + 32);
    assert.equal(file.data.includes(key.key.toString('base64')), false);
    assert.deepEqual((await loadKeyFile(path, 'correct horse')).key, key.key);
  });

  test('the default (PBS) scrypt cost works too', async () => {
    const key = generateKey();
    const path = join(dir, 'pw-default.json');
    await saveKeyFile(path, key, 'pw');
    const file = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
    assert.equal(file.kdf!.scrypt.n, 65536);
    assert.deepEqual((await loadKeyFile(path, 'pw')).fingerprint, key.fingerprint);
  });

  test('a wrong password is BULWARK_DECRYPT_FAILED', async () => {
    const path = join(dir, 'wrong.json');
    await saveKeyFile(path, generateKey(), 'right', CHEAP);
    await assert.rejects(loadKeyFile(path, 'wrong'), { code: 'BULWARK_DECRYPT_FAILED' });
  });

  test('a password-protected file without a password is BULWARK_KEY_REQUIRED', async () => {
    const path = join(dir, 'nopw.json');
    await saveKeyFile(path, generateKey(), 'right', CHEAP);
    await assert.rejects(loadKeyFile(path), { code: 'BULWARK_KEY_REQUIRED' });
  });

  test('a fingerprint that does not match the key is BULWARK_INVALID_KEY', async () => {
    const path = join(dir, 'fp.json');
    await saveKeyFile(path, generateKey());
    const file = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
    file.fingerprint = generateKey().fingerprintText;
    writeFileSync(path, JSON.stringify(file));
    await assert.rejects(loadKeyFile(path), { code: 'BULWARK_INVALID_KEY' });
  });

  test('malformed files are BULWARK_INVALID_KEY; a missing one BULWARK_NOT_FOUND', async () => {
    const cases: Record<string, string> = {
      'garbage.json': 'not json',
      'nodata.json': '{"kdf":null}',
      'short.json': JSON.stringify({ kdf: null, data: Buffer.alloc(16).toString('base64') }),
      'badkdf.json': JSON.stringify({ kdf: { argon2: {} }, data: '' }),
    };
    for (const [name, text] of Object.entries(cases)) {
      writeFileSync(join(dir, name), text);
      await assert.rejects(loadKeyFile(join(dir, name), 'pw'), { code: 'BULWARK_INVALID_KEY' }, name);
    }
    await assert.rejects(loadKeyFile(join(dir, 'absent.json')), { code: 'BULWARK_NOT_FOUND' });
  });
});
