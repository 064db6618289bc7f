/**
 * Fixtures for the index and manifest tests. The byte builders here follow
 * PBS-NOTES.md by hand (plain offsets, PBS's magic bytes as literals) and
 * share no code with datastore/, so a test comparing the two checks the
 * implementation against the spec rather than against itself.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** From PBS file_formats.rs. */
export const PBS_FIXED_MAGIC = Buffer.from([47, 127, 65, 237, 145, 253, 15, 205]);
export const PBS_DYNAMIC_MAGIC = Buffer.from([28, 145, 78, 165, 25, 186, 179, 205]);

export const TEST_UUID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
export const TEST_CTIME = 1_700_000_000;

export function makeTempDir(): string {
  return mkdtempSync(join(tmpdir(), 'bulwark-'));
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A distinct, reproducible digest per number. */
export function digestFor(i: number): Buffer {
  return createHash('sha256').update(`chunk ${i}`).digest();
}

/** mulberry32: a tiny seeded PRNG so fuzz cases are the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomInt(rand: () => number, below: number): number {
  return Math.floor(rand() * below);
}

export function randomBuffer(rand: () => number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buf[i] = randomInt(rand, 256);
  return buf;
}

/** Deterministic Fisher–Yates shuffle of 0..n-1. */
export function shuffledIndices(rand: () => number, n: number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(rand, i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** PBS: SHA-256 over all digests in order. */
export function pbsFixedCsum(digests: readonly Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const d of digests) h.update(d);
  return h.digest();
}

export interface DynamicEntryFixture {
  readonly end: number;
  readonly digest: Buffer;
}

/** PBS: SHA-256 over (end offset as u64 LE, digest) of every entry in order. */
export function pbsDynamicCsum(entries: readonly DynamicEntryFixture[]): Buffer {
  const h = createHash('sha256');
  for (const e of entries) {
    const le = Buffer.alloc(8);
    le.writeBigUInt64LE(BigInt(e.end));
    h.update(le).update(e.digest);
  }
  return h.digest();
}

function header(magic: Buffer, uuid: Buffer, ctime: number, csum: Buffer): Buffer {
  const h = Buffer.alloc(4096);
  magic.copy(h, 0);
  uuid.copy(h, 8);
  h.writeBigInt64LE(BigInt(ctime), 24);
  csum.copy(h, 32);
  return h;
}

export function buildFixedIndexBytes(opts: {
  size: number | bigint; chunkSize: number | bigint; digests: readonly Buffer[];
  uuid?: Buffer; ctime?: number; csum?: Buffer; magic?: Buffer;
}): Buffer {
  const h = header(opts.magic ?? PBS_FIXED_MAGIC, opts.uuid ?? TEST_UUID, opts.ctime ?? TEST_CTIME,
    opts.csum ?? pbsFixedCsum(opts.digests));
  h.writeBigUInt64LE(BigInt(opts.size), 64);
  h.writeBigUInt64LE(BigInt(opts.chunkSize), 72);
  return Buffer.concat([h, ...opts.digests]);
}

export function buildDynamicIndexBytes(opts: {
  entries: readonly DynamicEntryFixture[]; uuid?: Buffer; ctime?: number; csum?: Buffer; magic?: Buffer;
}): Buffer {
  const h = header(opts.magic ?? PBS_DYNAMIC_MAGIC, opts.uuid ?? TEST_UUID, opts.ctime ?? TEST_CTIME,
    opts.csum ?? pbsDynamicCsum(opts.entries));
  const parts = [h];
  for (const e of opts.entries) {
    const le = Buffer.alloc(8);
    le.writeBigUInt64LE(BigInt(e.end));
    parts.push(le, e.digest);
  }
  return Buffer.concat(parts);
}

/** Entries for chunks of the given lengths, laid end to end. */
export function dynamicEntries(lengths: readonly number[]): DynamicEntryFixture[] {
  let end = 0;
  return lengths.map((len, i) => ({ end: (end += len), digest: digestFor(i) }));
}

/**
 * Random buffers shaped to reach past the first checks: some carry the right
 * magic, lengths cluster around the header size and whole entries.
 */
export function* garbageBuffers(seed: number, count: number, magic: Buffer, entrySize: number): Generator<Buffer> {
  const rand = seededRandom(seed);
  for (let i = 0; i < count; i++) {
    const shape = randomInt(rand, 4);
    const length = shape === 0 ? randomInt(rand, 64)
      : shape === 1 ? 4096 - 16 + randomInt(rand, 32)
      : 4096 + randomInt(rand, 8) * entrySize + randomInt(rand, 2) * randomInt(rand, entrySize);
    const buf = randomBuffer(rand, length);
    if (randomInt(rand, 3) > 0) magic.copy(buf, 0, 0, Math.min(magic.length, buf.length));
    yield buf;
  }
}

/** Copies of `valid` with a few random bytes changed. */
export function* mutatedBuffers(seed: number, count: number, valid: Buffer): Generator<Buffer> {
  const rand = seededRandom(seed);
  for (let i = 0; i < count; i++) {
    const buf = Buffer.from(valid);
    const flips = 1 + randomInt(rand, 4);
    for (let f = 0; f < flips; f++) buf[randomInt(rand, buf.length)] = randomInt(rand, 256);
    yield randomInt(rand, 5) === 0 ? buf.subarray(0, randomInt(rand, buf.length)) : buf;
  }
}
