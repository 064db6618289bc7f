import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamicIndexReader, DynamicIndexWriter } from '../../datastore/dynamic-index.ts';
import { indexFromBuffer, openIndex } from '../../datastore/index-file.ts';
import { INDEX_HEADER_SIZE, MAGIC_DYNAMIC_INDEX, MAX_CHUNK_SIZE } from '../../datastore/formats.ts';
import { isBulwarkError } from '../../errors.ts';
import {
  PBS_DYNAMIC_MAGIC, PBS_FIXED_MAGIC, TEST_CTIME, TEST_UUID, buildDynamicIndexBytes, digestFor, dynamicEntries,
  garbageBuffers, makeTempDir, mutatedBuffers, pbsDynamicCsum, randomInt, removeTempDir, seededRandom,
  type DynamicEntryFixture,
} from '../helpers/index-fixtures.ts';

const dir = makeTempDir();
after(() => removeTempDir(dir));
let seq = 0;
const freshPath = (): string => join(dir, `root${seq++}.pxar.didx`);

function writeDynamic(entries: readonly DynamicEntryFixture[], fsync = false): string {
  const path = freshPath();
  const w = DynamicIndexWriter.create(path, { uuid: TEST_UUID, ctime: TEST_CTIME, fsync });
  for (const e of entries) w.append(e.end, e.digest);
  w.close();
  return path;
}

describe('dynamic index layout', () => {
  test('header is exactly 4096 bytes: an empty index is only its header', () => {
    assert.equal(INDEX_HEADER_SIZE, 4096);
    assert.equal(readFileSync(writeDynamic([])).length, 4096);
  });

  test('magic is PBS dynamic index magic', () => {
    assert.deepEqual(MAGIC_DYNAMIC_INDEX, PBS_DYNAMIC_MAGIC);
  });

  test('writer output matches the PBS layout byte for byte', () => {
    const entries = dynamicEntries([100, 5000, 1, 70_000]);
    assert.deepEqual(readFileSync(writeDynamic(entries, true)), buildDynamicIndexBytes({ entries }));
  });

  test('checksum is SHA-256 over (end LE ‖ digest) of every entry', () => {
    const entries = dynamicEntries([10, 20, 30]);
    const path = freshPath();
    const w = DynamicIndexWriter.create(path, { fsync: false });
    for (const e of entries) w.append(e.end, e.digest);
    assert.equal(w.count, 3);
    assert.deepEqual(w.close(), { csum: pbsDynamicCsum(entries), count: 3, size: 60 });
    const r = DynamicIndexReader.open(path);
    assert.deepEqual(r.indexCsum, pbsDynamicCsum(entries));
    assert.deepEqual(r.computeCsum(), pbsDynamicCsum(entries));
  });
});

describe('dynamic index round trips', () => {
  test('0 chunks', () => {
    const r = DynamicIndexReader.open(writeDynamic([]));
    assert.equal(r.kind, 'dynamic');
    assert.equal(r.count(), 0);
    assert.equal(r.totalSize(), 0);
    assert.deepEqual([...r.digests()], []);
    assert.equal(r.chunkFromOffset(0), undefined);
    assert.deepEqual(r.uuid, TEST_UUID);
    assert.equal(r.ctime, TEST_CTIME);
  });

  test('1 chunk', () => {
    const r = DynamicIndexReader.open(writeDynamic(dynamicEntries([777])));
    assert.equal(r.count(), 1);
    assert.deepEqual(r.digest(0), digestFor(0));
    assert.deepEqual(r.chunkRange(0), { start: 0, end: 777 });
    assert.equal(r.totalSize(), 777);
    assert.deepEqual(r.chunkFromOffset(776), { index: 0, offsetInChunk: 776 });
    assert.equal(r.chunkFromOffset(777), undefined);
  });

  test('many chunks (more than one write buffer)', () => {
    const rand = seededRandom(42);
    const entries = dynamicEntries(Array.from({ length: 5000 }, () => 1 + randomInt(rand, 4 * 1024 * 1024)));
    const r = DynamicIndexReader.open(writeDynamic(entries));
    assert.equal(r.count(), entries.length);
    assert.deepEqual([...r.digests()], entries.map((e) => e.digest));
    assert.equal(r.totalSize(), entries.at(-1)!.end);
    for (let i = 0; i < entries.length; i++) {
      assert.equal(r.chunkEnd(i), entries[i]!.end);
      assert.deepEqual(r.chunkRange(i), { start: i === 0 ? 0 : entries[i - 1]!.end, end: entries[i]!.end });
    }
  });

  test('chunkFromOffset at every boundary agrees with a linear scan', () => {
    const entries = dynamicEntries([1, 2, 3, 100, 1, 4096, 7, 1, 1, 50]);
    const r = DynamicIndexReader.open(writeDynamic(entries));
    for (let i = 0; i < entries.length; i++) {
      const { start, end } = r.chunkRange(i);
      assert.deepEqual(r.chunkFromOffset(start), { index: i, offsetInChunk: 0 }, `start of ${i}`);
      assert.deepEqual(r.chunkFromOffset(end - 1), { index: i, offsetInChunk: end - 1 - start }, `end of ${i}`);
    }
    assert.equal(r.chunkFromOffset(r.totalSize()), undefined);
    assert.equal(r.chunkFromOffset(-1), undefined);
    assert.equal(r.chunkFromOffset(0.5), undefined);
  });

  test('openIndex recognises a dynamic index', () => {
    const r = openIndex(writeDynamic(dynamicEntries([5, 5])));
    assert.equal(r.kind, 'dynamic');
    assert.equal(r.totalSize(), 10);
    assert.throws(() => r.digest(2), { code: 'BULWARK_INVALID_ARGUMENT' });
  });
});

describe('dynamic index corrupt inputs', () => {
  const entries = dynamicEntries([100, 200, 300]);
  const valid = buildDynamicIndexBytes({ entries });
  const read = (buf: Buffer) => () => DynamicIndexReader.fromBuffer(buf, 'test.didx');

  test('the hand-built reference file is accepted', () => {
    assert.equal(DynamicIndexReader.fromBuffer(valid, 'test.didx').count(), 3);
  });

  test('wrong magic', () => {
    const buf = Buffer.from(valid);
    buf[7]! ^= 1;
    assert.throws(read(buf), { code: 'BULWARK_BAD_MAGIC' });
    assert.throws(() => indexFromBuffer(buf, 'x'), { code: 'BULWARK_BAD_MAGIC' });
    assert.throws(read(buildDynamicIndexBytes({ entries, magic: PBS_FIXED_MAGIC })), { code: 'BULWARK_BAD_MAGIC' });
  });

  test('truncated header', () => {
    assert.throws(read(valid.subarray(0, 4095)), { code: 'BULWARK_TRUNCATED' });
    assert.throws(read(valid.subarray(0, 64)), { code: 'BULWARK_TRUNCATED' });
    assert.throws(read(valid.subarray(0, 7)), { code: 'BULWARK_TRUNCATED' });
  });

  test('partial entry at the end', () => {
    assert.throws(read(valid.subarray(0, valid.length - 1)), { code: 'BULWARK_INDEX_CORRUPT' });
    assert.throws(read(valid.subarray(0, 4096 + 8)), { code: 'BULWARK_INDEX_CORRUPT' });
  });

  test('a whole entry missing is caught by the checksum', () => {
    assert.throws(read(valid.subarray(0, valid.length - 40)), { code: 'BULWARK_INDEX_CHECKSUM' });
  });

  test('end offsets not strictly increasing', () => {
    const cases: DynamicEntryFixture[][] = [
      [{ end: 0, digest: digestFor(0) }],
      [{ end: 10, digest: digestFor(0) }, { end: 10, digest: digestFor(1) }],
      [{ end: 10, digest: digestFor(0) }, { end: 20, digest: digestFor(1) }, { end: 15, digest: digestFor(2) }],
    ];
    for (const bad of cases) {
      // The checksum is right, so only the order check can refuse it.
      assert.throws(read(buildDynamicIndexBytes({ entries: bad })), { code: 'BULWARK_INDEX_CORRUPT' });
    }
  });

  test('a chunk larger than the maximum', () => {
    const bad = [{ end: MAX_CHUNK_SIZE + 1, digest: digestFor(0) }];
    assert.throws(read(buildDynamicIndexBytes({ entries: bad })), { code: 'BULWARK_INDEX_CORRUPT' });
  });

  test('wrong checksum (one digest byte flipped)', () => {
    const buf = Buffer.from(valid);
    buf[4096 + 40 + 8 + 5]! ^= 0x01;
    assert.throws(read(buf), { code: 'BULWARK_INDEX_CHECKSUM' });
  });

  test('a corrupted file on disk is refused by open', () => {
    const path = freshPath();
    const buf = Buffer.from(valid);
    buf[40]! ^= 1; // inside the stored checksum
    writeFileSync(path, buf);
    assert.throws(() => DynamicIndexReader.open(path), { code: 'BULWARK_INDEX_CHECKSUM' });
  });

  test('random garbage only ever yields typed errors', () => {
    const codes = new Set<string>();
    const inputs = [...garbageBuffers(4321, 300, PBS_DYNAMIC_MAGIC, 40), ...mutatedBuffers(17, 300, valid)];
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
    for (const code of ['BULWARK_BAD_MAGIC', 'BULWARK_TRUNCATED', 'BULWARK_INDEX_CORRUPT', 'BULWARK_INDEX_CHECKSUM']) {
      assert.ok(codes.has(code), `fuzzing never produced ${code}`);
    }
  });
});

describe('dynamic index writer', () => {
  const tmpFiles = () => readdirSync(dir).filter((f) => f.endsWith('.tmp'));

  test('append refuses offsets that do not increase', () => {
    const path = freshPath();
    const w = DynamicIndexWriter.create(path, { fsync: false });
    assert.throws(() => w.append(0, digestFor(0)), { code: 'BULWARK_INVALID_ARGUMENT' });
    w.append(10, digestFor(0));
    assert.throws(() => w.append(10, digestFor(1)), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => w.append(5, digestFor(1)), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => w.append(10.5, digestFor(1)), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => w.append(10 + MAX_CHUNK_SIZE + 1, digestFor(1)), { code: 'BULWARK_CHUNK_TOO_LARGE' });
    assert.throws(() => w.append(20, Buffer.alloc(8)), { code: 'BULWARK_INVALID_ARGUMENT' });
    w.append(20, digestFor(1));
    // Refused appends left no trace: the index holds exactly the two good entries.
    assert.deepEqual(w.close(), { csum: pbsDynamicCsum(dynamicEntries([10, 10])), count: 2, size: 20 });
    assert.equal(DynamicIndexReader.open(path).count(), 2);
  });

  test('abort leaves no temp file and no index', () => {
    const path = freshPath();
    const w = DynamicIndexWriter.create(path, { fsync: false });
    assert.equal(tmpFiles().length, 1);
    for (let i = 1; i <= 2000; i++) w.append(i, digestFor(i)); // past one buffer, so bytes hit the disk
    w.abort();
    assert.deepEqual(tmpFiles(), []);
    assert.throws(() => DynamicIndexReader.open(path), { code: 'BULWARK_NOT_FOUND' });
    assert.throws(() => w.append(5000, digestFor(0)), { code: 'BULWARK_INTERNAL' });
    assert.throws(() => w.close(), { code: 'BULWARK_INTERNAL' });
  });

  test('close leaves only the index behind and cannot run twice', () => {
    const path = freshPath();
    const w = DynamicIndexWriter.create(path, { fsync: false });
    w.append(1, digestFor(0));
    w.close();
    assert.deepEqual(tmpFiles(), []);
    assert.throws(() => w.close(), { code: 'BULWARK_INTERNAL' });
    w.abort(); // harmless after close
    assert.equal(DynamicIndexReader.open(path).count(), 1);
  });
});
