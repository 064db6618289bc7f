import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeBlob, MAX_ENCODED_CHUNK_SIZE } from '../../datastore/blob.ts';
import type { ChunkBackend } from '../../datastore/chunk-backend.ts';
import { ChunkStore } from '../../datastore/chunk-store.ts';
import { keyFromBytes } from '../../datastore/crypt-key.ts';
import { chunkDigest } from '../../datastore/digest.ts';
import { MAX_CHUNK_SIZE } from '../../datastore/formats.ts';
import { FsChunkBackend } from '../../datastore/fs-chunk-backend.ts';
import { MemChunkBackend } from '../../datastore/mem-chunk-backend.ts';
import { collect, fakeClock, makeChunk, noiseBytes, removeDir, sparseStoreDir, tempDir, tmpfsTempDir, type FakeClock } from '../helpers/chunk-fixtures.ts';

const root = tempDir();
after(() => removeDir(root));

const key = keyFromBytes(Buffer.alloc(32, 3));

const flavours: Record<string, (clock: FakeClock) => ChunkBackend> = {
  mem: (clock) => new MemChunkBackend({ now: clock.now }),
  fs: (clock) => new FsChunkBackend(sparseStoreDir(root), { now: clock.now }),
};

for (const [flavour, makeBackend] of Object.entries(flavours)) {
  describe(`ChunkStore on ${flavour}`, () => {
    const setup = () => {
      const clock = fakeClock();
      const backend = makeBackend(clock);
      return { clock, backend, store: new ChunkStore(backend, { sync: 'none' }) };
    };

    test('a new chunk is stored: existed false, readable and loadable', async () => {
      const { store } = setup();
      const c = makeChunk(1);
      assert.deepEqual(await store.insertChunk(c.digest, c.blob), { existed: false, size: c.blob.length });
      assert.equal(await store.exists(c.hex), true);
      assert.deepEqual(await store.readChunk(c.digest), c.blob);
      assert.deepEqual(await store.loadChunk(c.hex), c.data);
    });

    test('a duplicate is only touched: existed true, atime moves with the clock, bytes unchanged', async () => {
      const { store, clock } = setup();
      // Two encryptions of the same data: same digest and size, different bytes (IV).
      const data = noiseBytes(2, 5000);
      const digest = chunkDigest(data, key);
      const first = encodeBlob(data, { key });
      const second = encodeBlob(data, { key });
      assert.notDeepEqual(first, second);

      await store.insertChunk(digest, first);
      const t0 = (await store.stat(digest))!.atimeMs;
      clock.advance(60_000);
      assert.deepEqual(await store.insertChunk(digest, second), { existed: true, size: first.length });
      assert.equal((await store.stat(digest))!.atimeMs, t0 + 60_000);
      assert.deepEqual(await store.readChunk(digest), first, 'never rewritten');
      assert.deepEqual(await store.loadChunk(digest, key), data);
    });

    test('a differently encoded copy of an intact plain chunk is deduplicated, not rewritten', async () => {
      const { store, clock } = setup();
      const c = makeChunk(3, 8192, { compress: false });
      await store.insertChunk(c.digest, c.blob);
      const lz4 = encodeBlob(c.data, { compress: true });
      assert.notEqual(lz4.length, c.blob.length);
      clock.advance(1000);
      assert.deepEqual(await store.insertChunk(c.digest, lz4), { existed: true, size: c.blob.length });
      assert.deepEqual(await store.readChunk(c.digest), c.blob);
    });

    test('refuses a different-size encrypted copy of an intact encrypted chunk (BULWARK_CHUNK_SIZE_MISMATCH)', async () => {
      const { store } = setup();
      const data = noiseBytes(31, 5000);
      const digest = chunkDigest(data, key);
      const stored = encodeBlob(data, { key });
      await store.insertChunk(digest, stored);
      // Unverifiable without the key: never allowed to replace intact data.
      await assert.rejects(store.insertChunk(digest, encodeBlob(noiseBytes(32, 100), { key })), { code: 'BULWARK_CHUNK_SIZE_MISMATCH' });
      assert.deepEqual(await store.readChunk(digest), stored);
    });

    test('refuses an encrypted copy of an unencrypted chunk, different size (BULWARK_CHUNK_CRYPT_MISMATCH)', async () => {
      const { store } = setup();
      const c = makeChunk(4, 4096, { compress: false });
      await store.insertChunk(c.digest, c.blob);
      // A client planting an unverifiable encrypted blob under a plain digest.
      await assert.rejects(store.insertChunk(c.digest, encodeBlob(noiseBytes(9, 1000), { key })), { code: 'BULWARK_CHUNK_CRYPT_MISMATCH' });
      assert.deepEqual(await store.readChunk(c.digest), c.blob);
    });

    test('refuses an encrypted copy of an unencrypted chunk of the same size (BULWARK_CHUNK_CRYPT_MISMATCH)', async () => {
      const { store } = setup();
      const c = makeChunk(5, 4096, { compress: false });
      await store.insertChunk(c.digest, c.blob);
      const planted = encodeBlob(noiseBytes(9, 4096 - 32), { key });
      assert.equal(planted.length, c.blob.length);
      await assert.rejects(store.insertChunk(c.digest, planted), { code: 'BULWARK_CHUNK_CRYPT_MISMATCH' });
      assert.deepEqual(await store.readChunk(c.digest), c.blob);
    });

    test('a verified plain upload replaces an encrypted blob planted under its digest', async () => {
      const { store } = setup();
      const plain = makeChunk(6, 4096);
      // An unverifiable encrypted blob that got stored under this plain digest first.
      await store.insertChunk(plain.digest, encodeBlob(noiseBytes(9, 700), { key }));
      assert.deepEqual(await store.insertChunk(plain.digest, plain.blob), { existed: false, size: plain.blob.length });
      assert.deepEqual(await store.loadChunk(plain.digest), plain.data);
    });

    test('an unverified plain upload does not replace an encrypted chunk (BULWARK_CHUNK_CRYPT_MISMATCH)', async () => {
      const { store } = setup();
      const plain = makeChunk(6, 4096);
      const planted = encodeBlob(noiseBytes(9, 700), { key });
      await store.insertChunk(plain.digest, planted);
      await assert.rejects(store.insertChunk(plain.digest, plain.blob, { verify: false }), { code: 'BULWARK_CHUNK_CRYPT_MISMATCH' });
      assert.deepEqual(await store.readChunk(plain.digest), planted);
    });

    test('a corrupt stored copy of a different size is replaced', async () => {
      const { store, backend } = setup();
      const c = makeChunk(7);
      const broken = Buffer.from(c.blob.subarray(0, c.blob.length - 10)); // truncated: CRC fails
      await backend.put(c.hex, broken, { sync: 'none' });
      assert.deepEqual(await store.insertChunk(c.digest, c.blob), { existed: false, size: c.blob.length });
      assert.deepEqual(await store.loadChunk(c.digest), c.data);
    });

    test('a stored copy of the same size with an unknown magic is replaced', async () => {
      const { store, backend } = setup();
      const c = makeChunk(8);
      await backend.put(c.hex, Buffer.alloc(c.blob.length), { sync: 'none' });
      assert.deepEqual(await store.insertChunk(c.digest, c.blob), { existed: false, size: c.blob.length });
      assert.deepEqual(await store.readChunk(c.digest), c.blob);
    });

    test('verify: data that does not hash to the digest is BULWARK_DIGEST_MISMATCH and nothing is stored', async () => {
      const { store } = setup();
      const c = makeChunk(9);
      const wrong = makeChunk(10).digest;
      await assert.rejects(store.insertChunk(wrong, c.blob), { code: 'BULWARK_DIGEST_MISMATCH' });
      assert.equal(await store.exists(wrong), false);
      // verify: false skips the hash (the caller vouches), but never the CRC.
      assert.equal((await store.insertChunk(wrong, c.blob, { verify: false })).existed, false);
      const bad = Buffer.from(c.blob);
      bad[bad.length - 1]! ^= 1;
      await assert.rejects(store.insertChunk(makeChunk(11).digest, bad, { verify: false }), { code: 'BULWARK_BAD_CRC' });
    });

    test('encrypted chunks get a CRC check only', async () => {
      const { store } = setup();
      const c = makeChunk(12, 4096, { key });
      assert.equal((await store.insertChunk(c.digest, c.blob)).existed, false);
      assert.deepEqual(await store.loadChunk(c.digest, key), c.data);
      await assert.rejects(store.loadChunk(c.digest), { code: 'BULWARK_KEY_REQUIRED' });
      const bad = Buffer.from(makeChunk(13, 4096, { key }).blob);
      bad[60]! ^= 1;
      await assert.rejects(store.insertChunk(makeChunk(13, 4096, { key }).digest, bad), { code: 'BULWARK_BAD_CRC' });
    });

    test('rawSize must match the decoded size', async () => {
      const { store } = setup();
      const c = makeChunk(14);
      await assert.rejects(store.insertChunk(c.digest, c.blob, { rawSize: c.data.length + 1 }), { code: 'BULWARK_INVALID_ARGUMENT' });
      await assert.rejects(store.insertChunk(c.digest, c.blob, { rawSize: MAX_CHUNK_SIZE + 1 }), { code: 'BULWARK_CHUNK_TOO_LARGE' });
      assert.equal((await store.insertChunk(c.digest, c.blob, { rawSize: c.data.length })).existed, false);
    });

    test('blobs over MAX_CHUNK_SIZE + header are BULWARK_CHUNK_TOO_LARGE; bad headers are refused', async () => {
      const { store } = setup();
      const c = makeChunk(15);
      await assert.rejects(store.insertChunk(c.digest, Buffer.alloc(MAX_ENCODED_CHUNK_SIZE + 1)), { code: 'BULWARK_CHUNK_TOO_LARGE' });
      const big = Buffer.alloc(MAX_CHUNK_SIZE + 1, 1);
      await assert.rejects(store.insertChunk(chunkDigest(big), encodeBlob(big)), { code: 'BULWARK_CHUNK_TOO_LARGE' });
      await assert.rejects(store.insertChunk(c.digest, Buffer.alloc(100)), { code: 'BULWARK_BAD_MAGIC' });
      await assert.rejects(store.insertChunk(c.digest, c.blob.subarray(0, 6)), { code: 'BULWARK_TRUNCATED' });
      await assert.rejects(store.insertChunk('not-a-digest', c.blob), { code: 'BULWARK_INVALID_ARGUMENT' });
      assert.equal(await store.exists(c.digest), false);
    });

    test('markBad names copies .0.bad then .1.bad', async () => {
      const { store } = setup();
      const c = makeChunk(16);
      await store.insertChunk(c.digest, c.blob);
      assert.equal(await store.markBad(c.digest), `${c.hex}.0.bad`);
      assert.equal(await store.exists(c.digest), false);
      assert.equal((await store.insertChunk(c.digest, c.blob)).existed, false);
      assert.equal(await store.markBad(c.hex), `${c.hex}.1.bad`);
      assert.deepEqual((await collect(store.iterateBad())).map((b) => b.name).sort(), [`${c.hex}.0.bad`, `${c.hex}.1.bad`]);
    });

    test('iterate lists every chunk with its size and atime', async () => {
      const { store, clock } = setup();
      const a = makeChunk(17, 1000);
      const b = makeChunk(18, 3000);
      await store.insertChunk(a.digest, a.blob);
      clock.advance(5000);
      await store.insertChunk(b.digest, b.blob);
      const listed = (await collect(store.iterate())).map((e) => ({ ...e })).sort((x, y) => x.atimeMs - y.atimeMs);
      assert.deepEqual(listed, [
        { digest: a.hex, size: a.blob.length, atimeMs: clock.now() - 5000 },
        { digest: b.hex, size: b.blob.length, atimeMs: clock.now() },
      ]);
    });

    test('touch, remove and readChunk of absent chunks', async () => {
      const { store } = setup();
      const c = makeChunk(19);
      assert.equal(await store.touch(c.digest), false);
      assert.equal(await store.remove(c.digest), false);
      await assert.rejects(store.readChunk(c.digest), { code: 'BULWARK_NOT_FOUND' });
      await store.insertChunk(c.digest, c.blob);
      assert.equal(await store.touch(c.digest), true);
      assert.equal(await store.remove(c.digest), true);
      assert.equal(await store.exists(c.digest), false);
    });

    test('20 parallel inserts of one digest all succeed, exactly one stores it', async () => {
      const { store } = setup();
      const c = makeChunk(20, 64 * 1024);
      const results = await Promise.all(Array.from({ length: 20 }, () => store.insertChunk(c.digest, c.blob)));
      assert.equal(results.filter((r) => !r.existed).length, 1);
      assert.ok(results.every((r) => r.size === c.blob.length));
      assert.deepEqual(await store.loadChunk(c.digest), c.data);
    });
  });
}

describe('ChunkStore on disk', () => {
  test('open without .chunks is BULWARK_NOT_FOUND', () => {
    assert.throws(() => ChunkStore.open(join(root, 'nothing-here')), { code: 'BULWARK_NOT_FOUND' });
  });

  test('create makes the chunk dir; inserts land in prefix dirs with no temp files left', async () => {
    const dir = tmpfsTempDir();
    try {
      const store = await ChunkStore.create(dir, { sync: 'file' });
      assert.equal(readdirSync(join(dir, '.chunks')).length, 65536);
      const chunks = Array.from({ length: 10 }, (_, i) => makeChunk(100 + i));
      await Promise.all(chunks.map((c) => store.insertChunk(c.digest, c.blob)));
      for (const c of chunks) {
        const prefixDir = join(dir, '.chunks', c.hex.slice(0, 4));
        assert.deepEqual(readdirSync(prefixDir), [c.hex], 'only the chunk, no .tmp');
        assert.deepEqual(readFileSync(join(prefixDir, c.hex)), c.blob);
      }
      assert.equal(await ChunkStore.open(dir).exists(chunks[0]!.digest), true);
    } finally {
      removeDir(dir);
    }
  });

  test("sync 'filesystem': inserts then flush", async () => {
    const store = ChunkStore.open(sparseStoreDir(root), { sync: 'filesystem' });
    assert.equal(store.sync, 'filesystem');
    const chunks = Array.from({ length: 5 }, (_, i) => makeChunk(200 + i));
    for (const c of chunks) await store.insertChunk(c.digest, c.blob);
    await store.flush();
    for (const c of chunks) assert.deepEqual(await store.loadChunk(c.digest), c.data);
  });
});
