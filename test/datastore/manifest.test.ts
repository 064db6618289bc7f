import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, scryptSync } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  archiveKind, canonicalJson, createManifest, decodeManifestBlob, encodeManifestBlob, lookupManifestFile,
  readManifest, signManifest, updateUnprotected, validateArchiveName, verifyManifestSignature, writeManifest,
  type Manifest,
} from '../../datastore/manifest.ts';
import { encodeBlob } from '../../datastore/blob.ts';
import { generateKey, keyFromBytes } from '../../datastore/crypt-key.ts';
import { digestFor, makeTempDir, removeTempDir } from '../helpers/index-fixtures.ts';

const dir = makeTempDir();
after(() => removeTempDir(dir));
let seq = 0;
const freshPath = (): string => join(dir, `index${seq++}.json.blob`);

const BACKUP_TIME = Date.UTC(2024, 0, 2, 3, 4, 5) / 1000;

function sample(): Manifest {
  return createManifest({
    backupType: 'vm', backupId: '100', backupTime: BACKUP_TIME,
    files: [
      { filename: 'drive-scsi0.img.fidx', cryptMode: 'encrypt', size: 34_359_738_368, csum: digestFor(1) },
      { filename: 'qemu-server.conf.blob', size: 412, csum: digestFor(2).toString('hex') },
    ],
  });
}

/** A manifest blob holding arbitrary JSON text. */
const blobOf = (text: string): Buffer => encodeBlob(Buffer.from(text));
const withField = (patch: Record<string, unknown>): Buffer =>
  blobOf(JSON.stringify({ ...JSON.parse(JSON.stringify(sample())), ...patch }));

describe('manifest shape and round trip', () => {
  test('createManifest builds the PBS shape', () => {
    const m = sample();
    assert.deepEqual(JSON.parse(JSON.stringify(m)), {
      'backup-type': 'vm', 'backup-id': '100', 'backup-time': BACKUP_TIME,
      files: [
        { filename: 'drive-scsi0.img.fidx', 'crypt-mode': 'encrypt', size: 34_359_738_368, csum: digestFor(1).toString('hex') },
        { filename: 'qemu-server.conf.blob', 'crypt-mode': 'none', size: 412, csum: digestFor(2).toString('hex') },
      ],
      unprotected: {},
    });
    assert.equal(lookupManifestFile(m, 'qemu-server.conf.blob').size, 412);
    assert.throws(() => lookupManifestFile(m, 'missing.blob'), { code: 'BULWARK_NOT_FOUND' });
  });

  test('blob round trip, in memory and on disk', () => {
    const m = { ...sample(), unprotected: { notes: 'before upgrade', verify_state: { state: 'ok' as const, upid: 'UPID:x:' }, extra: [1] } };
    assert.deepEqual(decodeManifestBlob(encodeManifestBlob(m), 'mem'), m);
    const path = freshPath();
    writeManifest(path, m);
    assert.deepEqual(readManifest(path), m);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  });

  test('reads PBS-style JSON: signature null, no crypt-mode, no unprotected', () => {
    const m = decodeManifestBlob(blobOf(JSON.stringify({
      'backup-type': 'host', 'backup-id': 'elsa', 'backup-time': 1593179765,
      files: [{ filename: 'root.pxar.didx', size: 1, csum: digestFor(0).toString('hex') }],
      signature: null,
    })), 'old');
    assert.equal(m.signature, undefined);
    assert.equal(m.files[0]!['crypt-mode'], 'none');
    assert.deepEqual(m.unprotected, {});
  });

  test('missing file → BULWARK_NOT_FOUND', () => {
    assert.throws(() => readManifest(join(dir, 'nope.blob')), { code: 'BULWARK_NOT_FOUND' });
  });
});

describe('manifest signature', () => {
  const key = generateKey();

  test('PBS test vector (manifest.rs test_manifest_signature)', () => {
    // PBS derives its test key with scrypt("test", no salt, n=65536, r=8, p=1).
    const raw = scryptSync('test', Buffer.alloc(0), 32, { N: 65536, r: 8, p: 1, maxmem: 256 * 1024 * 1024 });
    const m = createManifest({
      backupType: 'host', backupId: 'elsa', backupTime: Date.UTC(2020, 5, 26, 13, 56, 5) / 1000,
      files: [
        { filename: 'test1.img.fidx', size: 200, csum: Buffer.alloc(32, 1), cryptMode: 'encrypt' },
        { filename: 'abc.blob', size: 200, csum: Buffer.alloc(32, 2), cryptMode: 'none' },
      ],
      unprotected: { note: 'This is not protected by the signature.' },
    });
    const signed = signManifest(m, keyFromBytes(raw));
    assert.equal(signed.signature, 'd7b446fb7db081662081d4b40fedd858a1d6307a5aff4ecff7d5bf4fd35679e9');
  });

  test('signature is HMAC-SHA256(id key, canonical JSON without unprotected and signature)', () => {
    const m = sample();
    const signed = signManifest(m, key);
    const canonical = '{"backup-id":"100","backup-time":' + BACKUP_TIME + ',"backup-type":"vm","files":['
      + `{"crypt-mode":"encrypt","csum":"${digestFor(1).toString('hex')}","filename":"drive-scsi0.img.fidx","size":34359738368},`
      + `{"crypt-mode":"none","csum":"${digestFor(2).toString('hex')}","filename":"qemu-server.conf.blob","size":412}]}`;
    assert.equal(canonicalJson({ ...signed, unprotected: undefined, signature: undefined }), canonical);
    assert.equal(signed.signature, createHmac('sha256', key.idKey).update(canonical).digest('hex'));
    assert.equal(signed.unprotected['key-fingerprint'], key.fingerprintText);
  });

  test('a signed manifest verifies, also after a trip through disk', () => {
    const signed = signManifest(sample(), key);
    verifyManifestSignature(signed, key);
    const path = freshPath();
    writeManifest(path, signed);
    verifyManifestSignature(readManifest(path), key);
  });

  test('tampering with a file checksum breaks it', () => {
    const signed = signManifest(sample(), key);
    const files = signed.files.map((f, i) => (i === 0 ? { ...f, csum: digestFor(9).toString('hex') } : f));
    assert.throws(() => verifyManifestSignature({ ...signed, files }, key), { code: 'BULWARK_MANIFEST_SIGNATURE' });
    assert.throws(() => verifyManifestSignature({ ...signed, 'backup-time': BACKUP_TIME + 1 }, key),
      { code: 'BULWARK_MANIFEST_SIGNATURE' });
  });

  test('a wrong key fails, with or without the recorded fingerprint', () => {
    const signed = signManifest(sample(), key);
    const other = generateKey();
    assert.throws(() => verifyManifestSignature(signed, other), { code: 'BULWARK_MANIFEST_SIGNATURE', message: /signed with key/ });
    const { 'key-fingerprint': _fp, ...unprotected } = signed.unprotected;
    assert.throws(() => verifyManifestSignature({ ...signed, unprotected }, other), { code: 'BULWARK_MANIFEST_SIGNATURE' });
  });

  test('an unsigned manifest fails when a key is given', () => {
    assert.throws(() => verifyManifestSignature(sample(), key), { code: 'BULWARK_MANIFEST_SIGNATURE', message: /not signed/ });
  });

  test('updateUnprotected rewrites only the unprotected part; the signature still verifies', () => {
    const path = freshPath();
    const signed = signManifest(sample(), key);
    writeManifest(path, signed);
    const updated = updateUnprotected(path, (u) => {
      u.verify_state = { state: 'ok', upid: 'UPID:node:00001234:00005678:00000001:65A0B0C0:verify:store:root@pam:' };
      u.notes = 'checked';
    });
    const back = readManifest(path);
    assert.deepEqual(back, updated);
    assert.equal(back.unprotected.notes, 'checked');
    assert.equal(back.unprotected.verify_state?.state, 'ok');
    assert.equal(back.signature, signed.signature);
    verifyManifestSignature(back, key);
    // Replacing the whole object works too, and drops what it leaves out.
    updateUnprotected(path, () => ({ notes: 'replaced' }));
    const replaced = readManifest(path);
    assert.deepEqual(replaced.unprotected, { notes: 'replaced' });
    // Verification depends on the key bytes, not on the object that signed.
    verifyManifestSignature(replaced, keyFromBytes(key.key));
  });

  test('updateUnprotected refuses to write an invalid unprotected part and keeps the old file', () => {
    const path = freshPath();
    writeManifest(path, sample());
    const before = readFileSync(path);
    assert.throws(() => updateUnprotected(path, (u) => { u.verify_state = { state: 'maybe' } as never; }),
      { code: 'BULWARK_MANIFEST_INVALID' });
    assert.throws(() => updateUnprotected(path, (u) => { u.big = 1n; }), { code: 'BULWARK_MANIFEST_INVALID' });
    assert.deepEqual(readFileSync(path), before);
  });
});

describe('archive names', () => {
  test('valid names and their kinds', () => {
    for (const [name, kind] of [['root.pxar.didx', 'dynamic'], ['drive-scsi0.img.fidx', 'fixed'],
      ['catalog.pcat1.didx', 'dynamic'], ['qemu-server.conf.blob', 'blob'], ['_x.blob', 'blob']] as const) {
      assert.equal(validateArchiveName(name), name);
      assert.equal(archiveKind(name), kind);
    }
  });

  test('invalid names → BULWARK_INVALID_NAME', () => {
    for (const name of ['', '.hidden.blob', '-x.blob', 'a/b.blob', '../x.fidx', 'x.txt', 'x', 'blob', 'a b.didx', 'ä.blob', 'x.blob\n']) {
      assert.throws(() => validateArchiveName(name), { code: 'BULWARK_INVALID_NAME' }, JSON.stringify(name));
    }
    assert.throws(() => createManifest({ backupType: 'vm', backupId: '1', backupTime: 0,
      files: [{ filename: 'x.txt', size: 0, csum: digestFor(0) }] }), { code: 'BULWARK_INVALID_NAME' });
  });
});

describe('invalid manifests → BULWARK_MANIFEST_INVALID', () => {
  const hex = digestFor(0).toString('hex');
  const cases: Array<[string, Buffer]> = [
    ['not JSON', blobOf('{"backup-type": ')],
    ['not UTF-8', encodeBlob(Buffer.from([0x7b, 0xff, 0x7d]))],
    ['an array', blobOf('[]')],
    ['null', blobOf('null')],
    ['missing backup-type', withField({ 'backup-type': undefined })],
    ['missing backup-id', withField({ 'backup-id': undefined })],
    ['missing backup-time', withField({ 'backup-time': undefined })],
    ['missing files', withField({ files: undefined })],
    ['bad backup-type', withField({ 'backup-type': 'vz' })],
    ['bad backup-id', withField({ 'backup-id': '../etc' })],
    ['backup-time a string', withField({ 'backup-time': '2024-01-02T03:04:05Z' })],
    ['backup-time fractional', withField({ 'backup-time': 1.5 })],
    ['backup-time negative', withField({ 'backup-time': -1 })],
    ['files not an array', withField({ files: {} })],
    ['file not an object', withField({ files: [1] })],
    ['file without csum', withField({ files: [{ filename: 'a.blob', size: 1 }] })],
    ['file with short csum', withField({ files: [{ filename: 'a.blob', size: 1, csum: 'abcd' }] })],
    ['file with negative size', withField({ files: [{ filename: 'a.blob', size: -1, csum: hex }] })],
    ['file with bad crypt mode', withField({ files: [{ filename: 'a.blob', 'crypt-mode': 'rot13', size: 1, csum: hex }] })],
    ['file with bad name', withField({ files: [{ filename: 'a.exe', size: 1, csum: hex }] })],
    ['file with unknown field', withField({ files: [{ filename: 'a.blob', size: 1, csum: hex, x: 1 }] })],
    ['duplicate file', withField({ files: [{ filename: 'a.blob', size: 1, csum: hex }, { filename: 'a.blob', size: 2, csum: hex }] })],
    ['unknown top-level field', withField({ extra: true })],
    ['unprotected not an object', withField({ unprotected: 'x' })],
    ['bad verify_state', withField({ unprotected: { verify_state: { state: 'ok' } } })],
    ['bad notes', withField({ unprotected: { notes: 5 } })],
    ['bad key-fingerprint', withField({ unprotected: { 'key-fingerprint': 'abc' } })],
    ['bad signature', withField({ signature: 'zz' })],
  ];
  for (const [name, blob] of cases) {
    test(name, () => {
      assert.throws(() => decodeManifestBlob(blob, 'index.json.blob'), { code: 'BULWARK_MANIFEST_INVALID' });
    });
  }

  test('a damaged blob fails in the blob layer with its own code', () => {
    const blob = encodeManifestBlob(sample());
    blob[blob.length - 1]! ^= 1;
    assert.throws(() => decodeManifestBlob(blob, 'index.json.blob'), { code: 'BULWARK_BAD_CRC' });
    const path = freshPath();
    writeFileSync(path, Buffer.from('{"not": "a blob"}'));
    assert.throws(() => readManifest(path), { code: 'BULWARK_BAD_MAGIC' });
  });

  test('writeManifest refuses an invalid manifest', () => {
    const path = freshPath();
    const bad = { ...sample(), 'backup-id': '' };
    assert.throws(() => writeManifest(path, bad), { code: 'BULWARK_MANIFEST_INVALID' });
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith(`.${path.split('/').pop()}`)), []);
  });
});
