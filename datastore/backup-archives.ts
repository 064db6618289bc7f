/**
 * BackupArchives: the archives one backup session writes into its snapshot
 * dir (backup-writer.ts owns the session; this holds what it has written).
 * Indexes go through create → append → close, each named by a writer id;
 * blobs are stored in one call. Each archive name is used once per session.
 * Every written archive becomes a WrittenFile, from which manifest-check.ts
 * builds the manifest or checks the client's.
 *
 * Crypt mode of an archive, for a manifest built here: 'encrypt' when any of
 * its chunks (or the blob itself) is encrypted, else 'none'. Kinds come from
 * the uploaded blob's magic, the previous manifest's crypt mode for chunks
 * known from it, and the stored chunk's magic for resumed ones (the
 * KnownChunks flag passed to `append`).
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { atomicWriteFile } from './atomic-write.ts';
import type { BackupDir } from './backup-ref.ts';
import { ENCRYPTED_BLOB_HEADER_SIZE, isEncryptedKind, verifyBlobCrc } from './blob.ts';
import { digestHex } from './digest.ts';
import { DynamicIndexWriter } from './dynamic-index.ts';
import { FixedIndexWriter } from './fixed-index.ts';
import { DIGEST_SIZE, MAX_BLOB_SIZE, MAX_CHUNK_SIZE } from './formats.ts';
import type { IndexKind } from './index-file.ts';
import { type KnownChunks, digestAt } from './known-chunks.ts';
import {
  archiveKind, decodeManifestBlob, manifestFile, MANIFEST_BLOB_NAME, validateArchiveName, type Manifest, type ManifestFile,
} from './manifest.ts';

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

/** An archive written in this session, with the kinds of data seen in it. */
export interface WrittenFile {
  readonly file: ManifestFile;
  readonly sawEncrypted: boolean;
  readonly sawPlain: boolean;
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

const protocol = (text: string, cause?: unknown) =>
  bulwarkError('BULWARK_PROTOCOL', text, ...(cause === undefined ? [] : [{ cause }]));
export { protocol as protocolError };

export class BackupArchives {
  readonly #dir: BackupDir;
  /** The snapshot directory. */
  readonly #path: string;
  readonly #now: () => number;
  readonly #indexes = new Map<number, IndexState>();
  readonly #names = new Set<string>();
  readonly #files: WrittenFile[] = [];
  #clientManifest: Manifest | undefined;
  #nextWid = 1;

  constructor(dir: BackupDir, path: string, now: () => number) {
    this.#dir = dir;
    this.#path = path;
    this.#now = now;
  }

  /** Archives written so far, in order. */
  get files(): readonly WrittenFile[] {
    return this.#files;
  }

  /** The client's own manifest, if it uploaded `index.json.blob`. */
  get clientManifest(): Manifest | undefined {
    return this.#clientManifest;
  }

  /** Start a `.fidx`/`.didx` archive; returns its writer id. */
  createIndex(opts: CreateIndexOptions): number {
    const name = validateArchiveName(opts.name);
    if (opts.kind !== 'fixed' && opts.kind !== 'dynamic') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'index kind', String(opts.kind));
    if (archiveKind(name) !== opts.kind) {
      throw bulwarkError('BULWARK_INVALID_NAME', 'archive name', JSON.stringify(name), `a ${opts.kind} index must end in ${opts.kind === 'fixed' ? '.fidx' : '.didx'}`);
    }
    this.#requireUnusedName(name);
    const path = join(this.#path, name);
    const ctime = Math.floor(this.#now() / 1000);
    const writer = opts.kind === 'fixed'
      ? FixedIndexWriter.create(path, { size: opts.size as number, chunkSize: opts.chunkSize as number, ctime })
      : DynamicIndexWriter.create(path, { ctime });
    const wid = this.#nextWid++;
    this.#names.add(name);
    this.#indexes.set(wid, { name, kind: opts.kind, writer, state: 'open', lastEnd: 0, sawEncrypted: false, sawPlain: false });
    return wid;
  }

  /** BULWARK_PROTOCOL unless `wid` names an open index. */
  requireOpenIndex(wid: number): void {
    this.#openIndex(wid);
  }

  /**
   * Add `digests` (n × 32) to index `wid`; each must be in `known`.
   * `offsets`: dynamic, the end offset of each chunk; fixed, each chunk's
   * position (0-based chunk number, so its byte offset is position × chunk
   * size). All-or-nothing for unknown digests and bad offsets.
   */
  append(wid: number, digests: Uint8Array, offsets: readonly number[], known: KnownChunks): void {
    const ix = this.#openIndex(wid);
    if (!(digests instanceof Uint8Array) || digests.length % DIGEST_SIZE !== 0) throw protocol(`append to ${ix.name}: digest list is not n × ${DIGEST_SIZE} bytes`);
    const list = Buffer.from(digests.buffer, digests.byteOffset, digests.byteLength);
    const n = list.length / DIGEST_SIZE;
    if (!Array.isArray(offsets) || offsets.length !== n) throw protocol(`append to ${ix.name}: ${n} digests but ${Array.isArray(offsets) ? offsets.length : 'no'} offsets`);
    let sawEncrypted = false;
    let sawPlain = false;
    for (let i = 0; i < n; i++) {
      const chunk = known.get(digestAt(list, i));
      if (chunk === undefined) throw bulwarkError('BULWARK_UNKNOWN_CHUNK', digestHex(digestAt(list, i)));
      if (chunk.encrypted) sawEncrypted = true;
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
   * `index.json.blob` is the client's own (signed) manifest: it is only held
   * (`clientManifest`), because writing it now would mark the snapshot finished.
   */
  async addBlob(name: string, blob: Uint8Array): Promise<void> {
    const filename = validateArchiveName(name);
    if (archiveKind(filename) !== 'blob') throw bulwarkError('BULWARK_INVALID_NAME', 'archive name', JSON.stringify(filename), 'a blob must end in .blob');
    if (blob.length > MAX_BLOB_SIZE + ENCRYPTED_BLOB_HEADER_SIZE) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'blob size', `${blob.length} bytes, more than ${MAX_BLOB_SIZE}`);
    const kind = verifyBlobCrc(blob, `blob ${filename}`);
    if (filename === MANIFEST_BLOB_NAME) {
      if (this.#clientManifest !== undefined) throw bulwarkError('BULWARK_ALREADY_EXISTS', `archive ${filename} in this session`);
      this.#clientManifest = decodeManifestBlob(blob, `client manifest of snapshot ${this.#dir.describe()}`);
      return;
    }
    this.#requireUnusedName(filename);
    this.#names.add(filename); // before the await: a concurrent upload of the same name is refused
    try {
      await atomicWriteFile(join(this.#path, filename), blob, { fsync: true });
    } catch (err) {
      this.#names.delete(filename);
      throw bulwarkError('BULWARK_IO', join(this.#path, filename), (err as Error).message, { cause: err });
    }
    const encrypted = isEncryptedKind(kind);
    this.#files.push({
      file: manifestFile({ filename, cryptMode: encrypted ? 'encrypt' : 'none', size: blob.length, csum: createHash('sha256').update(blob).digest() }),
      sawEncrypted: encrypted, sawPlain: !encrypted,
    });
  }

  /** BULWARK_PROTOCOL unless every index is closed and at least one archive was written. */
  requireComplete(): void {
    for (const ix of this.#indexes.values()) {
      if (ix.state !== 'closed') throw protocol(`index ${ix.name} is ${ix.state === 'open' ? 'still open' : 'broken (a close failed)'}`);
    }
    if (this.#files.length === 0) throw protocol('the backup contains no archives');
  }

  /** Drop every open index writer (their temp files); returns the first failure, if any. */
  abortOpen(): unknown {
    let firstError: unknown;
    for (const ix of this.#indexes.values()) {
      if (ix.state === 'open') try { ix.writer.abort(); } catch (err) { firstError ??= err; }
    }
    return firstError;
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
