/**
 * Fixtures for blob, chunk-store and chunk-backend tests: deterministic data,
 * ready-made chunks, a fake clock and temporary stores.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBlob } from '../../datastore/blob.ts';
import type { CryptKey } from '../../datastore/crypt-key.ts';
import { chunkDigest } from '../../datastore/digest.ts';

/** A clock tests move by hand. Starts at a whole second so fs times round-trip exactly. */
export interface FakeClock {
  now: () => number;
  advance(ms: number): void;
}

export function fakeClock(startMs = 1_700_000_000_000): FakeClock {
  let t = startMs;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** Deterministic bytes that lz4 cannot shrink (xorshift32 stream). */
export function noiseBytes(seed: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (seed | 0) || 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Deterministic bytes that compress to roughly half: noise runs from a small alphabet of words. */
export function textLikeBytes(seed: number, size: number): Buffer {
  const words = ['chunk ', 'store ', 'backup ', `s${seed} `, 'index ', 'prune ', 'verify ', 'datastore '];
  const noise = noiseBytes(seed, size);
  const out = Buffer.allocUnsafe(size);
  let i = 0;
  let k = 0;
  while (i < size) {
    const w = words[noise[k++ % size]! & 7]!;
    i += out.write(w, i);
    if (i < size) out[i++] = noise[(k * 7) % size]!; // a little entropy between words
  }
  return out;
}

export interface TestChunk {
  data: Buffer;
  digest: Buffer;
  hex: string;
  blob: Buffer;
}

/** A chunk and its blob: compressed unless `compress: false`, encrypted with `key`. */
export function makeChunk(seed: number, size = 4096, opts: { compress?: boolean; key?: CryptKey; noise?: boolean } = {}): TestChunk {
  const data = opts.noise ? noiseBytes(seed, size) : textLikeBytes(seed, size);
  const digest = chunkDigest(data, opts.key);
  return { data, digest, hex: digest.toString('hex'), blob: encodeBlob(data, { compress: opts.compress ?? true, key: opts.key }) };
}

export function tempDir(prefix = 'bulwark-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A temp dir on tmpfs when there is one. Only for tests that must create a
 * real 65536-dir chunk store: on this machine kind that takes ~3 s to make and
 * ~6 s to delete on disk, ~1 s in all on tmpfs.
 */
export function tmpfsTempDir(prefix = 'bulwark-'): string {
  try {
    if (statSync('/dev/shm').isDirectory()) return mkdtempSync(join('/dev/shm', prefix));
  } catch {
    // fall through to the ordinary temp dir
  }
  return tempDir(prefix);
}

/**
 * A store path with only an empty `.chunks` (no prefix dirs): the fs backend
 * recreates missing prefix dirs on put, so behaviour is the same as a
 * fully created store while the test stays fast.
 */
export function sparseStoreDir(parent: string, name = `store-${Math.random().toString(36).slice(2)}`): string {
  const path = join(parent, name);
  mkdirSync(join(path, '.chunks'), { recursive: true });
  return path;
}

export function removeDir(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
