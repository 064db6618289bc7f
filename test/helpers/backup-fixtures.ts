/**
 * Fixtures for the backup session tests (BackupWriter, BackupReader,
 * ResumeStore): a sparse temp store with a fake clock, planned archives with
 * their expected checksums (computed by the PBS definitions in
 * index-fixtures.ts, not by datastore/), and upload / restore helpers.
 */
import { BackupReader } from '../../datastore/backup-reader.ts';
import { BackupWriter, type BackupWriterOptions } from '../../datastore/backup-writer.ts';
import { decodeChunk } from '../../datastore/blob.ts';
import { ChunkStore } from '../../datastore/chunk-store.ts';
import type { CryptKey } from '../../datastore/crypt-key.ts';
import { indexFromBuffer } from '../../datastore/index-file.ts';
import { ResumeStore } from '../../datastore/resume-store.ts';
import { SAFETY_NONE, type SafetyParameters } from '../../datastore/safety.ts';
import { fakeClock, makeChunk, sparseStoreDir, type FakeClock, type TestChunk } from './chunk-fixtures.ts';
import { pbsDynamicCsum, pbsFixedCsum } from './index-fixtures.ts';

export const OWNER = 'alice@pbs';
export const OTHER_OWNER = 'bob@pbs';
/** The fake clock's start, in epoch seconds: backup times are set relative to it. */
export const NOW_S = 1_700_000_000;
export const HOUR_MS = 3600 * 1000;

/** No GC grace, but the real backup-time skew (5 min) and resume TTL (24 h), so those can be tested. */
export const TEST_SAFETY: SafetyParameters = {
  ...SAFETY_NONE,
  maxBackupTimeSkewMs: 5 * 60 * 1000,
  resumeDigestTtlMs: 24 * HOUR_MS,
};

export interface BackupStoreFixture {
  readonly path: string;
  readonly clock: FakeClock;
  readonly chunkStore: ChunkStore;
  readonly resume: ResumeStore;
  /** A writer for host/<id> (default 'web1') at `time` (epoch s) owned by OWNER unless overridden. */
  start(time: number, overrides?: Partial<BackupWriterOptions>): Promise<BackupWriter>;
  open(time: number, overrides?: { id?: string; ns?: string }): Promise<BackupReader>;
}

/** A fresh store under `parent` (only `.chunks`, no 65536 prefix dirs). */
export function backupStore(parent: string): BackupStoreFixture {
  const path = sparseStoreDir(parent);
  const clock = fakeClock(NOW_S * 1000);
  const chunkStore = ChunkStore.open(path, { now: clock.now, sync: 'filesystem' });
  const resume = new ResumeStore(path, { safety: TEST_SAFETY });
  return {
    path, clock, chunkStore, resume,
    start: (time, overrides = {}) => BackupWriter.start({
      storePath: path, chunkStore, type: 'host', id: 'web1', backupTime: time, owner: OWNER,
      now: clock.now, safety: TEST_SAFETY, resume, ...overrides,
    }),
    open: (time, overrides = {}) => BackupReader.open({
      storePath: path, chunkStore, type: 'host', id: overrides.id ?? 'web1', ns: overrides.ns, backupTime: time,
    }),
  };
}

export interface ArchivePlan {
  readonly chunks: TestChunk[];
  /** The archive's bytes: every chunk's data in order. */
  readonly data: Buffer;
  /** All digests, n × 32. */
  readonly digests: Buffer;
  /** Dynamic: end offsets; fixed: positions 0..n-1. */
  readonly offsets: number[];
  readonly size: number;
  readonly csum: Buffer;
}

/** Content-defined-style archive: one chunk per seed, of the given sizes. */
export function dynamicPlan(seeds: readonly number[], sizes: readonly number[] = seeds.map((_, i) => 3000 + 1000 * i), key?: CryptKey): ArchivePlan {
  const chunks = seeds.map((seed, i) => makeChunk(seed, sizes[i]!, { key }));
  let end = 0;
  const offsets = chunks.map((c) => (end += c.data.length));
  return {
    chunks, offsets, size: end,
    data: Buffer.concat(chunks.map((c) => c.data)),
    digests: Buffer.concat(chunks.map((c) => c.digest)),
    csum: pbsDynamicCsum(chunks.map((c, i) => ({ end: offsets[i]!, digest: c.digest }))),
  };
}

/** Image-style archive of `size` bytes cut into `chunkSize` chunks (the last may be short). */
export function fixedPlan(seed: number, size: number, chunkSize: number): ArchivePlan {
  const chunks: TestChunk[] = [];
  for (let at = 0, i = 0; at < size; at += chunkSize, i++) chunks.push(makeChunk(seed * 1000 + i, Math.min(chunkSize, size - at)));
  return {
    chunks, size,
    offsets: chunks.map((_, i) => i),
    data: Buffer.concat(chunks.map((c) => c.data)),
    digests: Buffer.concat(chunks.map((c) => c.digest)),
    csum: pbsFixedCsum(chunks.map((c) => c.digest)),
  };
}

/** Upload every chunk of `plan` into a new index, append all, close. Returns the writer id. */
export async function writeArchive(w: BackupWriter, name: string, plan: ArchivePlan, fixed?: { chunkSize: number }): Promise<number> {
  const wid = fixed
    ? w.createIndex({ kind: 'fixed', name, size: plan.size, chunkSize: fixed.chunkSize })
    : w.createIndex({ kind: 'dynamic', name });
  for (const c of plan.chunks) await w.insertChunk(wid, c.digest, c.data.length, c.blob);
  w.append(wid, plan.digests, plan.offsets);
  w.closeIndex(wid, { count: plan.chunks.length, size: plan.size, csum: plan.csum });
  return wid;
}

/** Rebuild an archive's bytes through a reader: index, then each chunk, decoded and digest-checked. */
export async function restoreArchive(r: BackupReader, name: string, key?: CryptKey): Promise<Buffer> {
  const index = indexFromBuffer(await r.index(name), name);
  const parts: Buffer[] = [];
  for (const digest of index.digests()) parts.push(decodeChunk(await r.chunk(digest), digest, { key }));
  return Buffer.concat(parts);
}
