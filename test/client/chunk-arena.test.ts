import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkArena } from '../../client/chunk-arena.ts';
import { decodeChunkInto } from '../../client/decode-into.ts';
import { DecodePool, inlineDecoder } from '../../client/decode-pool.ts';
import { encodeBlob } from '../../datastore/blob.ts';
import { generateKey } from '../../datastore/crypt-key.ts';
import { chunkDigest } from '../../datastore/digest.ts';
import { noiseBytes, textLikeBytes } from '../helpers/chunk-fixtures.ts';

test('arena slots: held until every reference is dropped, then reused by size', () => {
  const arena = new ChunkArena();
  const a = arena.acquire(1000);
  const b = arena.acquire(5 * 1024 * 1024);
  assert.equal(a.sab.byteLength, 1024 * 1024, 'sizes rounded up to a MiB');
  assert.equal(arena.slotOf(Buffer.from(a.sab, 10, 20)), a);
  assert.equal(arena.slotOf(Buffer.alloc(10)), undefined);
  arena.retain(a);
  arena.release(a);
  assert.notEqual(arena.acquire(1000).sab, a.sab, 'a is still held once');
  arena.release(a);
  assert.equal(arena.slotOf(Buffer.from(a.sab)), undefined, 'a freed slot is nobody\'s');
  arena.release(b);
  assert.equal(arena.acquire(2 * 1024 * 1024).sab, b.sab, 'the free slot that fits');
  assert.equal(arena.acquire(500).sab, a.sab);
  const c = arena.acquire(10);
  arena.release(c);
  assert.throws(() => arena.release(c), { code: 'BULWARK_INTERNAL' }, 'released more often than held');
  assert.throws(() => arena.retain(c), { code: 'BULWARK_INTERNAL' }, 'retained after it was freed');
});

test('arena keeps at most its limit of free slots', () => {
  const arena = new ChunkArena(1024 * 1024);
  const a = arena.acquire(1);
  const b = arena.acquire(1);
  arena.release(a);
  arena.release(b); // over the limit: dropped
  assert.equal(arena.acquire(1).sab, a.sab);
  assert.notEqual(arena.acquire(1).sab, b.sab);
});

/** One chunk in each blob kind. */
function blobs() {
  const key = generateKey();
  const text = textLikeBytes(1, 300_000);
  const noise = noiseBytes(2, 300_000);
  return {
    key,
    cases: [
      { kind: 'lz4', data: text, blob: encodeBlob(text, { compress: true }), digest: chunkDigest(text) },
      { kind: 'plain', data: noise, blob: encodeBlob(noise), digest: chunkDigest(noise) },
      { kind: 'encrypted-lz4', data: text, blob: encodeBlob(text, { compress: true, key }), digest: chunkDigest(text, key) },
      { kind: 'encrypted', data: noise, blob: encodeBlob(noise, { key }), digest: chunkDigest(noise, key) },
    ],
  };
}

test('decodeChunkInto: every blob kind lands in the shared buffer; a size other than the index says is BULWARK_ARCHIVE_CORRUPT', () => {
  const { key, cases } = blobs();
  for (const c of cases) {
    const out = new SharedArrayBuffer(400_000);
    assert.equal(decodeChunkInto(c.blob, c.digest, out, c.data.length, key), c.data.length, c.kind);
    assert.ok(Buffer.from(out, 0, c.data.length).equals(c.data), c.kind);
    for (const size of [c.data.length - 1, c.data.length + 1]) {
      assert.throws(() => decodeChunkInto(c.blob, c.digest, out, size, key), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'BULWARK_ARCHIVE_CORRUPT', c.kind);
        assert.match(err.message, new RegExp(`holds ${c.data.length} bytes, the index says ${size}`));
        return true;
      });
    }
  }
  const { blob, digest, data } = cases[0]!;
  const wrong = Buffer.from(digest);
  wrong[0]! ^= 1;
  assert.throws(() => decodeChunkInto(blob, wrong, new SharedArrayBuffer(400_000), data.length), { code: 'BULWARK_DIGEST_MISMATCH' });
});

test('decode pool: decodeInto fills the shared buffer; a blob that is its whole buffer is moved, a view into a larger one is copied', async () => {
  const { key, cases } = blobs();
  const pool = new DecodePool(1, key);
  try {
    for (const c of cases) {
      const out = new SharedArrayBuffer(400_000);
      const got = await pool.decodeInto(c.blob, c.digest, out, c.data.length);
      assert.equal(got.buffer, out, c.kind);
      assert.ok(got.equals(c.data), c.kind);
      assert.ok((await inlineDecoder(key).decodeInto(c.blob, c.digest, new SharedArrayBuffer(400_000), c.data.length)).equals(c.data));
    }
    // A big blob that ends its buffer after a short header (a reassembled message) is moved to the worker...
    const big = noiseBytes(3, 2 * 1024 * 1024);
    const blob = encodeBlob(big);
    const message = Buffer.alloc(blob.length + 20);
    blob.copy(message, 20);
    const moved = message.subarray(20);
    assert.ok((await pool.decode(moved, chunkDigest(big))).equals(big));
    assert.equal(message.buffer.byteLength, 0, 'moved: the buffer went to the worker');
    // ...but one with anything after it shares its buffer with other data: copied, and the buffer stays usable.
    const shared = Buffer.alloc(blob.length + 40);
    blob.copy(shared, 20);
    assert.ok((await pool.decode(shared.subarray(20, 20 + blob.length), chunkDigest(big))).equals(big));
    assert.equal(shared.length, blob.length + 40, 'copied: the buffer is intact');
    assert.equal(shared.readUInt32LE(20), blob.readUInt32LE(0));
  } finally {
    await pool.close();
  }
});
