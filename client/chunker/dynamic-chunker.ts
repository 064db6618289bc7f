/**
 * Content-defined chunking for file archives (after PBS chunker.rs).
 *
 * A chunk of length L ends where either L == max, or L >= min and the buzhash
 * of its last 64 bytes satisfies h % d == d - 1. The average size avg is a
 * power of two, min = avg / 4, max = avg * 4, and the discriminator is
 * d = 0.75 * avg (an integer: avg >= 1024 is a power of two).
 *
 * Why 0.75: past min, each position ends the chunk with probability 1/d
 * (the hash of fresh 64-byte windows is close to uniform), so L - min is
 * geometric with mean d and E[L] = min + d = avg/4 + 3avg/4 = avg. The max
 * cap cuts the tail: P(L reaches max) = (1 - 1/d)^(max - min) ~ e^-5 = 0.7%
 * of chunks, and the mean drops by d * e^-5, 0.5% (E[L] = 0.995 avg).
 * PBS instead uses casync's fit d = avg / (-1.42888852e-7 * avg +
 * 1.33237515), tuned near 64 KiB; at the 4 MiB default it gives d = 5.46 MiB
 * and a mean of about 6.1 MiB. PBS computes d but cuts with a mask test;
 * Bulwark uses the modulo test as casync does. Changing d moves every chunk
 * boundary (old chunks stop deduplicating against new ones).
 *
 * Speed. The hash at a position depends on the last 64 bytes only
 * (buzhash.ts), so nothing is hashed before min - 64 bytes into a chunk, and
 * the modulo (an integer division, slow) runs only on candidates passed by a
 * mask filter: d = 3 * 2^k, so h % d == d - 1 implies that the low k bits of
 * h equal those of d - 1. One AND and one compare per byte pass 2^-k = 3/d
 * of positions (one per 256 KiB of data at avg 1 MiB); the real modulo then
 * decides, so the result is exactly h % d == d - 1.
 *
 * The scan runs in C++ when the native addon is loaded (native/src/buzhash.cc,
 * about 1 GB/s against 230 MB/s here); scanRolling below is the fallback and
 * the reference the tests hold it to.
 *
 * Determinism: cuts are absolute stream offsets and never depend on how the
 * input is split into buffers.
 */
import { MAX_CHUNK_SIZE } from '../../datastore/formats.ts';
import { bulwarkError } from '../../errors.ts';
import { buzhashScan } from '../../native/index.ts';
import { BUZHASH_TABLE, BUZHASH_WINDOW } from './buzhash.ts';

/** The same table viewed as int32: loads stay small integers in the hot loop. */
const TABLE = new Int32Array(BUZHASH_TABLE.buffer, BUZHASH_TABLE.byteOffset, BUZHASH_TABLE.length);

export const DEFAULT_AVG_CHUNK_SIZE = 4 * 1024 * 1024;
/** Smallest accepted average: keeps min (avg / 4) well above the 64-byte window. */
export const MIN_AVG_CHUNK_SIZE = 1024;

export interface DynamicChunkerOptions {
  /** Average chunk size, a power of two; default 4 MiB (max = 4 × avg must stay <= 16 MiB). */
  avgSize?: number;
  /** Use the addon's scan when it is loaded (default true); false: the JavaScript one (tests compare both). */
  native?: boolean;
}

/** The discriminator d for an average chunk size: mean chunk = min + d = avg (see the header). */
export function chunkDiscriminator(avg: number): number {
  return Math.round(0.75 * avg);
}

export class DynamicChunker {
  readonly avgSize: number;
  readonly minSize: number;
  readonly maxSize: number;
  readonly discriminator: number;

  private readonly params: CutParams;

  /** Bytes pushed so far (absolute stream offset of the next byte). */
  private pos = 0;
  private chunkStart = 0;
  /** Bytes hashed into the window for the current chunk (< 64 while filling). */
  private filled = 0;
  /** The rolling hash, in an Int32Array so it never becomes a boxed double. */
  private readonly state = new Int32Array(1);
  /** The 64 stream bytes before the current buffer, for bytes leaving the window. */
  private readonly tail = new Uint8Array(BUZHASH_WINDOW);

  /** The scan in C++ (about 4× faster) unless the addon is missing or `native: false`. */
  private readonly native: boolean;

  constructor(opts: DynamicChunkerOptions = {}) {
    this.native = opts.native !== false && buzhashScan !== undefined;
    const avg = opts.avgSize ?? DEFAULT_AVG_CHUNK_SIZE;
    if (!Number.isInteger(avg) || avg < MIN_AVG_CHUNK_SIZE || (avg & (avg - 1)) !== 0 || avg * 4 > MAX_CHUNK_SIZE) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'average chunk size', `${avg} (a power of two from ${MIN_AVG_CHUNK_SIZE} to ${MAX_CHUNK_SIZE / 4})`);
    }
    this.avgSize = avg;
    this.minSize = avg / 4;
    this.maxSize = avg * 4;
    const d = chunkDiscriminator(avg);
    this.discriminator = d;
    const mask = (d & -d) - 1; // 2^k - 1 for d = 3 * 2^k
    this.params = { d, dm1: d - 1, mask, low: (d - 1) & mask };
  }

  /** Absolute stream offset of the next byte to be pushed. */
  get position(): number {
    return this.pos;
  }

  /** Feeds the next bytes of the stream; returns the chunk ends (absolute, exclusive) found in them. */
  push(buf: Uint8Array): number[] {
    const cuts: number[] = [];
    const n = buf.length;
    const base = this.pos;
    const p = this.params;
    const state = this.state;
    let i = 0;
    while (i < n) {
      const start = this.chunkStart;
      if (this.filled < BUZHASH_WINDOW) {
        // Skip to the first byte whose hash can matter, then fill the window.
        const next = start + this.minSize - BUZHASH_WINDOW + this.filled - base;
        if (i < next) {
          i = Math.min(n, next);
          continue;
        }
        let h = state[0]!;
        while (i < n && this.filled < BUZHASH_WINDOW) {
          h = ((h << 1) | (h >>> 31)) ^ TABLE[buf[i]!]!;
          i++;
          this.filled++;
        }
        state[0] = h;
        if (this.filled < BUZHASH_WINDOW) break;
        // Chunk length is now exactly min: the first candidate.
        if ((h >>> 0) % this.discriminator === this.discriminator - 1) {
          cuts.push(base + i);
          this.cut(base + i);
        }
        continue;
      }
      const end = Math.min(n, start + this.maxSize - base);
      let cut = this.native ? buzhashScan!(buf, this.tail, i, end, state, p.d, BUZHASH_TABLE) : scanRolling(buf, this.tail, i, end, state, p);
      if (cut < 0 && base + end === start + this.maxSize) cut = end;
      if (cut < 0) break;
      cuts.push(base + cut);
      this.cut(base + cut);
      i = cut;
    }
    const tail = this.tail;
    if (n >= BUZHASH_WINDOW) {
      tail.set(buf.subarray(n - BUZHASH_WINDOW));
    } else {
      tail.copyWithin(0, n);
      tail.set(buf, BUZHASH_WINDOW - n);
    }
    this.pos = base + n;
    return cuts;
  }

  /** Ends the stream: returns the end of the last (short) chunk, if any bytes are pending. */
  finish(): number[] {
    const last = this.pos > this.chunkStart ? [this.pos] : [];
    this.cut(this.pos);
    return last;
  }

  private cut(at: number): void {
    this.chunkStart = at;
    this.filled = 0;
    this.state[0] = 0;
  }
}

/** Constants of the cut test, as small integers (see the header for the maths). */
interface CutParams {
  readonly d: number;
  readonly dm1: number;
  /** 2^k - 1, where 2^k is the largest power of two dividing d. */
  readonly mask: number;
  /** (d - 1) & mask: the low k bits every cut's hash has. */
  readonly low: number;
}

/**
 * The hot loop, kept in a small top-level function so the JIT sees only
 * int32 values (the hash lives in an Int32Array, never in a double-typed
 * field). Rolls bytes i..end-1 into the hash; returns the index just past a
 * cut, or -1. state[0] holds the hash in and out.
 */
function scanRolling(buf: Uint8Array, tail: Uint8Array, i: number, end: number, state: Int32Array, p: CutParams): number {
  const T = TABLE;
  const d = p.d;
  const dm1 = p.dm1;
  const mask = p.mask;
  const low = p.low;
  let h = state[0]!;
  // Bytes leaving the window still come from the previous buffer.
  for (; i < end && i < BUZHASH_WINDOW; i++) {
    h = ((h << 1) | (h >>> 31)) ^ T[tail[i]!]! ^ T[buf[i]!]!;
    if ((h & mask) === low && (h >>> 0) % d === dm1) {
      state[0] = h;
      return i + 1;
    }
  }
  // Four bytes per round with one branch for the (rare) candidates, then exact checks in order.
  for (const end4 = end - 3; i < end4; i += 4) {
    const h1 = ((h << 1) | (h >>> 31)) ^ T[buf[i - 64]!]! ^ T[buf[i]!]!;
    const h2 = ((h1 << 1) | (h1 >>> 31)) ^ T[buf[i - 63]!]! ^ T[buf[i + 1]!]!;
    const h3 = ((h2 << 1) | (h2 >>> 31)) ^ T[buf[i - 62]!]! ^ T[buf[i + 2]!]!;
    const h4 = ((h3 << 1) | (h3 >>> 31)) ^ T[buf[i - 61]!]! ^ T[buf[i + 3]!]!;
    const c1 = (h1 & mask) === low;
    const c2 = (h2 & mask) === low;
    const c3 = (h3 & mask) === low;
    const c4 = (h4 & mask) === low;
    if (c1 || c2 || c3 || c4) {
      const found = c1 && (h1 >>> 0) % d === dm1 ? 1 : c2 && (h2 >>> 0) % d === dm1 ? 2 : c3 && (h3 >>> 0) % d === dm1 ? 3 : c4 && (h4 >>> 0) % d === dm1 ? 4 : 0;
      if (found > 0) {
        state[0] = found === 1 ? h1 : found === 2 ? h2 : found === 3 ? h3 : h4;
        return i + found;
      }
    }
    h = h4;
  }
  for (; i < end; i++) {
    h = ((h << 1) | (h >>> 31)) ^ T[buf[i - BUZHASH_WINDOW]!]! ^ T[buf[i]!]!;
    if ((h & mask) === low && (h >>> 0) % d === dm1) {
      state[0] = h;
      return i + 1;
    }
  }
  state[0] = h;
  return -1;
}

/**
 * Cuts a byte stream into content-defined chunks. A chunk that lies inside
 * one input buffer is yielded as a view of it (no copy), so the source must
 * not reuse its buffers; chunks spanning buffers are copied once.
 */
export async function* chunkStream(source: AsyncIterable<Uint8Array>, opts: DynamicChunkerOptions = {}): AsyncGenerator<Buffer> {
  const chunker = new DynamicChunker(opts);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const take = (last: Buffer): Buffer => {
    if (pending.length === 0) return last;
    pending.push(last);
    const out = Buffer.concat(pending, pendingBytes + last.length);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  for await (const raw of source) {
    if (raw.length === 0) continue;
    const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const bufStart = chunker.position;
    let off = 0;
    for (const cut of chunker.push(buf)) {
      const end = cut - bufStart;
      yield take(buf.subarray(off, end));
      off = end;
    }
    if (off < buf.length) {
      pending.push(off === 0 ? buf : buf.subarray(off));
      pendingBytes += buf.length - off;
    }
  }
  chunker.finish();
  if (pending.length > 0) yield pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
}
