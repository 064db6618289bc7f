/**
 * Verify one snapshot (after PBS src/backup/verify.rs): re-read every chunk
 * it references and check it, then record the outcome in its manifest.
 * Which snapshots a job checks, and the walk over groups and namespaces,
 * are in verify-job.ts.
 *
 * Per snapshot: a shared snapshot lock (a snapshot being written or removed
 * cannot be locked and is skipped with a note), the manifest, then each
 * archive: blobs by CRC, size and checksum against the manifest; indexes by
 * checksum and size against the manifest, then every chunk they reference
 * through the worker pool (verify-pool.ts: SHA-256 for unencrypted chunks,
 * CRC for encrypted ones). A corrupt chunk is moved aside as
 * `<digest>.<n>.bad`; a missing one is only counted. Any problem fails the
 * snapshot. Finally `verify_state` { state, upid, time } goes into the
 * manifest's unprotected part, outside the signature, so a signed manifest
 * stays valid.
 *
 * Shared chunks. `verifiedChunks`/`corruptChunks` live for the whole job, so
 * a chunk several snapshots share is read once; a snapshot referencing a
 * chunk already found bad fails without reading it again. Both are
 * KnownChunks tables (32 bytes + 1 flag per digest, 44–88 bytes each off the
 * JS heap): 1M distinct chunks (4 TiB at 4 MiB) cost ≤ 88 MB. With the
 * workers' read buffers (≤ 16 MiB each) and one index in memory at a
 * time, a job over 1M chunks stays well under 300 MB RSS.
 *
 * Abort and re-run. `signal` is checked before each chunk is handed to the
 * pool and between archives; an abort waits for the chunks in flight, leaves
 * the current snapshot's state unwritten and throws BULWARK_ABORTED. Nothing
 * else is left behind, so the job is simply run again.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { bulwarkError, isBulwarkError, type ErrorCode } from '../errors.ts';
import type { BackupDir } from './backup-ref.ts';
import { loadArchive, readSnapshotFile } from './backup-reader.ts';
import { blobKind, decodeBlob, isEncryptedKind } from './blob.ts';
import { FsChunkBackend } from './fs-chunk-backend.ts';
import { KnownChunks } from './known-chunks.ts';
import { MANIFEST_NAME, requireDir, snapshotParts } from './layout.ts';
import { lockSnapshot, type Lock } from './locks.ts';
import { archiveKind, decodeManifestBlob, updateUnprotected, type Manifest, type ManifestFile, type VerifyState } from './manifest.ts';
import type { ChunkCheck, ChunkVerifier } from './verify-pool.ts';

/** PBS's state plus when it was recorded (epoch seconds), which PBS takes from the UPID. */
export interface SnapshotVerifyState extends VerifyState {
  readonly time?: number;
}

export interface VerifyProblem {
  /** Archive the problem is in; absent for the manifest. */
  readonly file?: string;
  /** 64 hex, for chunk problems. */
  readonly digest?: string;
  readonly code: ErrorCode;
  readonly message: string;
}

export interface SnapshotVerifyResult {
  readonly dir: BackupDir;
  readonly result: 'ok' | 'failed' | 'skipped';
  /** Why it was skipped. */
  readonly note?: string;
  /** Chunks read for this snapshot (not those already checked in this job) and bytes read, chunks and blobs. */
  readonly chunks: number;
  readonly bytes: number;
  /** The first MAX_LISTED_PROBLEMS problems; problemCount counts them all. */
  readonly problems: readonly VerifyProblem[];
  readonly problemCount: number;
}

/** Moves a corrupt chunk aside; FsChunkBackend and ChunkStore both fit. */
export interface BadChunkMarker {
  markBad(digest: string): Promise<string>;
}

export interface VerifySnapshotOptions {
  readonly pool: ChunkVerifier;
  readonly upid: string;
  /** Job-wide sets (see the header); the flag of a verified chunk says it is encrypted. */
  readonly verifiedChunks: KnownChunks;
  readonly corruptChunks: KnownChunks;
  /** Epoch ms; default Date.now. */
  readonly now?: () => number;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
  /** Default: the store's FsChunkBackend. Pass the server's ChunkStore so renames queue behind inserts. */
  readonly badChunks?: BadChunkMarker;
  /** false → skipped as recently verified; applied to the manifest under the lock. */
  readonly filter?: (m: Manifest) => boolean;
}

/** A snapshot lists at most this many problems (a dead disk must not fill memory); the rest are counted. */
export const MAX_LISTED_PROBLEMS = 100;

class Tally {
  chunks = 0;
  bytes = 0;
  problemCount = 0;
  readonly problems: VerifyProblem[] = [];
  constructor(readonly dir: BackupDir, readonly log: (line: string) => void) {}

  problem(p: VerifyProblem): void {
    if (++this.problemCount > MAX_LISTED_PROBLEMS) return;
    this.problems.push(p);
    this.log(`  ${p.file ?? 'manifest'}: ${p.message}`);
  }

  result(result: SnapshotVerifyResult['result'], note?: string): SnapshotVerifyResult {
    if (this.problemCount > MAX_LISTED_PROBLEMS) this.log(`  … and ${this.problemCount - MAX_LISTED_PROBLEMS} more problems`);
    const { dir, chunks, bytes, problems, problemCount } = this;
    return { dir, result, ...(note === undefined ? {} : { note }), chunks, bytes, problems, problemCount };
  }
}

export function checkAbort(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  throw bulwarkError('BULWARK_ABORTED', 'verify', reason instanceof Error ? reason.message : String(reason ?? 'aborted'), { cause: reason });
}

/** Verify one snapshot; see the header. BULWARK_NOT_FOUND when it does not exist. */
export async function verifySnapshot(store: string, dir: BackupDir, opts: VerifySnapshotOptions): Promise<SnapshotVerifyResult> {
  const tally = new Tally(dir, opts.log ?? (() => undefined));
  const what = `snapshot ${dir.describe()}`;
  await requireDir(store, snapshotParts(dir), what); // before locking, so no lock file is made for nothing
  let lock: Lock;
  try {
    lock = await lockSnapshot(store, dir, { shared: true });
  } catch (err) {
    if (!isBulwarkError(err, 'BULWARK_LOCKED')) throw err;
    tally.log(`SKIPPED: verify ${dir.describe()} - could not acquire snapshot lock: ${err.message}`);
    return tally.result('skipped', 'snapshot is locked (being written or removed)');
  }
  try {
    let path: string;
    try {
      path = await requireDir(store, snapshotParts(dir), what);
    } catch (err) {
      if (!isBulwarkError(err, 'BULWARK_NOT_FOUND')) throw err;
      return tally.result('skipped', 'snapshot was removed meanwhile');
    }
    let manifest: Manifest;
    try {
      manifest = decodeManifestBlob(await readSnapshotFile(join(path, MANIFEST_NAME), `manifest of ${what}`), `manifest of ${what}`);
    } catch (err) {
      if (!isBulwarkError(err)) throw err;
      tally.problem({ code: err.code, message: `manifest load error: ${err.message}` });
      return tally.result('failed'); // nowhere to record the state (PBS does the same)
    }
    if (opts.filter !== undefined && !opts.filter(manifest)) {
      tally.log(`SKIPPED: verify ${dir.describe()} (recently verified)`);
      return tally.result('skipped', 'recently verified');
    }
    tally.log(`verify ${dir.describe()}`);
    if (manifest['backup-type'] !== dir.type || manifest['backup-id'] !== dir.id || manifest['backup-time'] !== dir.time) {
      tally.problem({ code: 'BULWARK_MANIFEST_INVALID', message: `manifest of ${what} names another snapshot` });
    }
    const marker = opts.badChunks ?? new FsChunkBackend(store);
    for (const file of manifest.files) {
      checkAbort(opts.signal);
      try {
        if (archiveKind(file.filename) === 'blob') await verifyBlobFile(path, manifest, file, tally);
        else await verifyIndexFile(path, manifest, file, tally, opts, marker);
      } catch (err) {
        // An abort or a broken pool ends the job; it says nothing about this snapshot.
        if (!isBulwarkError(err) || err.code === 'BULWARK_ABORTED' || err.code === 'BULWARK_INTERNAL') throw err;
        tally.problem({ file: file.filename, code: err.code, message: err.message });
      }
    }
    checkAbort(opts.signal);
    const state: SnapshotVerifyState = {
      state: tally.problemCount === 0 ? 'ok' : 'failed',
      upid: opts.upid,
      time: Math.floor((opts.now ?? Date.now)() / 1000),
    };
    updateUnprotected(join(path, MANIFEST_NAME), (u) => {
      u.verify_state = state;
    });
    return tally.result(state.state);
  } finally {
    lock.release();
  }
}

const corrupt = (file: ManifestFile, reason: string) => bulwarkError('BULWARK_ARCHIVE_CORRUPT', file.filename, reason);
const cryptText = (encrypted: boolean) => (encrypted ? 'encrypted' : 'not encrypted');

/** PBS verify_blob: CRC (in loadArchive), size and checksum against the manifest, crypt mode, and the lz4 stream of unencrypted ones. */
async function verifyBlobFile(path: string, manifest: Manifest, file: ManifestFile, tally: Tally): Promise<void> {
  const { data } = await loadArchive(path, manifest, file.filename);
  tally.bytes += data.length;
  if (data.length !== file.size) throw corrupt(file, `${data.length} bytes, the manifest says ${file.size}`);
  const csum = createHash('sha256').update(data).digest('hex');
  if (csum !== file.csum) throw corrupt(file, `checksum ${csum}, the manifest says ${file.csum}`);
  const encrypted = isEncryptedKind(blobKind(data, `archive ${file.filename}`));
  if (encrypted !== (file['crypt-mode'] === 'encrypt')) throw corrupt(file, `it is ${cryptText(encrypted)}, the manifest says crypt-mode ${file['crypt-mode']}`);
  if (!encrypted) decodeBlob(data, { what: `archive ${file.filename}` });
}

/** Checksum and size against the manifest (loadArchive), then every chunk not yet judged in this job. */
async function verifyIndexFile(
  path: string, manifest: Manifest, file: ManifestFile, tally: Tally, opts: VerifySnapshotOptions, marker: BadChunkMarker,
): Promise<void> {
  const index = (await loadArchive(path, manifest, file.filename)).index!;
  const { pool, verifiedChunks: verified, corruptChunks: bad, signal } = opts;
  const expectEncrypted = file['crypt-mode'] === 'encrypt';
  const problem = (digest: string, code: ErrorCode, message: string) => tally.problem({ file: file.filename, digest, code, message });
  const archiveProblem = (digest: string, reason: string) => problem(digest, 'BULWARK_ARCHIVE_CORRUPT', corrupt(file, reason).message);

  /** Checks entry `i` against a chunk's verdict: its crypt mode, and its decoded size when known. */
  const checkEntry = (i: number, hex: string, encrypted: boolean, rawSize?: number) => {
    if (encrypted !== expectEncrypted) {
      archiveProblem(hex, `chunk ${hex} is ${cryptText(encrypted)}, the manifest says crypt-mode ${file['crypt-mode']}`);
    }
    const { start, end } = index.chunkRange(i);
    if (rawSize !== undefined && rawSize !== end - start) {
      archiveProblem(hex, `chunk ${i} (${hex}) holds ${rawSize} bytes, the index says ${end - start}`);
    }
  };
  /** Judges entry `i` from the job's sets; false when its chunk has not been checked yet. */
  const judgeKnown = (i: number, digest: Buffer): boolean => {
    const known = verified.get(digest);
    if (known !== undefined) {
      checkEntry(i, digest.toString('hex'), known.encrypted);
      return true;
    }
    if (!bad.has(digest)) return false;
    const hex = digest.toString('hex');
    archiveProblem(hex, `chunk ${hex} was found corrupt or missing earlier in this verify job`);
    return true;
  };
  const record = async (i: number, digest: Buffer, hex: string, v: ChunkCheck): Promise<void> => {
    if (v.status === 'ok') {
      verified.add(digest, v.encrypted);
      tally.chunks++;
      tally.bytes += v.size;
      checkEntry(i, hex, v.encrypted, v.rawSize);
      return;
    }
    bad.add(digest, false);
    if (v.status === 'missing') return problem(hex, 'BULWARK_NOT_FOUND', `chunk ${hex} not found`);
    problem(hex, v.code, v.message);
    if (v.status !== 'corrupt') return; // unreadable is not proven corrupt: leave it for the admin
    tally.chunks++;
    tally.bytes += v.size;
    try {
      tally.log(`  corrupted chunk renamed to ${await marker.markBad(hex)}`);
    } catch (err) {
      if (!isBulwarkError(err, 'BULWARK_NOT_FOUND')) tally.log(`  could not rename corrupted chunk ${hex}: ${(err as Error).message}`);
    }
  };

  // Up to pool.capacity chunks in flight, keyed by digest so a repeat inside the window waits instead of re-reading.
  const inFlight = new Map<string, Promise<void>>();
  let failure: { err: unknown } | undefined;
  for (let i = 0, n = index.count(); i < n && failure === undefined && !signal?.aborted; i++) {
    const digest = index.digest(i);
    if (judgeKnown(i, digest)) continue;
    const hex = digest.toString('hex');
    const running = inFlight.get(hex);
    if (running !== undefined) {
      await running;
      judgeKnown(i, digest);
      continue;
    }
    while (inFlight.size >= pool.capacity) await Promise.race(inFlight.values());
    const p = pool.check(hex)
      .then((v) => record(i, digest, hex, v))
      .catch((err: unknown) => void (failure ??= { err }))
      .finally(() => inFlight.delete(hex));
    inFlight.set(hex, p);
  }
  await Promise.all(inFlight.values());
  if (failure !== undefined) throw failure.err;
  checkAbort(signal);
}
