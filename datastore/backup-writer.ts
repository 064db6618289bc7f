/**
 * BackupWriter: the store side of one backup session, free of any transport
 * (docs/protocol.md, "Backup session"); the session actor maps frames to
 * these methods and errors to replies.
 *
 * Lifecycle. `start` validates names and the backup time, takes the group's
 * exclusive lock (one writer per group), checks or sets the owner, takes the
 * new snapshot's exclusive lock and (as PBS does) the previous finished
 * snapshot's shared lock so prune cannot remove the base of this backup,
 * registers the writer so GC bounds its cutoff by our start (writers.ts),
 * and only then creates the snapshot dir. `finish` flushes the chunk store
 * and writes the manifest last: its appearance is what makes the snapshot
 * finished. `abort` removes the unfinished snapshot dir and nothing else.
 *
 * Known chunks. An `append` may reference only digests uploaded in this
 * session or registered as known: from an index of the previous snapshot
 * (`previousArchive`) or from an interrupted session of the same group and
 * owner (`resumeDigests`). Each known chunk is touched first, after our
 * writer registration, so a running GC cannot sweep it; one that is gone
 * already is not known (referencing it would make a broken snapshot).
 *
 * Crypt mode of an archive, for a manifest built here: 'encrypt' when any of
 * its chunks (or the blob itself) is encrypted, else 'none'. Kinds come from
 * the uploaded blob's magic, the previous manifest's crypt mode for chunks
 * known from it, and the stored chunk's magic for resumed ones.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { atomicWriteFile } from './atomic-write.ts';
import { BackupDir, BackupGroup, type BackupNamespace } from './backup-ref.ts';
import { loadArchive, namespaceOf, readSnapshotFile } from './backup-reader.ts';
import { blobKind, ENCRYPTED_BLOB_HEADER_SIZE, isEncryptedKind, kindOfMagic, verifyBlobCrc } from './blob.ts';
import type { ChunkStore } from './chunk-store.ts';
import { digestHex } from './digest.ts';
import { DynamicIndexWriter } from './dynamic-index.ts';
import { FixedIndexWriter } from './fixed-index.ts';
import { DIGEST_SIZE, MAX_BLOB_SIZE, MAX_CHUNK_SIZE } from './formats.ts';
import type { IndexKind } from './index-file.ts';
import { KnownChunks, digestAt, forEachLimit } from './known-chunks.ts';
import { MANIFEST_NAME } from './layout.ts';
import { type Lock, lockGroup, lockSnapshot } from './locks.ts';
import {
  archiveKind, createManifest, decodeManifestBlob, manifestFile, MANIFEST_BLOB_NAME, parseManifest, validateArchiveName,
  writeManifest, type Manifest, type ManifestFile,
} from './manifest.ts';
import { validateAuthId } from './names.ts';
import type { ResumeKey, ResumeStore } from './resume-store.ts';
import { SAFETY_FULL, type SafetyParameters } from './safety.ts';
import { createSnapshotDir, ensureGroup, listSnapshots, removeSnapshot, type SnapshotInfo } from './snapshots.ts';
import { registerWriter, type WriterHandle } from './writers.ts';

export interface BackupWriterOptions {
  readonly storePath: string;
  readonly chunkStore: ChunkStore;
  /** `'a/b'` or a BackupNamespace; the root when omitted. */
  readonly ns?: string | BackupNamespace;
  readonly type: string;
  readonly id: string;
  /** Epoch seconds (or the RFC 3339 dir name). */
  readonly backupTime: number | string;
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

export interface CreateIndexOptions {
  readonly kind: IndexKind;
  readonly name: string;
  /** Fixed only: bytes of image data and the chunk size (a power of two). */
  readonly size?: number;
  readonly chunkSize?: number;
}

/** What the client says it appended; checked against what the server wrote. */
export interface CloseIndexClaim {
  readonly count: number;
  readonly size: number;
  /** 32 bytes or 64 hex digits. */
  readonly csum: Uint8Array | string;
}

interface IndexState {
  readonly name: string;
  readonly kind: IndexKind;
  readonly writer: FixedIndexWriter | DynamicIndexWriter;
  state: 'open' | 'closed' | 'failed';
  /** Dynamic: end offset of the last entry. */
  lastEnd: number;
  sawEncrypted: boolean;
  sawPlain: boolean;
}

interface WrittenFile {
  readonly file: ManifestFile;
  readonly sawEncrypted: boolean;
  readonly sawPlain: boolean;
}

export type SessionState = 'open' | 'finishing' | 'finished' | 'failed' | 'aborted';

interface HeldLocks {
  readonly group: Lock;
  readonly snapshot: Lock;
  /** Shared lock on the previous finished snapshot, the base of this backup. */
  readonly previous: Lock | undefined;
}

const protocol = (text: string, cause?: unknown) =>
  bulwarkError('BULWARK_PROTOCOL', text, ...(cause === undefined ? [] : [{ cause }]));

export class BackupWriter {
  readonly dir: BackupDir;
  /** The snapshot directory. */
  readonly path: string;
  readonly owner: string;
  /** Epoch ms, as registered for GC. */
  readonly startedAt: number;
  readonly #opts: BackupWriterOptions;
  readonly #now: () => number;
  readonly #locks: HeldLocks;
  readonly #registration: WriterHandle;
  readonly #previous: SnapshotInfo | undefined;
  #previousManifest: Promise<{ blob: Buffer; manifest: Manifest }> | undefined;
  readonly #known = new KnownChunks();
  readonly #indexes = new Map<number, IndexState>();
  readonly #names = new Set<string>();
  readonly #files: WrittenFile[] = [];
  #clientManifest: Manifest | undefined;
  #nextWid = 1;
  #state: SessionState = 'open';
  #abortReason = '';
  /** Async calls in flight, and who waits for there to be none. */
  #busy = 0;
  readonly #idleWaiters: Array<() => void> = [];
  #aborting: Promise<void> | undefined;
  #stats = { chunksUploaded: 0, bytesUploaded: 0, rawBytesUploaded: 0, chunksReused: 0, knownChunks: 0, resumeWriteFailures: 0 };

  private constructor(init: {
    opts: BackupWriterOptions; dir: BackupDir; path: string; owner: string; startedAt: number;
    locks: HeldLocks; registration: WriterHandle; previous: SnapshotInfo | undefined;
  }) {
    this.#opts = init.opts;
    this.#now = init.opts.now ?? Date.now;
    this.dir = init.dir;
    this.path = init.path;
    this.owner = init.owner;
    this.startedAt = init.startedAt;
    this.#locks = init.locks;
    this.#registration = init.registration;
    this.#previous = init.previous;
  }

  static async start(opts: BackupWriterOptions): Promise<BackupWriter> {
    const { storePath: store } = opts;
    const now = opts.now ?? Date.now;
    const safety = opts.safety ?? SAFETY_FULL;
    const group = new BackupGroup(namespaceOf(opts.ns), opts.type, opts.id);
    const dir = new BackupDir(group, opts.backupTime);
    const owner = validateAuthId(opts.owner);
    // A far-future snapshot would push real ones out of retention at the next prune.
    if (dir.time * 1000 > now() + safety.maxBackupTimeSkewMs) {
      throw bulwarkError('BULWARK_BACKUP_TIME_FUTURE', dir.timeString, safety.maxBackupTimeSkewMs / 1000);
    }
    const undo: Array<() => void> = [];
    try {
      const groupLock = await lockGroup(store, group);
      undo.push(() => groupLock.release());
      await ensureGroup(store, group, owner);
      const snapshots = await listSnapshots(store, group);
      // Against the newest snapshot of any state (PBS: newest finished), so
      // snapshot times only ever grow in creation order, which prune's
      // "keep the newest unfinished one" rule relies on.
      const last = snapshots[snapshots.length - 1];
      if (last !== undefined && last.dir.time >= dir.time) throw bulwarkError('BULWARK_BACKUP_TIME_OLD', dir.timeString, last.dir.timeString);
      const previous = snapshots.filter((s) => s.finished).pop();
      const snapshot = await lockSnapshot(store, dir, { exclusive: true });
      undo.push(() => snapshot.discard()); // no dir was made under it: drop the lock file too
      const previousLock = previous && (await lockSnapshot(store, previous.dir, { shared: true }));
      if (previousLock) undo.push(() => previousLock.release());
      const startedAt = now();
      const registration = await registerWriter(store, { group, startedAt });
      undo.push(() => registration.release());
      const path = await createSnapshotDir(store, dir);
      return new BackupWriter({
        opts, dir, path, owner, startedAt, registration, previous,
        locks: { group: groupLock, snapshot, previous: previousLock },
      });
    } catch (err) {
      for (const fn of undo.reverse()) try { fn(); } catch { /* keep undoing; the first error is what matters */ }
      throw err;
    }
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

  // ── previous snapshot and resume ────────────────────────────────────────

  /** The group's last finished snapshot when the session started. */
  previousSnapshot(): SnapshotInfo | undefined {
    return this.#previous;
  }

  /** Its `index.json.blob` as stored; BULWARK_NOT_FOUND when there is none. */
  previousManifestBlob(): Promise<Buffer> {
    return this.#run(async () => (await this.#loadPreviousManifest()).blob);
  }

  /**
   * Archive `name` of the previous snapshot, as stored. For an index, its
   * chunks become known (each touched; those already swept are not).
   */
  previousArchive(name: string): Promise<Buffer> {
    return this.#run(async () => {
      const { manifest } = await this.#loadPreviousManifest();
      const { data, file, index } = await loadArchive(this.#previous!.path, manifest, name);
      if (index !== undefined) {
        const encrypted = file['crypt-mode'] === 'encrypt';
        await this.#registerKnown(index.count(), (i) => index.digest(i), async () => encrypted);
      }
      return data;
    });
  }

  /**
   * Digests (n × 32) that interrupted sessions of this group and owner stored
   * and that still exist; they become known. Empty without a ResumeStore.
   */
  resumeDigests(): Promise<Buffer> {
    return this.#run(async () => {
      const resume = this.#opts.resume;
      if (resume === undefined) return Buffer.alloc(0);
      const list = resume.take(this.#resumeKey, this.#now());
      const ok = await this.#registerKnown(list.length / DIGEST_SIZE, (i) => digestAt(list, i), async (digest) => {
        const head = await this.#opts.chunkStore.backend.readHead(digestHex(digest), 8);
        const kind = head && kindOfMagic(head);
        return kind === undefined ? undefined : isEncryptedKind(kind);
      });
      return Buffer.concat([...ok.keys()].filter((i) => ok[i]).map((i) => digestAt(list, i)));
    });
  }

  async #loadPreviousManifest(): Promise<{ blob: Buffer; manifest: Manifest }> {
    const previous = this.#previous;
    if (previous === undefined) throw bulwarkError('BULWARK_NOT_FOUND', `previous snapshot of group ${this.dir.group.describe()}`);
    this.#previousManifest ??= (async () => {
      const what = `manifest of snapshot ${previous.dir.describe()}`;
      const blob = await readSnapshotFile(join(previous.path, MANIFEST_NAME), what);
      return { blob, manifest: decodeManifestBlob(blob, what) };
    })();
    // A failed read is not cached: the next call tries again.
    return this.#previousManifest.catch((err: unknown) => { this.#previousManifest = undefined; throw err; });
  }

  /** Touch each digest and make the ones that still exist known; `kindOf` → encrypted?, or undefined for "unusable". */
  async #registerKnown(count: number, digestOf: (i: number) => Buffer, kindOf: (d: Buffer) => Promise<boolean | undefined>): Promise<Uint8Array> {
    const ok = new Uint8Array(count);
    await forEachLimit(count, this.#opts.touchConcurrency ?? 32, async (i) => {
      const digest = digestOf(i);
      const encrypted = (await this.#opts.chunkStore.touch(digest)) ? await kindOf(digest) : undefined;
      if (encrypted === undefined) {
        this.#known.delete(digest); // swept by GC (or unreadable): must not be referenced
        return;
      }
      if (!this.#known.has(digest)) {
        this.#known.add(digest, encrypted);
        this.#stats.knownChunks++;
      }
      ok[i] = 1;
    });
    return ok;
  }

  // ── indexes and chunks ──────────────────────────────────────────────────

  /** Start a `.fidx`/`.didx` archive; returns its writer id. */
  createIndex(opts: CreateIndexOptions): number {
    this.#requireOpen();
    const name = validateArchiveName(opts.name);
    if (opts.kind !== 'fixed' && opts.kind !== 'dynamic') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'index kind', String(opts.kind));
    if (archiveKind(name) !== opts.kind) {
      throw bulwarkError('BULWARK_INVALID_NAME', 'archive name', JSON.stringify(name), `a ${opts.kind} index must end in ${opts.kind === 'fixed' ? '.fidx' : '.didx'}`);
    }
    this.#requireUnusedName(name);
    const path = join(this.path, name);
    const ctime = Math.floor(this.#now() / 1000);
    const writer = opts.kind === 'fixed'
      ? FixedIndexWriter.create(path, { size: opts.size as number, chunkSize: opts.chunkSize as number, ctime })
      : DynamicIndexWriter.create(path, { ctime });
    const wid = this.#nextWid++;
    this.#names.add(name);
    this.#indexes.set(wid, { name, kind: opts.kind, writer, state: 'open', lastEnd: 0, sawEncrypted: false, sawPlain: false });
    return wid;
  }

  /** Store an uploaded chunk (verified by the chunk store) and record it as uploaded in this session. */
  insertChunk(wid: number, digest: Uint8Array, rawSize: number, blob: Uint8Array): Promise<{ existed: boolean }> {
    return this.#run(async () => {
      this.#openIndex(wid);
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
    const ix = this.#openIndex(wid);
    if (!(digests instanceof Uint8Array) || digests.length % DIGEST_SIZE !== 0) throw protocol(`append to ${ix.name}: digest list is not n × ${DIGEST_SIZE} bytes`);
    const list = Buffer.from(digests.buffer, digests.byteOffset, digests.byteLength);
    const n = list.length / DIGEST_SIZE;
    if (!Array.isArray(offsets) || offsets.length !== n) throw protocol(`append to ${ix.name}: ${n} digests but ${Array.isArray(offsets) ? offsets.length : 'no'} offsets`);
    let sawEncrypted = false;
    let sawPlain = false;
    for (let i = 0; i < n; i++) {
      const known = this.#known.get(digestAt(list, i));
      if (known === undefined) throw bulwarkError('BULWARK_UNKNOWN_CHUNK', digestHex(digestAt(list, i)));
      if (known.encrypted) sawEncrypted = true;
      else sawPlain = true;
    }
    let end = ix.lastEnd;
    for (const [i, offset] of offsets.entries()) {
      if (ix.kind === 'dynamic') {
        if (!Number.isSafeInteger(offset) || offset <= end || offset - end > MAX_CHUNK_SIZE) {
          throw protocol(`append to ${ix.name}: end offset ${offset} of digest ${i} must exceed ${end} by 1 to ${MAX_CHUNK_SIZE} bytes`);
        }
        end = offset;
      } else if (!Number.isSafeInteger(offset) || offset < 0 || offset >= (ix.writer as FixedIndexWriter).count) {
        throw protocol(`append to ${ix.name}: position ${offset} of digest ${i} is outside 0..${(ix.writer as FixedIndexWriter).count - 1}`);
      }
    }
    try {
      for (let i = 0; i < n; i++) {
        if (ix.writer instanceof DynamicIndexWriter) ix.writer.append(offsets[i]!, digestAt(list, i));
        else ix.writer.add(offsets[i]!, digestAt(list, i));
      }
    } catch (err) {
      ix.state = 'failed'; // an I/O failure already dropped the writer's temp file
      throw err;
    }
    ix.lastEnd = end;
    ix.sawEncrypted ||= sawEncrypted;
    ix.sawPlain ||= sawPlain;
  }

  /** Close index `wid` once count, size and checksum match the client's claim (BULWARK_PROTOCOL naming what differs). */
  closeIndex(wid: number, claim: CloseIndexClaim): void {
    this.#requireOpen();
    const ix = this.#openIndex(wid);
    const csum = csumBytes(claim.csum);
    if (csum === undefined) throw protocol(`close of ${ix.name}: checksum is not 32 bytes`);
    const have = ix.writer instanceof DynamicIndexWriter
      ? { count: ix.writer.count, size: ix.lastEnd }
      : { count: ix.writer.count, size: ix.writer.size };
    const diffs = (['count', 'size'] as const).filter((k) => claim[k] !== have[k]).map((k) => `${k} is ${claim[k]} by the client, ${have[k]} by the server`);
    if (diffs.length > 0) throw protocol(`close of ${ix.name}: ${diffs.join('; ')}`);
    let result;
    try {
      result = ix.writer.close();
    } catch (err) {
      // A fixed index with unset chunks stays open for more appends.
      if (isBulwarkError(err, 'BULWARK_INDEX_CORRUPT') && ix.writer instanceof FixedIndexWriter) throw protocol(`close of ${ix.name}: ${err.message}`, err);
      ix.state = 'failed';
      throw err;
    }
    if (!result.csum.equals(csum)) {
      ix.state = 'failed';
      ix.writer.abort();
      removeQuietly(ix.writer.path);
      throw protocol(`close of ${ix.name}: checksum is ${csum.toString('hex')} by the client, ${result.csum.toString('hex')} by the server`);
    }
    ix.state = 'closed';
    this.#files.push({
      file: manifestFile({ filename: ix.name, cryptMode: ix.sawEncrypted ? 'encrypt' : 'none', size: result.size, csum: result.csum }),
      sawEncrypted: ix.sawEncrypted, sawPlain: ix.sawPlain,
    });
  }

  /**
   * Store a `.blob` archive (CRC checked, written atomically). The blob
   * `index.json.blob` is the client's own (signed) manifest: it is held until
   * `finish`, because writing it now would mark the snapshot finished.
   */
  addBlob(name: string, blob: Uint8Array): Promise<void> {
    return this.#run(() => this.#addBlob(name, blob));
  }

  async #addBlob(name: string, blob: Uint8Array): Promise<void> {
    const filename = validateArchiveName(name);
    if (archiveKind(filename) !== 'blob') throw bulwarkError('BULWARK_INVALID_NAME', 'archive name', JSON.stringify(filename), 'a blob must end in .blob');
    if (blob.length > MAX_BLOB_SIZE + ENCRYPTED_BLOB_HEADER_SIZE) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'blob size', `${blob.length} bytes, more than ${MAX_BLOB_SIZE}`);
    const kind = verifyBlobCrc(blob, `blob ${filename}`);
    if (filename === MANIFEST_BLOB_NAME) {
      if (this.#clientManifest !== undefined) throw bulwarkError('BULWARK_ALREADY_EXISTS', `archive ${filename} in this session`);
      this.#clientManifest = decodeManifestBlob(blob, `client manifest of snapshot ${this.dir.describe()}`);
      return;
    }
    this.#requireUnusedName(filename);
    this.#names.add(filename); // before the await: a concurrent upload of the same name is refused
    try {
      await atomicWriteFile(join(this.path, filename), blob, { fsync: true });
    } catch (err) {
      this.#names.delete(filename);
      throw bulwarkError('BULWARK_IO', join(this.path, filename), (err as Error).message, { cause: err });
    }
    const encrypted = isEncryptedKind(kind);
    this.#files.push({
      file: manifestFile({ filename, cryptMode: encrypted ? 'encrypt' : 'none', size: blob.length, csum: createHash('sha256').update(blob).digest() }),
      sawEncrypted: encrypted, sawPlain: !encrypted,
    });
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
    for (const ix of this.#indexes.values()) {
      if (ix.state !== 'closed') throw protocol(`index ${ix.name} is ${ix.state === 'open' ? 'still open' : 'broken (a close failed)'}`);
    }
    if (this.#files.length === 0) throw protocol('the backup contains no archives');
    const stats = this.stats;
    const uploadStats = { count: stats.chunksUploaded, size: stats.rawBytesUploaded, compressed_size: stats.bytesUploaded, duplicates: stats.chunksReused };
    const client = opts.manifest ?? this.#clientManifest;
    const manifest = client === undefined
      ? createManifest({
        backupType: this.dir.type, backupId: this.dir.id, backupTime: this.dir.time,
        files: this.#files.map(({ file }) => ({ filename: file.filename, cryptMode: file['crypt-mode'], size: file.size, csum: file.csum })),
        unprotected: { chunk_upload_stats: uploadStats },
      })
      : this.#checkClientManifest(client, uploadStats);
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
    this.#releaseAll(false);
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
    let firstError: unknown;
    for (const ix of this.#indexes.values()) {
      if (ix.state === 'open') try { ix.writer.abort(); } catch (err) { firstError ??= err; }
    }
    let removed = false;
    try {
      await removeSnapshot(this.#opts.storePath, this.dir, { lock: this.#locks.snapshot });
      removed = true;
    } catch (err) {
      if (!isBulwarkError(err, 'BULWARK_NOT_FOUND')) firstError ??= err;
    }
    this.#releaseAll(removed);
    if (firstError !== undefined) throw firstError;
  }

  #releaseAll(discardSnapshotLock: boolean): void {
    const steps = [
      () => this.#registration.release(),
      () => this.#locks.previous?.release(),
      () => (discardSnapshotLock ? this.#locks.snapshot.discard() : this.#locks.snapshot.release()),
      () => this.#locks.group.release(),
    ];
    for (const step of steps) try { step(); } catch { /* the kernel drops our locks with the process anyway */ }
  }

  #checkClientManifest(m: Manifest, uploadStats: Record<string, number>): Manifest {
    const what = `client manifest of snapshot ${this.dir.describe()}`;
    const invalid = (reason: string) => bulwarkError('BULWARK_MANIFEST_INVALID', what, reason);
    let parsed: Manifest;
    try {
      parsed = parseManifest(JSON.parse(JSON.stringify(m)), what);
    } catch (err) {
      if (isBulwarkError(err)) throw err;
      throw bulwarkError('BULWARK_MANIFEST_INVALID', what, (err as Error).message, { cause: err });
    }
    if (parsed['backup-type'] !== this.dir.type || parsed['backup-id'] !== this.dir.id || parsed['backup-time'] !== this.dir.time) {
      throw invalid(`it is for ${parsed['backup-type']}/${parsed['backup-id']}/${parsed['backup-time']}, not ${this.dir.type}/${this.dir.id}/${this.dir.time}`);
    }
    const written = new Map(this.#files.map((w) => [w.file.filename, w]));
    for (const f of parsed.files) {
      const w = written.get(f.filename);
      if (w === undefined) throw invalid(`it lists ${f.filename}, which this session did not write`);
      if (f.size !== w.file.size) throw invalid(`${f.filename} has size ${f.size}, the server wrote ${w.file.size}`);
      if (f.csum !== w.file.csum) throw invalid(`${f.filename} has csum ${f.csum}, the server wrote ${w.file.csum}`);
      if (f['crypt-mode'] === 'encrypt' ? w.sawPlain : w.sawEncrypted) {
        throw invalid(`${f.filename} has crypt mode ${f['crypt-mode']} but its data is ${w.sawEncrypted ? 'encrypted' : 'not encrypted'}`);
      }
      written.delete(f.filename);
    }
    if (written.size > 0) throw invalid(`it does not list ${[...written.keys()].join(', ')}`);
    return { ...parsed, unprotected: { ...parsed.unprotected, chunk_upload_stats: uploadStats } };
  }

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

  #requireUnusedName(name: string): void {
    if (this.#names.has(name)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `archive ${name} in this session`);
  }

  #openIndex(wid: number): IndexState {
    const ix = this.#indexes.get(wid);
    if (ix === undefined) throw protocol(`no index with writer id ${wid}`);
    if (ix.state !== 'open') throw protocol(`index ${ix.name} (writer id ${wid}) is ${ix.state}`);
    return ix;
  }
}

function csumBytes(csum: Uint8Array | string): Buffer | undefined {
  if (typeof csum === 'string') return /^[0-9a-f]{64}$/.test(csum) ? Buffer.from(csum, 'hex') : undefined;
  return csum instanceof Uint8Array && csum.length === DIGEST_SIZE ? Buffer.from(csum) : undefined;
}

function removeQuietly(path: string): void {
  try { rmSync(path, { force: true }); } catch { /* abort removes the whole snapshot dir anyway */ }
}
