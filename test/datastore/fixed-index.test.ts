import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FixedIndexReader, FixedIndexWriter } from '../../datastore/fixed-index.ts';
import { indexFromBuffer, indexKindFromName, openIndex } from '../../datastore/index-file.ts';
import { INDEX_HEADER_SIZE, MAGIC_FIXED_INDEX, MAX_CHUNK_SIZE } from '../../datastore/formats.ts';
import { isBulwarkError } from '../../errors.ts';
import {
  PBS_FIXED_MAGIC, TEST_CTIME, TEST_UUID, buildFixedIndexBytes, digestFor, garbageBuffers, makeTempDir,
  mutatedBuffers, pbsFixedCsum, removeTempDir, seededRandom, shuffledIndices,
} from '../helpers/index-fixtures.ts';

const dir = makeTempDir();
after(() => removeTempDir(dir));
let seq = 0;
const freshPath = (): string => join(dir, `img${seq++}.fidx`);
const KiB = 1024;

/** Write an index through the writer, digests appended in order. */
function writeFixed(size: number, chunkSize: number, fsync = false): { path: string; digests: Buffer[] } {
  const path = freshPath();
  const w = FixedIndexWriter.create(path, { size, chunkSize, uuid: TEST_UUID, ctime: TEST_CTIME, fsync });
  const digests = Array.from({ length: w.count }, (_, i) => digestFor(i));
  for (const d of digests) w.append(d);
  w.close();
  return { path, digests };
}

describe('fixed index layout', () => {
  test('header is exactly 4096 bytes: an empty index is only its header', () => {
    assert.equal(INDEX_HEADER_SIZE, 4096);
    const { path } = writeFixed(0, 4 * KiB);
    assert.equal(readFileSync(path).length, 4096);
  });

  test('magic is PBS fixed index magic', () => {
    assert.deepEqual(MAGIC_FIXED_INDEX, PBS_FIXED_MAGIC);
  });

  test('writer output matches the PBS layout byte for byte', () => {
    const size = 3 * 64 * KiB + 100;
    const { path, digests } = writeFixed(size, 64 * KiB, true);
    const expected = buildFixedIndexBytes({ size, chunkSize: 64 * KiB, digests });
    assert.deepEqual(readFileSync(path), expected);
  });

  test('checksum is SHA-256 over the digests in order', () => {
    const path = freshPath();
    const w = FixedIndexWriter.create(path, { size: 5 * KiB, chunkSize: KiB, fsync: false });
    const digests = [0, 1, 2, 3, 4].map(digestFor);
    digests.forEach((d) => w.append(d));
    const { csum, count, size } = w.close();
    assert.deepEqual(csum, pbsFixedCsum(digests));
    assert.equal(count, 5);
    assert.equal(size, 5 * KiB);
    const r = FixedIndexReader.open(path);
    assert.deepEqual(r.indexCsum, pbsFixedCsum(digests));
    assert.deepEqual(r.computeCsum(), pbsFixedCsum(digests));
  });
});

describe('fixed index round trips', () => {
  test('0 chunks', () => {
    const { path } = writeFixed(0, MAX_CHUNK_SIZE);
    const r = FixedIndexReader.open(path);
    assert.equal(r.kind, 'fixed');
    assert.equal(r.count(), 0);
    assert.equal(r.totalSize(), 0);
    assert.deepEqual([...r.digests()], []);
    assert.equal(r.chunkFromOffset(0), undefined);
    assert.deepEqual(r.uuid, TEST_UUID);
    assert.equal(r.ctime, TEST_CTIME);
  });

  test('1 full chunk and 1 short chunk', () => {
    for (const size of [4 * KiB, 100]) {
      const { path, digests } = writeFixed(size, 4 * KiB);
      const r = FixedIndexReader.open(path);
      assert.equal(r.count(), 1);
      assert.deepEqual(r.digest(0), digests[0]);
      assert.deepEqual(r.chunkRange(0), { start: 0, end: size });
      assert.equal(r.totalSize(), size);
    }
  });

  test('many chunks added out of order, last one partial', () => {
    const chunkSize = 4 * KiB;
    const n = 5000; // more than one write run and one checksum block
    const size = (n - 1) * chunkSize + 123;
    const path = freshPath();
    const w = FixedIndexWriter.create(path, { size, chunkSize, fsync: false });
    assert.equal(w.count, n);
    for (const i of shuffledIndices(seededRandom(7), n)) w.add(i, digestFor(i));
    const digests = Array.from({ length: n }, (_, i) => digestFor(i));
    const res = w.close();
    assert.deepEqual(res, { csum: pbsFixedCsum(digests), count: n, size });
    const r = FixedIndexReader.open(path);
    assert.equal(r.count(), n);
    assert.equal(r.chunkSize, chunkSize);
    assert.deepEqual([...r.digests()], digests);
    assert.deepEqual(r.chunkRange(n - 1), { start: (n - 1) * chunkSize, end: size });
    assert.deepEqual(r.chunkRange(n - 2), { start: (n - 2) * chunkSize, end: (n - 1) * chunkSize });
  });

  test('adding a digest twice keeps the last one', () => {
    const path = freshPath();
    const w = FixedIndexWriter.create(path, { size: 2 * KiB, chunkSize: KiB, fsync: false });
    w.add(0, digestFor(99));
    w.add(1, digestFor(1));
    w.add(0, digestFor(0));
    w.close();
    assert.deepEqual(FixedIndexReader.open(path).digest(0), digestFor(0));
  });

  test('chunkFromOffset at chunk boundaries and outside', () => {
    const chunkSize = 4 * KiB;
    const size = 2 * chunkSize + 10;
    const r = FixedIndexReader.open(writeFixed(size, chunkSize).path);
    assert.deepEqual(r.chunkFromOffset(0), { index: 0, offsetInChunk: 0 });
    assert.deepEqual(r.chunkFromOffset(chunkSize - 1), { index: 0, offsetInChunk: chunkSize - 1 });
    assert.deepEqual(r.chunkFromOffset(chunkSize), { index: 1, offsetInChunk: 0 });
    assert.deepEqual(r.chunkFromOffset(2 * chunkSize), { index: 2, offsetInChunk: 0 });
    assert.deepEqual(r.chunkFromOffset(size - 1), { index: 2, offsetInChunk: 9 });
    assert.equal(r.chunkFromOffset(size), undefined);
    assert.equal(r.chunkFromOffset(-1), undefined);
    assert.equal(r.chunkFromOffset(1.5), undefined);
  });

  test('openIndex recognises a fixed index; names map to kinds', () => {
    const r = openIndex(writeFixed(3 * KiB, KiB).path);
    assert.equal(r.kind, 'fixed');
    assert.equal(r.count(), 3);
    assert.equal(indexKindFromName('drive-scsi0.img.fidx'), 'fixed');
    assert.equal(indexKindFromName('root.pxar.didx'), 'dynamic');
    assert.equal(indexKindFromName('qemu-server.conf.blob'), undefined);
  });

  test('out-of-range chunk numbers are refused', () => {
    const r = FixedIndexReader.open(writeFixed(2 * KiB, KiB).path);
    assert.throws(() => r.digest(2), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => r.chunkRange(-1), { code: 'BULWARK_INVALID_ARGUMENT' });
  });
});

describe('fixed index corrupt inputs', () => {
  const chunkSize = KiB;
  const digests = [0, 1, 2].map(digestFor);
  const size = 2 * chunkSize + 1;
  const valid = buildFixedIndexBytes({ size, chunkSize, digests });
  const read = (buf: Buffer) => () => FixedIndexReader.fromBuffer(buf, 'test.fidx');

  test('the hand-built reference file is accepted', () => {
    assert.equal(FixedIndexReader.fromBuffer(valid, 'test.fidx').count(), 3);
  });

  test('wrong magic', () => {
    const buf = Buffer.from(valid);
    buf[0]! ^= 1;
    assert.throws(read(buf), { code: 'BULWARK_BAD_MAGIC' });
    assert.throws(() => indexFromBuffer(buf, 'x'), { code: 'BULWARK_BAD_MAGIC' });
    const dynamicMagic = buildFixedIndexBytes({ size, chunkSize, digests, magic: Buffer.from([28, 145, 78, 165, 25, 186, 179, 205]) });
    assert.throws(read(dynamicMagic), { code: 'BULWARK_BAD_MAGIC' });
  });

  test('truncated header', () => {
    assert.throws(read(valid.subarray(0, 4095)), { code: 'BULWARK_TRUNCATED' });
    assert.throws(read(valid.subarray(0, 100)), { code: 'BULWARK_TRUNCATED' });
    assert.throws(read(valid.subarray(0, 3)), { code: 'BULWARK_TRUNCATED' });
    assert.throws(read(Buffer.alloc(0)), { code: 'BULWARK_TRUNCATED' });
  });

  test('partial digest at the end', () => {
    assert.throws(read(valid.subarray(0, valid.length - 5)), { code: 'BULWARK_INDEX_CORRUPT' });
  });

  test('file size does not match the header size field', () => {
    assert.throws(read(valid.subarray(0, valid.length - 32)), { code: 'BULWARK_INDEX_CORRUPT' });
    assert.throws(read(Buffer.concat([valid, digestFor(9)])), { code: 'BULWARK_INDEX_CORRUPT' });
    const bigger = buildFixedIndexBytes({ size: 3 * chunkSize + 1, chunkSize, digests });
    assert.throws(read(bigger), { code: 'BULWARK_INDEX_CORRUPT' });
  });

  test('wrong checksum (one digest byte flipped)', () => {
    const buf = Buffer.from(valid);
    buf[4096 + 40]! ^= 0x80;
    assert.throws(read(buf), { code: 'BULWARK_INDEX_CHECKSUM' });
  });

  test('insane chunk size or size', () => {
    for (const cs of [0, 3, 1000, MAX_CHUNK_SIZE * 2, 2n ** 64n - 1n]) {
      const buf = buildFixedIndexBytes({ size, chunkSize: cs, digests });
      assert.throws(read(buf), { code: 'BULWARK_INDEX_CORRUPT' }, `chunk size ${cs}`);
    }
    const huge = buildFixedIndexBytes({ size: 2n ** 64n - 1n, chunkSize: MAX_CHUNK_SIZE, digests });
    assert.throws(read(huge), { code: 'BULWARK_INDEX_CORRUPT' });
  });

  test('missing file', () => {
    assert.throws(() => FixedIndexReader.open(join(dir, 'nope.fidx')), { code: 'BULWARK_NOT_FOUND' });
    assert.throws(() => openIndex(join(dir, 'nope.fidx')), { code: 'BULWARK_NOT_FOUND' });
  });

  test('a corrupted file on disk is refused by open', () => {
    const path = freshPath();
    const buf = Buffer.from(valid);
    buf[4096]! ^= 1;
    writeFileSync(path, buf);
    assert.throws(() => openIndex(path), { code: 'BULWARK_INDEX_CHECKSUM' });
  });

  test('random garbage only ever yields typed errors', () => {
    const codes = new Set<string>();
    const inputs = [...garbageBuffers(1234, 300, PBS_FIXED_MAGIC, 32), ...mutatedBuffers(99, 300, valid)];
    for (const buf of inputs) {
      for (const parse of [read(buf), () => indexFromBuffer(buf, 'fuzz')]) {
        try {
          parse(); // mutations that only touch uuid, ctime or padding still parse
        } catch (err) {
          assert.ok(isBulwarkError(err), `non-Bulwark error: ${String(err)}`);
          codes.add(err.code);
        }
      }
    }
    // The inputs reach every check, not just the first one.
    for (const code of ['BULWARK_BAD_MAGIC', 'BULWARK_TRUNCATED', 'BULWARK_INDEX_CORRUPT', 'BULWARK_INDEX_CHECKSUM']) {
      assert.ok(codes.has(code), `fuzzing never produced ${code}`);
    }
  });
});

describe('fixed index writer', () => {
  const tmpFiles = () => readdirSync(dir).filter((f) => f.endsWith('.tmp'));

  test('writes to a temp file beside the target and renames on close', () => {
    const path = freshPath();
    const w = FixedIndexWriter.create(path, { size: KiB, chunkSize: KiB, fsync: false });
    assert.ok(w.tmpPath.startsWith(dir));
    assert.equal(tmpFiles().length, 1);
    w.append(digestFor(0));
    w.close();
    assert.deepEqual(tmpFiles(), []);
    assert.equal(FixedIndexReader.open(path).count(), 1);
  });

  test('abort leaves no temp file and no index', () => {
    const path = freshPath();
    const w = FixedIndexWriter.create(path, { size: 4 * KiB, chunkSize: KiB, fsync: false });
    w.append(digestFor(0));
    w.abort();
    w.abort();
    assert.deepEqual(tmpFiles(), []);
    assert.throws(() => FixedIndexReader.open(path), { code: 'BULWARK_NOT_FOUND' });
    assert.throws(() => w.append(digestFor(1)), { code: 'BULWARK_INTERNAL' });
    assert.throws(() => w.close(), { code: 'BULWARK_INTERNAL' });
  });

  test('close refuses while a chunk is missing, then succeeds once it is added', () => {
    const path = freshPath();
    const w = FixedIndexWriter.create(path, { size: 3 * KiB, chunkSize: KiB, fsync: false });
    w.add(0, digestFor(0));
    w.add(2, digestFor(2));
    assert.throws(() => w.close(), { code: 'BULWARK_INDEX_CORRUPT', message: /chunk 1 of 3/ });
    w.add(1, digestFor(1));
    w.close();
    assert.throws(() => w.close(), { code: 'BULWARK_INTERNAL' });
    assert.deepEqual([...FixedIndexReader.open(path).digests()], [0, 1, 2].map(digestFor));
  });

  test('invalid arguments are refused', () => {
    const path = freshPath();
    for (const chunkSize of [0, 3, MAX_CHUNK_SIZE * 2, 1.5]) {
      assert.throws(() => FixedIndexWriter.create(path, { size: 10, chunkSize }), { code: 'BULWARK_INVALID_ARGUMENT' });
    }
    assert.throws(() => FixedIndexWriter.create(path, { size: -1, chunkSize: KiB }), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => FixedIndexWriter.create(path, { size: 1, chunkSize: KiB, uuid: Buffer.alloc(3) }),
      { code: 'BULWARK_INVALID_ARGUMENT' });
    const w = FixedIndexWriter.create(path, { size: 2 * KiB, chunkSize: KiB, fsync: false });
    assert.throws(() => w.add(2, digestFor(2)), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => w.add(0, Buffer.alloc(31)), { code: 'BULWARK_INVALID_ARGUMENT' });
    w.abort();
    assert.deepEqual(tmpFiles(), []);
  });

  test('create in a missing directory is a typed error', () => {
    assert.throws(() => FixedIndexWriter.create(join(dir, 'no', 'such.fidx'), { size: 1, chunkSize: 1 }),
      (err) => isBulwarkError(err));
  });
});
