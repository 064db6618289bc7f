/**
 * BackupReader: the store side of a reader (restore) session, free of any
 * transport (docs/protocol.md, "Reader session").
 *
 * - The snapshot is locked shared for the whole session, so prune and
 *   removal (which need it exclusively) fail with BULWARK_LOCKED meanwhile,
 *   while other readers and verify carry on.
 * - Only finished snapshots can be read, and only files their manifest lists;
 *   every index is checked against its manifest entry before it is handed out.
 * - A chunk is served only when an index fetched in this session references
 *   it. Any other digest gets the same BULWARK_NOT_FOUND as a missing chunk,
 *   so the session is no oracle for what else the store holds.
 *
 * `loadArchive` is shared with the backup writer's `previous` download.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { BackupDir, BackupGroup, BackupNamespace } from './backup-ref.ts';
import { verifyBlobCrc } from './blob.ts';
import type { ChunkStore } from './chunk-store.ts';
import { parseDigestHex, toDigestHex } from './digest.ts';
import { indexFromBuffer, type IndexReader } from './index-file.ts';
import { KnownChunks } from './known-chunks.ts';
import { MANIFEST_NAME, requireDir, snapshotParts } from './layout.ts';
import { type Lock, lockSnapshot } from './locks.ts';
import { archiveKind, decodeManifestBlob, lookupManifestFile, validateArchiveName, type Manifest, type ManifestFile } from './manifest.ts';

const errCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

/** `'a/b'`, a BackupNamespace or nothing (the root). */
export function namespaceOf(ns: string | BackupNamespace | undefined): BackupNamespace {
  return ns instanceof BackupNamespace ? ns : BackupNamespace.parse(ns ?? '');
}

/** A whole file of a snapshot; never follows a symlink. Missing → BULWARK_NOT_FOUND naming `what`. */
export async function readSnapshotFile(path: string, what: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (errCode(err) === 'ENOENT') throw bulwarkError('BULWARK_NOT_FOUND', what, { cause: err });
    if (errCode(err) === 'ELOOP') throw bulwarkError('BULWARK_IO', path, 'is a symbolic link; links inside a store are never followed');
    throw bulwarkError('BULWARK_IO', path, (err as Error).message, { cause: err });
  }
  try {
    if (!(await handle.stat()).isFile()) throw bulwarkError('BULWARK_IO', path, 'is not a regular file');
    return await handle.readFile();
  } catch (err) {
    if (isBulwarkError(err)) throw err;
    throw bulwarkError('BULWARK_IO', path, (err as Error).message, { cause: err });
  } finally {
    await handle.close();
  }
}

export interface ArchiveData {
  /** The file's bytes, as stored. */
  readonly data: Buffer;
  readonly file: ManifestFile;
  /** Set for `.fidx`/`.didx`. */
  readonly index?: IndexReader;
}

/**
 * Read archive `name` of the snapshot at `snapshotPath`, which `manifest`
 * must list. Indexes are parsed (checksum over their entries included) and
 * must match the manifest's kind, checksum and size; blobs must pass their CRC.
 */
export async function loadArchive(snapshotPath: string, manifest: Manifest, name: string): Promise<ArchiveData> {
  const filename = validateArchiveName(name);
  const file = lookupManifestFile(manifest, filename);
  const what = `archive ${filename}`;
  const data = await readSnapshotFile(join(snapshotPath, filename), what);
  const kind = archiveKind(filename);
  if (kind === 'blob') {
    verifyBlobCrc(data, what);
    return { data, file };
  }
  const index = indexFromBuffer(data, what);
  if (index.kind !== kind) throw bulwarkError('BULWARK_INDEX_CORRUPT', what, `holds a ${index.kind} index, not a ${kind} one`);
  const csum = index.indexCsum.toString('hex');
  if (csum !== file.csum) throw bulwarkError('BULWARK_INDEX_CHECKSUM', what, file.csum, csum);
  if (index.totalSize() !== file.size) {
    throw bulwarkError('BULWARK_INDEX_CORRUPT', what, `describes ${index.totalSize()} bytes, the manifest says ${file.size}`);
  }
  return { data, file, index };
}

/** Which snapshot of which store a reader or writer works on. */
export interface SnapshotTargetOptions {
  readonly storePath: string;
  readonly chunkStore: ChunkStore;
  /** `'a/b'` or a BackupNamespace; the root when omitted. */
  readonly ns?: string | BackupNamespace;
  readonly type: string;
  readonly id: string;
  /** Epoch seconds or the RFC 3339 dir name. */
  readonly backupTime: number | string;
}

export type BackupReaderOptions = SnapshotTargetOptions;

export class BackupReader {
  readonly #allowed = new KnownChunks();
  readonly #manifestBlob: Buffer;
  readonly #chunkStore: ChunkStore;
  #lock: Lock | undefined;

  private constructor(
    readonly dir: BackupDir,
    /** The snapshot directory. */
    readonly path: string,
    readonly manifest: Manifest,
    manifestBlob: Buffer,
    chunkStore: ChunkStore,
    lock: Lock,
  ) {
    this.#manifestBlob = manifestBlob;
    this.#chunkStore = chunkStore;
    this.#lock = lock;
  }

  /** Lock the finished snapshot shared and read its manifest. */
  static async open(opts: BackupReaderOptions): Promise<BackupReader> {
    const dir = new BackupDir(new BackupGroup(namespaceOf(opts.ns), opts.type, opts.id), opts.backupTime);
    const what = `snapshot ${dir.describe()}`;
    // Checked before locking too, so requests for snapshots that don't exist leave no lock files behind.
    await requireDir(opts.storePath, snapshotParts(dir), what);
    const lock = await lockSnapshot(opts.storePath, dir, { shared: true });
    try {
      const path = await requireDir(opts.storePath, snapshotParts(dir), what); // removed before we got the lock?
      let blob: Buffer;
      try {
        blob = await readSnapshotFile(join(path, MANIFEST_NAME), `manifest of ${what}`);
      } catch (err) {
        if (!isBulwarkError(err, 'BULWARK_NOT_FOUND')) throw err;
        throw bulwarkError('BULWARK_NOT_FOUND', `manifest of ${what} (the snapshot is not finished)`, { cause: err });
      }
      const manifest = decodeManifestBlob(blob, `manifest of ${what}`);
      if (manifest['backup-type'] !== dir.type || manifest['backup-id'] !== dir.id || manifest['backup-time'] !== dir.time) {
        throw bulwarkError('BULWARK_MANIFEST_INVALID', `manifest of ${what}`, 'it names another snapshot');
      }
      return new BackupReader(dir, path, manifest, blob, opts.chunkStore, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  get closed(): boolean {
    return this.#lock === undefined;
  }

  /** `index.json.blob` as stored. */
  manifestBlob(): Buffer {
    this.#requireOpen();
    return this.#manifestBlob;
  }

  /** A `.fidx`/`.didx` of the manifest, as stored; its chunks become readable in this session. */
  async index(name: string): Promise<Buffer> {
    this.#requireKind(name, 'index');
    const { data, index } = await loadArchive(this.path, this.manifest, name);
    this.#requireOpen(); // closed while we read
    for (const digest of index!.digests()) this.#allowed.add(digest, false);
    return data;
  }

  /** A `.blob` of the manifest, as stored. */
  async blob(name: string): Promise<Buffer> {
    this.#requireKind(name, 'blob');
    const { data } = await loadArchive(this.path, this.manifest, name);
    return data;
  }

  /** The encoded chunk as stored; only for chunks of indexes fetched in this session. `into`: see ChunkBackend.get. */
  async chunk(digest: Uint8Array | string, into?: (size: number) => Buffer): Promise<Buffer> {
    this.#requireOpen();
    const hex = toDigestHex(digest);
    // Same error as a missing chunk: the session must not reveal what else exists.
    if (!this.#allowed.has(parseDigestHex(hex))) throw bulwarkError('BULWARK_NOT_FOUND', `chunk ${hex}`);
    return this.#chunkStore.readChunk(hex, into);
  }

  /** Release the snapshot lock. Idempotent. */
  close(): void {
    const lock = this.#lock;
    this.#lock = undefined;
    lock?.release();
  }

  #requireOpen(): void {
    if (this.#lock === undefined) throw bulwarkError('BULWARK_SESSION_ABORTED', `reader of snapshot ${this.dir.describe()} is closed`);
  }

  #requireKind(name: string, want: 'index' | 'blob'): void {
    this.#requireOpen();
    const kind = archiveKind(validateArchiveName(name));
    if ((kind === 'blob') !== (want === 'blob')) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive name', `${name} is not ${want === 'blob' ? 'a blob' : 'an index'}`);
    }
  }
}
