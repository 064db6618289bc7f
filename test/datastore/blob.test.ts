import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import {
  BLOB_HEADER_SIZE,
  blobKind,
  decodeBlob,
  decodeChunk,
  ENCRYPTED_BLOB_HEADER_SIZE,
  encodeBlob,
  isEncryptedKind,
  verifyBlobCrc,
  type BlobKind,
} from '../../datastore/blob.ts';
import { keyFromBytes } from '../../datastore/crypt-key.ts';
import { chunkDigest, digestHex, parseDigestHex } from '../../datastore/digest.ts';
import { MAGIC_BLOB_ENCRYPTED, MAGIC_BLOB_ENCRYPTED_LZ4, MAGIC_BLOB_LZ4, MAGIC_BLOB_PLAIN, MAX_CHUNK_SIZE } from '../../datastore/formats.ts';
import { noiseBytes, textLikeBytes } from '../helpers/chunk-fixtures.ts';

const key = keyFromBytes(Buffer.alloc(32, 7));
const otherKey = keyFromBytes(Buffer.alloc(32, 8));
const text = textLikeBytes(1, 64 * 1024);
const noise = noiseBytes(2, 64 * 1024);

const OPTIONS: Array<[BlobKind, { compress?: boolean; key?: typeof key }]> = [
  ['plain', {}],
  ['lz4', { compress: true }],
  ['encrypted', { key }],
  ['encrypted-lz4', { compress: true, key }],
];

/** Rewrites the CRC so a deliberate payload change reaches the later checks. */
function fixCrc(blob: Buffer): Buffer {
  blob.writeUInt32LE(crc32(blob.subarray(BLOB_HEADER_SIZE)), 8);
  return blob;
}

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

describe('blob layout', () => {
  test('headers are 12 bytes, 44 when encrypted', () => {
    assert.equal(BLOB_HEADER_SIZE, 12);
    assert.equal(ENCRYPTED_BLOB_HEADER_SIZE, 44);
    assert.equal(encodeBlob(noise).length, noise.length + 12);
    assert.equal(encodeBlob(noise, { key }).length, noise.length + 44);
  });

  test('each kind starts with its magic and a little-endian CRC32 of everything after the header', () => {
    const magics: Record<BlobKind, Buffer> = { plain: MAGIC_BLOB_PLAIN, lz4: MAGIC_BLOB_LZ4, encrypted: MAGIC_BLOB_ENCRYPTED, 'encrypted-lz4': MAGIC_BLOB_ENCRYPTED_LZ4 };
    for (const [kind, opts] of OPTIONS) {
      const blob = encodeBlob(text, opts);
      assert.deepEqual(blob.subarray(0, 8), magics[kind], kind);
      assert.equal(blob.readUInt32LE(8), crc32(blob.subarray(12)), kind);
    }
  });

  test('plain payload is the data; lz4 payload starts with the raw length (u32 LE)', () => {
    assert.deepEqual(encodeBlob(text).subarray(12), text);
    const lz = encodeBlob(text, { compress: true });
    assert.equal(lz.readUInt32LE(12), text.length);
    assert.ok(lz.length < text.length);
  });

  test('encrypted blobs use a fresh IV each time', () => {
    const a = encodeBlob(text, { key });
    const b = encodeBlob(text, { key });
    assert.notDeepEqual(a.subarray(12, 28), b.subarray(12, 28));
    assert.equal(a.length, b.length);
  });
});

describe('blob round trips', () => {
  for (const [kind, opts] of OPTIONS) {
    test(`${kind}: compressible data`, () => {
      const blob = encodeBlob(text, opts);
      assert.equal(blobKind(blob), kind);
      assert.equal(isEncryptedKind(kind), opts.key !== undefined);
      assert.deepEqual(decodeBlob(blob, { key }), text);
    });

    test(`${kind} requested: empty data`, () => {
      const blob = encodeBlob(Buffer.alloc(0), opts);
      assert.equal(blobKind(blob), opts.key ? 'encrypted' : 'plain', 'nothing to compress');
      assert.equal(blob.length, opts.key ? 44 : 12);
      assert.deepEqual(decodeBlob(blob, { key }), Buffer.alloc(0));
    });

    test(`${kind} requested: incompressible data stays uncompressed`, () => {
      const blob = encodeBlob(noise, opts);
      assert.equal(blobKind(blob), opts.key ? 'encrypted' : 'plain');
      assert.deepEqual(decodeBlob(blob, { key }), noise);
    });
  }

  test('a Uint8Array view (not a Buffer) encodes and decodes', () => {
    const backing = new Uint8Array(text.length + 10);
    backing.set(text, 5);
    const view = backing.subarray(5, 5 + text.length);
    const blob = encodeBlob(view, { compress: true, key });
    assert.deepEqual(decodeBlob(new Uint8Array(blob), { key }), text);
  });
});

describe('blob corruption', () => {
  test('wrong magic is BULWARK_BAD_MAGIC', () => {
    const blob = encodeBlob(text);
    blob[0]! ^= 0xff;
    assert.throws(() => decodeBlob(blob), code('BULWARK_BAD_MAGIC'));
    assert.throws(() => blobKind(blob), code('BULWARK_BAD_MAGIC'));
  });

  for (const [kind, opts] of OPTIONS) {
    test(`${kind}: a flipped payload byte is BULWARK_BAD_CRC`, () => {
      const blob = encodeBlob(text, opts);
      blob[blob.length - 3]! ^= 0x01;
      assert.throws(() => decodeBlob(blob, { key }), code('BULWARK_BAD_CRC'));
      assert.throws(() => verifyBlobCrc(blob), code('BULWARK_BAD_CRC'));
    });
  }

  test('a flipped IV byte is caught by the CRC too (it covers IV and tag)', () => {
    const blob = encodeBlob(text, { key });
    blob[20]! ^= 0x01;
    assert.throws(() => verifyBlobCrc(blob), code('BULWARK_BAD_CRC'));
  });

  test('shorter than the 12-byte header is BULWARK_TRUNCATED', () => {
    for (const len of [0, 5, 11]) {
      assert.throws(() => decodeBlob(encodeBlob(text).subarray(0, len)), code('BULWARK_TRUNCATED'), `length ${len}`);
    }
  });

  test('encrypted and shorter than header+IV+tag (44) is BULWARK_TRUNCATED', () => {
    const blob = encodeBlob(text, { key });
    for (const len of [12, 30, 43]) {
      assert.throws(() => decodeBlob(blob.subarray(0, len), { key }), code('BULWARK_TRUNCATED'), `length ${len}`);
      assert.throws(() => verifyBlobCrc(blob.subarray(0, len)), code('BULWARK_TRUNCATED'));
    }
  });

  test('encrypted without a key is BULWARK_KEY_REQUIRED, but its CRC checks out', () => {
    const blob = encodeBlob(text, { compress: true, key });
    assert.throws(() => decodeBlob(blob), code('BULWARK_KEY_REQUIRED'));
    assert.equal(verifyBlobCrc(blob), 'encrypted-lz4');
  });

  test('the wrong key is BULWARK_DECRYPT_FAILED', () => {
    for (const compress of [false, true]) {
      assert.throws(() => decodeBlob(encodeBlob(text, { compress, key }), { key: otherKey }), code('BULWARK_DECRYPT_FAILED'));
    }
  });

  test('ciphertext altered with the CRC recomputed fails GCM authentication (BULWARK_DECRYPT_FAILED)', () => {
    const blob = encodeBlob(text, { key });
    blob[blob.length - 1]! ^= 0x80;
    assert.throws(() => decodeBlob(fixCrc(blob), { key }), code('BULWARK_DECRYPT_FAILED'));
  });

  test('a malformed lz4 block with a valid CRC is BULWARK_DECOMPRESS_FAILED', () => {
    const blob = encodeBlob(text, { compress: true });
    blob.fill(0xff, 16, 40); // inside the block, after the length prefix
    assert.throws(() => decodeBlob(fixCrc(blob)), code('BULWARK_DECOMPRESS_FAILED'));
    const short = fixCrc(Buffer.concat([blob.subarray(0, 14)])); // payload shorter than its length prefix
    assert.throws(() => decodeBlob(short), code('BULWARK_DECOMPRESS_FAILED'));
  });

  test('an lz4 length prefix that lies is BULWARK_DECOMPRESS_FAILED', () => {
    const blob = encodeBlob(text, { compress: true });
    blob.writeUInt32LE(text.length + 1, 12);
    assert.throws(() => decodeBlob(fixCrc(blob)), code('BULWARK_DECOMPRESS_FAILED'));
  });

  test('data over maxSize is BULWARK_CHUNK_TOO_LARGE, for every kind', () => {
    for (const [kind, opts] of OPTIONS) {
      assert.throws(() => decodeBlob(encodeBlob(text, opts), { key, maxSize: text.length - 1 }), code('BULWARK_CHUNK_TOO_LARGE'), kind);
      assert.deepEqual(decodeBlob(encodeBlob(text, opts), { key, maxSize: text.length }), text, kind);
    }
  });

  test('an lz4 blob claiming a huge raw size is refused before allocating it', () => {
    const blob = encodeBlob(text, { compress: true });
    blob.writeUInt32LE(0xffffffff, 12);
    assert.throws(() => decodeBlob(fixCrc(blob)), code('BULWARK_CHUNK_TOO_LARGE'));
  });
});

describe('decodeChunk and digests', () => {
  test('plain digest is SHA-256; keyed digest is SHA-256(data ‖ idKey)', () => {
    assert.deepEqual(chunkDigest(text), createHash('sha256').update(text).digest());
    assert.deepEqual(chunkDigest(text, key), createHash('sha256').update(text).update(key.idKey).digest());
    assert.notDeepEqual(chunkDigest(text, key), chunkDigest(text, otherKey));
  });

  test('digestHex / parseDigestHex round trip and refuse anything but 64 lowercase hex', () => {
    const d = chunkDigest(text);
    assert.deepEqual(parseDigestHex(digestHex(d)), d);
    for (const bad of ['', 'abc', digestHex(d).toUpperCase(), `${digestHex(d)}0`, `${digestHex(d).slice(0, 63)}g`]) {
      assert.throws(() => parseDigestHex(bad), code('BULWARK_INVALID_ARGUMENT'), bad);
    }
    assert.throws(() => digestHex(Buffer.alloc(31)), code('BULWARK_INVALID_ARGUMENT'));
  });

  test('decodeChunk checks the digest of every kind', () => {
    for (const [kind, opts] of OPTIONS) {
      const digest = chunkDigest(text, opts.key);
      assert.deepEqual(decodeChunk(encodeBlob(text, opts), digest, { key }), text, kind);
    }
  });

  test('a wrong digest is BULWARK_DIGEST_MISMATCH', () => {
    const blob = encodeBlob(text, { compress: true });
    assert.throws(() => decodeChunk(blob, chunkDigest(noise)), code('BULWARK_DIGEST_MISMATCH'));
  });

  test('an encrypted chunk named by its plain SHA-256 is BULWARK_DIGEST_MISMATCH', () => {
    assert.throws(() => decodeChunk(encodeBlob(text, { key }), chunkDigest(text), { key }), code('BULWARK_DIGEST_MISMATCH'));
  });

  test('a plain chunk is named by its plain SHA-256 even when a key is given', () => {
    assert.deepEqual(decodeChunk(encodeBlob(text), chunkDigest(text), { key }), text);
  });

  test('a chunk over MAX_CHUNK_SIZE is BULWARK_CHUNK_TOO_LARGE', () => {
    const big = Buffer.alloc(MAX_CHUNK_SIZE + 1, 1);
    assert.throws(() => decodeChunk(encodeBlob(big), chunkDigest(big)), code('BULWARK_CHUNK_TOO_LARGE'));
    assert.throws(() => decodeChunk(encodeBlob(big, { compress: true }), chunkDigest(big)), code('BULWARK_CHUNK_TOO_LARGE'));
  });
});
