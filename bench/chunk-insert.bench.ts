/**
 * Chunk insert throughput, as the backup server sees it: 4 MiB lz4 blobs of
 * compressible-ish data inserted one after another into a store on disk,
 * each verified first (lz4 decode + SHA-256 against the digest).
 *
 * Cases (256 MiB of raw data each):
 * - new chunks with sync 'none', 'filesystem' (flush() included) and 'file'
 *   (fsync of every chunk and its dir);
 * - the same chunks again (duplicates: verify, then only a touch).
 * Baseline: plain SHA-256 over the same raw bytes in the same run, so the
 * ratio says what storing costs on top of the hash the server must compute
 * anyway. Throughput counts raw (decoded) bytes.
 *
 * `npx tsx bench/chunk-insert.bench.ts` prints the table; bench/run.ts calls run().
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { encodeBlob } from '../datastore/blob.ts';
import type { SyncLevel } from '../datastore/chunk-backend.ts';
import { ChunkStore } from '../datastore/chunk-store.ts';
import { chunkDigest } from '../datastore/digest.ts';
import { benchResult, printResults, type BenchResult } from './result.ts';

const CHUNK_SIZE = 4 * 1024 * 1024;
const CHUNKS_PER_CASE = 64;
const BASELINE = 'SHA-256 of the same bytes';

interface ChunkSet {
  digests: Buffer[];
  blobs: Buffer[];
  rawBytes: number;
  encodedBytes: number;
  /** Time SHA-256 took over the raw data of this set. */
  shaMs: number;
}

/**
 * 8 MiB of random bytes where every other 64-byte run repeats an earlier
 * one: lz4 shrinks it to roughly 55 %, like mixed real data.
 */
function makeBase(): Buffer {
  const base = randomBytes(2 * CHUNK_SIZE);
  for (let off = 128; off + 128 <= base.length; off += 128) {
    const from = (off * 2654435761) % off & ~63;
    base.copy(base, off + 64, from, from + 64);
  }
  return base;
}

function makeSet(base: Buffer, seed: number): ChunkSet {
  const set: ChunkSet = { digests: [], blobs: [], rawBytes: 0, encodedBytes: 0, shaMs: 0 };
  for (let i = 0; i < CHUNKS_PER_CASE; i++) {
    const start = ((seed * 131 + i) * 65_537) % CHUNK_SIZE;
    const data = Buffer.from(base.subarray(start, start + CHUNK_SIZE));
    data.writeUInt32LE(seed, 0); // distinct digests per set and chunk
    data.writeUInt32LE(i, 4);
    const t0 = performance.now();
    set.digests.push(createHash('sha256').update(data).digest());
    set.shaMs += performance.now() - t0;
    const blob = encodeBlob(data, { compress: true });
    set.blobs.push(blob);
    set.rawBytes += data.length;
    set.encodedBytes += blob.length;
  }
  return set;
}

async function insertAll(store: ChunkStore, set: ChunkSet, expectExisted: boolean): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < set.blobs.length; i++) {
    const { existed } = await store.insertChunk(set.digests[i]!, set.blobs[i]!);
    if (existed !== expectExisted) throw new Error(`chunk ${i}: existed=${existed}, expected ${expectExisted}`);
  }
  if (store.sync === 'filesystem') await store.flush();
  return performance.now() - t0;
}

/** `.chunks` with the prefix dirs these sets need: the state of a created store, minus 65 k empty dirs to delete afterwards. */
function prepareStore(dir: string, sets: readonly ChunkSet[]): void {
  for (const set of sets) for (const d of set.digests) mkdirSync(join(dir, '.chunks', d.toString('hex').slice(0, 4)), { recursive: true });
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
  const rows: BenchResult[] = [];
  try {
    const base = makeBase();
    // Warm up lz4, SHA and the store path so the first case is not penalised.
    const warm = makeSet(base, 999);
    prepareStore(dir, [warm]);
    await insertAll(ChunkStore.open(dir, { sync: 'none' }), { ...warm, blobs: warm.blobs.slice(0, 4), digests: warm.digests.slice(0, 4) }, false);
    chunkDigest(base);

    const ratio = (set: ChunkSet) => `lz4 ${((100 * set.encodedBytes) / set.rawBytes).toFixed(0)} %`;
    for (const [n, sync] of (['none', 'filesystem', 'file'] as SyncLevel[]).entries()) {
      const set = makeSet(base, n + 1);
      prepareStore(dir, [set]);
      const store = ChunkStore.open(dir, { sync });
      const newMs = await insertAll(store, set, false);
      rows.push(benchResult(`chunk insert, new, sync=${sync}`, set.rawBytes, newMs, BASELINE, set.rawBytes, set.shaMs, `${CHUNKS_PER_CASE}×4 MiB, ${ratio(set)}, verify included`));
      if (sync === 'none' || sync === 'file') {
        const dupMs = await insertAll(store, set, true);
        rows.push(benchResult(`chunk insert, duplicate, sync=${sync}`, set.rawBytes, dupMs, BASELINE, set.rawBytes, set.shaMs, 'verify + touch, nothing written'));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printResults(await run());
}
