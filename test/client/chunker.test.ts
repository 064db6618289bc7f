import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { BUZHASH_TABLE, Buzhash } from '../../client/chunker/buzhash.ts';
import { DynamicChunker, chunkDiscriminator, chunkStream } from '../../client/chunker/dynamic-chunker.ts';
import { fixedChunks } from '../../client/chunker/fixed-chunker.ts';
import { buzhashScan, nativeLoadError } from '../../native/index.ts';
import { streamBytes } from '../helpers/tree-fixtures.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Deterministic split sizes (xorshift32), some tiny, some large. */
function splits(seed: number, total: number): number[] {
  const out: number[] = [];
  let x = seed;
  let left = total;
  while (left > 0) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const r = x >>> 0;
    const n = Math.min(left, r % 4 === 0 ? 1 + (r % 97) : 1 + (r % (300 * KiB)));
    out.push(n);
    left -= n;
  }
  return out;
}

function cutsOf(data: Buffer, avgSize: number, pieces?: number[], native = true): number[] {
  const c = new DynamicChunker({ avgSize, native });
  const cuts: number[] = [];
  let off = 0;
  for (const n of pieces ?? [data.length]) {
    cuts.push(...c.push(data.subarray(off, off + n)));
    off += n;
  }
  return [...cuts, ...c.finish()];
}

/**
 * The cut rule written plainly, byte by byte with the reference hash: fill 64
 * bytes from the chunk start, then roll and test h % d == d - 1 (PBS's
 * chunker loop with Bulwark's discriminator and casync's modulo test). The
 * real chunker skips, unrolls and filters; it must agree exactly.
 */
function referenceCuts(data: Buffer, avg: number): number[] {
  const min = avg / 4;
  const max = avg * 4;
  const d = chunkDiscriminator(avg);
  const hash = new Buzhash();
  const cuts: number[] = [];
  let size = 0;
  for (let i = 0; i < data.length; i++) {
    const wasFull = hash.full;
    const h = hash.push(data[i]!);
    size++;
    if (wasFull && (size >= max || (size >= min && h % d === d - 1))) {
      cuts.push(i + 1);
      size = 0;
      hash.reset();
    }
  }
  if (size > 0) cuts.push(data.length);
  return cuts;
}

async function* pieces(data: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let off = 0;
  for (const n of sizes) {
    yield data.subarray(off, off + n);
    off += n;
  }
}

describe('buzhash', () => {
  test('the table is pinned: changing it would change every chunk boundary', () => {
    const digest = createHash('sha256').update(Buffer.from(BUZHASH_TABLE.buffer)).digest('hex');
    assert.equal(BUZHASH_TABLE.length, 256);
    assert.equal(new Set(BUZHASH_TABLE).size, 256);
    assert.equal(digest, PINNED_TABLE_SHA256);
    assert.deepEqual([...BUZHASH_TABLE.subarray(0, 4)], [3796849640, 1524450253, 3590364451, 174820946]);
  });

  test('the rolling hash depends on the last 64 bytes only', () => {
    const data = streamBytes(10, 1000);
    const rolled = new Buzhash();
    for (let i = 0; i < data.length; i++) {
      const h = rolled.push(data[i]!);
      if (i >= 63) assert.equal(h, Buzhash.of(data.subarray(i - 63, i + 1)), `position ${i}`);
    }
  });
});

describe('dynamic chunker', () => {
  test('cuts exactly where the plain byte-by-byte implementation of the rule cuts', () => {
    const random = streamBytes(11, 768 * KiB);
    const lowEntropy = Buffer.alloc(256 * KiB, 'abcabcab');
    const data = Buffer.concat([random, lowEntropy, random.subarray(0, 100 * KiB)]);
    for (const avg of [1024, 4096]) {
      const want = referenceCuts(data, avg);
      assert.deepEqual(cutsOf(data, avg), want, `avg ${avg}, native scan`);
      assert.deepEqual(cutsOf(data, avg, undefined, false), want, `avg ${avg}, JavaScript scan`);
    }
  });

  test('the native scan is loaded, and the JavaScript one agrees with it however the input is split', () => {
    assert.equal(nativeLoadError(), undefined);
    assert.equal(typeof buzhashScan, 'function');
    const data = streamBytes(13, 3 * MiB);
    for (const seed of [5, 6]) {
      const sizes = splits(seed, data.length);
      assert.deepEqual(cutsOf(data, 16 * KiB, sizes, false), cutsOf(data, 16 * KiB, sizes, true), `split seed ${seed}`);
    }
  });

  test('the native scan refuses bad arguments with a TypeError or RangeError, and reads nothing out of bounds', () => {
    const scan = buzhashScan!;
    const buf = new Uint8Array(100);
    const tail = new Uint8Array(64);
    const state = new Int32Array(1);
    assert.throws(() => scan(buf, tail, 0, 101, state, 768, BUZHASH_TABLE), RangeError);
    assert.throws(() => scan(buf, tail, 50, 10, state, 768, BUZHASH_TABLE), RangeError);
    assert.throws(() => scan(buf, new Uint8Array(10), 0, 10, state, 768, BUZHASH_TABLE), TypeError);
    assert.throws(() => scan(buf, tail, 0, 10, state, 768, new Uint32Array(10)), TypeError);
    assert.throws(() => scan(buf, tail, 0, 10, new Int32Array(0), 768, BUZHASH_TABLE), TypeError);
    assert.throws(() => scan(buf, tail, 0, 10, state, 0, BUZHASH_TABLE), RangeError);
    assert.throws(() => scan(buf, tail, -1, 10, state, 768, BUZHASH_TABLE), RangeError);
    assert.throws(() => (scan as (...a: unknown[]) => number)(buf, tail, 0, 10, state, 768), TypeError);
    assert.equal(scan(buf, tail, 0, 100, state, 768, BUZHASH_TABLE), -1, 'zeros never cut at d = 768');
  });

  test('the discriminator is 3/4 of the average, so the expected mean chunk is the average', () => {
    assert.equal(chunkDiscriminator(4 * MiB), 3 * MiB);
    assert.equal(new DynamicChunker({ avgSize: 1024 }).discriminator, 768);
    for (let avg = 1024; avg <= 4 * MiB; avg *= 2) {
      const d = chunkDiscriminator(avg);
      // The cut filter needs d = 3 * 2^k (dynamic-chunker.ts header).
      assert.equal(d, 3 * (d & -d), `avg ${avg}`);
      // min + E[geometric(1/d) capped at max - min]: within 1% of avg at every size, the 4 MiB default included.
      const expected = avg / 4 + d * (1 - Math.pow(1 - 1 / d, avg * 4 - avg / 4));
      assert.ok(Math.abs(expected - avg) / avg < 0.01, `avg ${avg}: expected mean ${expected}`);
    }
  });

  test('same cuts however the input is split into buffers', () => {
    const data = streamBytes(12, 6 * MiB);
    const whole = cutsOf(data, 64 * KiB);
    assert.ok(whole.length > 40, `only ${whole.length} chunks`);
    for (const seed of [1, 2, 3, 0x9e3779b9]) {
      assert.deepEqual(cutsOf(data, 64 * KiB, splits(seed, data.length)), whole, `split seed ${seed}`);
    }
  });

  test('respects min and max; zeros give max-size chunks', () => {
    const avg = 64 * KiB;
    const data = Buffer.concat([streamBytes(13, 4 * MiB), Buffer.alloc(2 * MiB)]);
    const cuts = cutsOf(data, avg);
    let prev = 0;
    for (const [i, cut] of cuts.entries()) {
      const len = cut - prev;
      if (i < cuts.length - 1) assert.ok(len >= avg / 4 && len <= avg * 4, `chunk ${i} is ${len} bytes`);
      prev = cut;
    }
    assert.equal(prev, data.length);
    const zeros = cutsOf(Buffer.alloc(MiB + 5), 4 * KiB);
    assert.ok(zeros.slice(0, -1).every((c, i) => c === (i + 1) * 16 * KiB));
  });

  // Sizes chosen for a few hundred chunks: a chunk's length has a standard deviation
  // of about 0.75 avg, so the mean of n chunks strays by 0.75 / sqrt(n) (3-5% here);
  // +-15% is three or more of those. (With ~60 chunks, e.g. avg 1 MiB over 64 MiB,
  // the noise alone is 10% and the check would mean little.)
  for (const [avg, total, seed] of [[64 * KiB, 32 * MiB, 14], [256 * KiB, 64 * MiB, 19]] as const) {
    test(`the mean chunk size over random data is within 15% of avg (avg ${avg / KiB} KiB over ${total / MiB} MiB)`, () => {
      const c = new DynamicChunker({ avgSize: avg });
      const cuts: number[] = [];
      for (let off = 0, i = 0; off < total; off += 8 * MiB, i++) cuts.push(...c.push(streamBytes(seed * 1000 + i, 8 * MiB)));
      cuts.push(...c.finish());
      const full = cuts.length - 1; // the last chunk is cut short by the end of the data
      const mean = cuts[full - 1]! / full;
      assert.ok(full >= 200, `only ${full} chunks`);
      assert.ok(Math.abs(mean - avg) / avg < 0.15, `mean ${mean} over ${full} chunks`);
    });
  }

  test('inserting bytes near the start changes only the first chunks', () => {
    const data = streamBytes(15, 8 * MiB);
    const shifted = Buffer.concat([data.subarray(0, 1000), Buffer.from('x'.repeat(100)), data.subarray(1000)]);
    const digests = (buf: Buffer, cuts: number[]) => cuts.map((c, i) => createHash('sha256').update(buf.subarray(i ? cuts[i - 1] : 0, c)).digest('hex'));
    const before = new Set(digests(data, cutsOf(data, 64 * KiB)));
    const after = digests(shifted, cutsOf(shifted, 64 * KiB));
    const fresh = after.filter((d) => !before.has(d));
    assert.ok(after.length > 60);
    assert.ok(fresh.length <= 2, `${fresh.length} of ${after.length} chunks changed`);
    assert.ok(!before.has(after[0]!), 'the first chunk must differ');
  });

  test('chunkStream yields the input back in chunks, as views where it can', async () => {
    const data = streamBytes(16, 3 * MiB);
    const out: Buffer[] = [];
    for await (const c of chunkStream(pieces(data, splits(7, data.length)), { avgSize: 64 * KiB })) out.push(c);
    assert.deepEqual(Buffer.concat(out), data);
    assert.deepEqual(out.map((c) => c.length), cutsOf(data, 64 * KiB).map((c, i, a) => c - (i ? a[i - 1]! : 0)));
    const views: Buffer[] = [];
    for await (const c of chunkStream(pieces(data, [data.length]), { avgSize: 64 * KiB })) views.push(c);
    assert.ok(views.every((c) => c.buffer === data.buffer), 'one input buffer: every chunk is a view of it');
  });

  test('refuses an average that is not a power of two or too large', () => {
    for (const avgSize of [1000, 3 * MiB, 8 * MiB, 512, 0]) {
      assert.throws(() => new DynamicChunker({ avgSize }), { code: 'BULWARK_INVALID_ARGUMENT' }, String(avgSize));
    }
    assert.equal(new DynamicChunker().maxSize, 16 * MiB);
  });
});

describe('fixed chunker', () => {
  test('splits into equal chunks, the last one shorter', async () => {
    const data = streamBytes(17, 3 * 64 * KiB + 123);
    const out: Buffer[] = [];
    for await (const c of fixedChunks(pieces(data, splits(9, data.length)), 64 * KiB)) out.push(c);
    assert.deepEqual(out.map((c) => c.length), [64 * KiB, 64 * KiB, 64 * KiB, 123]);
    assert.deepEqual(Buffer.concat(out), data);
  });

  test('defaults to 4 MiB and yields nothing for an empty stream', async () => {
    const data = streamBytes(18, 4 * MiB + 1);
    const sizes: number[] = [];
    for await (const c of fixedChunks(pieces(data, [MiB, 3 * MiB + 1]))) sizes.push(c.length);
    assert.deepEqual(sizes, [4 * MiB, 1]);
    for await (const _ of fixedChunks(pieces(data, []))) assert.fail('no chunk expected');
    await assert.rejects(async () => {
      for await (const _ of fixedChunks(pieces(data, [1]), 3000)) break;
    }, { code: 'BULWARK_INVALID_ARGUMENT' });
  });
});

/** sha256 of the table as 1024 little-endian bytes. */
const PINNED_TABLE_SHA256 = 'd01bbeb690c3e48d68bdbe348a3f616a4fc7d7ab00542d329aceaf148c679dba';
