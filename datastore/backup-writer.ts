/**
 * BackupWriter: the store side of one backup session, free of any transport
 * (docs/protocol.md, "Backup session"); the session actor maps frames to
 * these methods and errors to replies.
 *
 * Lifecycle. `start` takes the group's and the snapshot's locks, registers
 * the writer for GC and only then creates the snapshot dir (backup-locks.ts
 * has the order and why). `finish` flushes the chunk store and writes the
 * manifest last: its appearance is what makes the snapshot finished.
 * `abort` removes the unfinished snapshot dir and nothing else. Once the
 * session is over every call is refused; abort waits for running ones.
 *
 * The parts: the archives written (backup-archives.ts), chunks known from
 * the previous snapshot or a resumed session (backup-known.ts), and the
 * final manifest (manifest-check.ts). Chunk uploads are handled here.
 */
import type { SnapshotTargetOptions } from './backup-reader.ts';
import { join } from 'node:path';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { BackupArchives, protocolError as protocol, type CloseIndexClaim, type CreateIndexOptions } from './backup-archives.ts';
import { KnownChunkSources } from './backup-known.ts';
import { acquireBackup, releaseBackup, type BackupHold } from './backup-locks.ts';
import type { BackupDir } from './backup-ref.ts';
import { blobKind, isEncryptedKind } from './blob.ts';
import { digestHex } from './digest.ts';
import { KnownChunks } from './known-chunks.ts';
import { MANIFEST_NAME } from './layout.ts';
import { writeManifest, type Manifest } from './manifest.ts';
import { buildManifest, checkClientManifest } from './manifest-check.ts';
import type { ResumeKey, ResumeStore } from './resume-store.ts';
import type { SafetyParameters } from './safety.ts';
import { removeSnapshot, type SnapshotInfo } from './snapshots.ts';

export type { CloseIndexClaim, CreateIndexOptions } from './backup-archives.ts';

export interface BackupWriterOptions extends SnapshotTargetOptions {
  /** Auth id the group must belong to (set on a new group). */
  readonly owner: string;
  /** Epoch ms; default Date.now. */
  readonly now?: () => number;
  readonly safety?: SafetyParameters;
  /** Remembers this session's uploads for a re-run, and offers an earlier session's. */
  readonly resume?: ResumeStore;
  /** Chunk touches in flight while registering known chunks (default 32). */
  readonly touchConcurrency?: number;
}

export interface BackupStats {
  /** `insertChunk` calls that succeeded, and their encoded and declared raw bytes. */
  readonly chunksUploaded: number;
  readonly bytesUploaded: number;
  readonly rawBytesUploaded: number;
  /** Uploads the store already held (`existed`). */
  readonly chunksReused: number;
  /** Digests registered as known from the previous snapshot or a resume. */
  readonly knownChunks: number;
  /** Failed ResumeStore appends (resume is best effort and never fails a backup). */
  readonly resumeWriteFailures: number;
}

export type SessionState = 'open' | 'finishing' | 'finished' | 'failed' | 'aborted';

export class BackupWriter {
  readonly dir: BackupDir;
  /** The snapshot directory. */
  readonly path: string;
  readonly owner: string;
  /** Epoch ms, as registered for GC. */
  readonly startedAt: number;
  readonly #opts: BackupWriterOptions;
  readonly #now: () => number;
  readonly #hold: BackupHold;
  readonly #known = new KnownChunks();
  readonly #sources: KnownChunkSources;
  readonly #archives: BackupArchives;
  #state: SessionState = 'open';
  #abortReason = '';
  /** Async calls in flight, and who waits for there to be none. */
  #busy = 0;
  readonly #idleWaiters: Array<() => void> = [];
  #aborting: Promise<void> | undefined;
  #stats = { chunksUploaded: 0, bytesUploaded: 0, rawBytesUploaded: 0, chunksReused: 0, knownChunks: 0, resumeWriteFailures: 0 };

  private constructor(opts: BackupWriterOptions, hold: BackupHold) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#hold = hold;
    this.dir = hold.dir;
    this.path = hold.path;
    this.owner = hold.owner;
    this.startedAt = hold.startedAt;
    this.#sources = new KnownChunkSources({
      chunkStore: opts.chunkStore, group: hold.dir.group, previous: hold.previous, known: this.#known,
      touchConcurrency: opts.touchConcurrency ?? 32, onKnown: () => { this.#stats.knownChunks++; },
    });
    this.#archives = new BackupArchives(hold.dir, hold.path, this.#now);
  }

  /** Take the locks, register for GC and create the snapshot dir (backup-locks.ts). */
  static async start(opts: BackupWriterOptions): Promise<BackupWriter> {
    return new BackupWriter(opts, await acquireBackup(opts));
  }

  get state(): SessionState {
    return this.#state;
  }

  get stats(): BackupStats {
    return { ...this.#stats };
  }

  get #resumeKey(): ResumeKey {
    return { group: this.dir.group, owner: this.owner };
  }

  // ── previous snapshot and resume (backup-known.ts) ──────────────────────

  /** The group's last finished snapshot when the session started. */
  previousSnapshot(): SnapshotInfo | undefined {
    return this.#hold.previous;
  }

  /** Its `index.json.blob` as stored; BULWARK_NOT_FOUND when there is none. */
  previousManifestBlob(): Promise<Buffer> {
    return this.#run(async () => (await this.#sources.previousManifest()).blob);
  }

  /**
   * Archive `name` of the previous snapshot, as stored. For an index, its
   * chunks become known (each touched; those already swept are not).
   */
  previousArchive(name: string): Promise<Buffer> {
    return this.#run(() => this.#sources.previousArchive(name));
  }

  /**
   * Digests (n × 32) that interrupted sessions of this group and owner stored
   * and that still exist; they become known. Empty without a ResumeStore.
   */
  resumeDigests(): Promise<Buffer> {
    return this.#run(async () => {
      const resume = this.#opts.resume;
      if (resume === undefined) return Buffer.alloc(0);
      return this.#sources.resumed(resume.take(this.#resumeKey, this.#now()));
    });
  }

  // ── indexes, chunks and blobs (backup-archives.ts) ──────────────────────

  /** Start a `.fidx`/`.didx` archive; returns its writer id. */
  createIndex(opts: CreateIndexOptions): number {
    this.#requireOpen();
    return this.#archives.createIndex(opts);
  }

  /** Store an uploaded chunk (verified by the chunk store) and record it as uploaded in this session. */
  insertChunk(wid: number, digest: Uint8Array, rawSize: number, blob: Uint8Array): Promise<{ existed: boolean }> {
    return this.#run(async () => {
      this.#archives.requireOpenIndex(wid);
      if (!(digest instanceof Uint8Array) || !(blob instanceof Uint8Array)) throw protocol('chunk digest and data must be binary');
      if (!Number.isSafeInteger(rawSize) || rawSize < 0) throw protocol(`chunk raw size ${rawSize} is not a byte count`);
      const hex = digestHex(digest);
      const encrypted = isEncryptedKind(blobKind(blob, `chunk ${hex}`));
      const { existed } = await this.#opts.chunkStore.insertChunk(hex, blob, { rawSize });
      this.#known.add(digest, encrypted);
      const s = this.#stats;
      s.chunksUploaded++;
      s.bytesUploaded += blob.length;
      s.rawBytesUploaded += rawSize;
      if (existed) s.chunksReused++;
      try {
        this.#opts.resume?.add(this.#resumeKey, digest, this.#now());
      } catch {
        s.resumeWriteFailures++; // only costs a re-upload if this session is interrupted
      }
      return { existed };
    });
  }

  /**
   * Add `digests` (n × 32) to index `wid`. `offsets`: dynamic, the end offset
   * of each chunk; fixed, each chunk's position (0-based chunk number, so its
   * byte offset is position × chunk size). All-or-nothing for unknown digests
   * and bad offsets.
   */
  append(wid: number, digests: Uint8Array, offsets: readonly number[]): void {
    this.#requireOpen();
    this.#archives.append(wid, digests, offsets, this.#known);
  }

  /** Close index `wid` once count, size and checksum match the client's claim (BULWARK_PROTOCOL naming what differs). */
  closeIndex(wid: number, claim: CloseIndexClaim): void {
    this.#requireOpen();
    this.#archives.closeIndex(wid, claim);
  }

  /**
   * Store a `.blob` archive (CRC checked, written atomically). The blob
   * `index.json.blob` is the client's own (signed) manifest: it is held until
   * `finish`, because writing it now would mark the snapshot finished.
   */
  addBlob(name: string, blob: Uint8Array): Promise<void> {
    return this.#run(() => this.#archives.addBlob(name, blob));
  }

  // ── finish and abort ────────────────────────────────────────────────────

  /**
   * Complete the snapshot: every index closed, then the manifest (built here,
   * or the client's after checking its files against what was written) is
   * written after the chunk store is flushed. Releases everything.
   */
  finish(opts: { manifest?: Manifest } = {}): Promise<{ manifest: Manifest; stats: BackupStats }> {
    return this.#run(() => this.#finish(opts));
  }

  async #finish(opts: { manifest?: Manifest }): Promise<{ manifest: Manifest; stats: BackupStats }> {
    this.#archives.requireComplete();
    const stats = this.stats;
    const uploadStats = { count: stats.chunksUploaded, size: stats.rawBytesUploaded, compressed_size: stats.bytesUploaded, duplicates: stats.chunksReused };
    const client = opts.manifest ?? this.#archives.clientManifest;
    const files = this.#archives.files;
    const manifest = client === undefined
      ? buildManifest(this.dir, files, uploadStats)
      : checkClientManifest(this.dir, files, client, uploadStats);
    this.#state = 'finishing';
    try {
      // Chunks first: a manifest must never name an index whose chunks a crash could still lose.
      await this.#opts.chunkStore.flush();
      writeManifest(join(this.path, MANIFEST_NAME), manifest, { fsync: true });
    } catch (err) {
      this.#state = 'failed';
      throw err;
    }
    this.#state = 'finished';
    // Past the commit point nothing may fail the backup: cleanup errors are swallowed.
    try { this.#opts.resume?.clear(this.#resumeKey); } catch { /* stale entries expire on their own */ }
    releaseBackup(this.#hold, false);
    return { manifest, stats };
  }

  /**
   * End the session without a snapshot: open index writers are dropped and
   * the unfinished snapshot dir is removed; finished snapshots and chunks are
   * never touched. Idempotent, and safe after any failure (even mid-call).
   */
  abort(reason = 'aborted'): Promise<void> {
    this.#aborting ??= this.#abort(reason);
    return this.#aborting;
  }

  async #abort(reason: string): Promise<void> {
    // Refuse new calls at once, then let running ones settle (a blob being
    // written must not land in a dir we are removing; a finish may complete).
    if (this.#state === 'finished') return; // finish already released everything
    if (this.#state !== 'finishing') {
      this.#state = 'aborted';
      this.#abortReason = reason;
    }
    await this.#idle();
    if ((this.#state as SessionState) === 'finished') return;
    this.#state = 'aborted';
    this.#abortReason = reason;
    let firstError = this.#archives.abortOpen();
    let removed = false;
    try {
      await removeSnapshot(this.#opts.storePath, this.dir, { lock: this.#hold.locks.snapshot });
      removed = true;
    } catch (err) {
      if (!isBulwarkError(err, 'BULWARK_NOT_FOUND')) firstError ??= err;
    }
    releaseBackup(this.#hold, removed);
    if (firstError !== undefined) throw firstError;
  }

  // ── session state ───────────────────────────────────────────────────────

  /** Runs an async method: refused unless open, and counted so abort can wait for it. */
  async #run<T>(fn: () => Promise<T>): Promise<T> {
    this.#requireOpen();
    this.#busy++;
    try {
      return await fn();
    } finally {
      if (--this.#busy === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  #idle(): Promise<void> {
    return this.#busy === 0 ? Promise.resolve() : new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #requireOpen(): void {
    switch (this.#state) {
      case 'open': return;
      case 'aborted': throw bulwarkError('BULWARK_SESSION_ABORTED', this.#abortReason);
      case 'finished': throw protocol('the backup is already finished');
      case 'finishing': throw protocol('the backup is finishing');
      case 'failed': throw protocol('finishing the backup failed; the session can only be aborted');
    }
  }
}
