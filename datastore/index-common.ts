/**
 * The pieces both index formats share: the common header prefix, whole-file
 * reads and the temp-file plumbing of the writers, plus the types of the
 * `IndexReader` interface. Kept apart from index-file.ts so the two format
 * modules never import the module that imports them.
 *
 * Common header prefix of both kinds (integers little endian):
 *
 *   offset  size  field
 *        0     8  magic       MAGIC_FIXED_INDEX or MAGIC_DYNAMIC_INDEX
 *        8    16  uuid        random (v4) per index
 *       24     8  ctime       i64, epoch seconds
 *       32    32  index_csum  SHA-256, defined per kind
 *       64     …  kind-specific fields, then zeros up to INDEX_HEADER_SIZE (4096)
 */
import { closeSync, fsyncSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { tempPathFor, commitTempFileSync } from './atomic-write.ts';
import { DIGEST_SIZE, INDEX_HEADER_SIZE, MAGIC_DYNAMIC_INDEX, MAGIC_FIXED_INDEX } from './formats.ts';

export type IndexKind = 'fixed' | 'dynamic';

export interface ChunkRange {
  /** First byte of the chunk in the archive. */
  readonly start: number;
  /** One past its last byte. */
  readonly end: number;
}

/** The narrow read view jobs (GC mark, verify, restore, sync) depend on. */
export interface IndexReader {
  readonly kind: IndexKind;
  readonly uuid: Buffer;
  /** Creation time, epoch seconds. */
  readonly ctime: number;
  /** Checksum stored in the header (already checked against the entries on open). */
  readonly indexCsum: Buffer;
  /** Number of chunks. */
  count(): number;
  /** Digest of chunk `i`: a read-only view into the index, do not modify. */
  digest(i: number): Buffer;
  chunkRange(i: number): ChunkRange;
  /** Bytes of archive data the index describes. */
  totalSize(): number;
  /** Chunk holding archive byte `offset`, or undefined outside [0, totalSize()). */
  chunkFromOffset(offset: number): { index: number; offsetInChunk: number } | undefined;
  digests(): Iterable<Buffer>;
  /** Recompute the checksum from the entries, by the kind's definition. */
  computeCsum(): Buffer;
}

/** What a writer's `close()` reports; the backup protocol compares it with the client's claim. */
export interface IndexCloseResult {
  readonly csum: Buffer;
  readonly count: number;
  readonly size: number;
}

export interface IndexWriterHeaderOptions {
  /** 16 bytes; a random v4 uuid when omitted. */
  readonly uuid?: Uint8Array;
  /** Epoch seconds; the current time when omitted. */
  readonly ctime?: number;
  /** fsync the file and its directory on close (default true: indexes are what restores need). */
  readonly fsync?: boolean;
}

/**
 * Most entries an index may hold. Readers load the whole file (Node has no
 * mmap) and `readFileSync` stops at 2 GiB; 2^25 entries is 1.25 GiB of
 * dynamic entries, or 128 TiB of data at 4 MiB chunks.
 */
export const MAX_INDEX_ENTRIES = 2 ** 25;

export const OFFSET_UUID = 8;
export const OFFSET_CTIME = 24;
export const OFFSET_CSUM = 32;

// ── shared by the two formats ─────────────────────────────────────────────

/** Whole index file; missing → BULWARK_NOT_FOUND, other failures → BULWARK_IO. */
export function readIndexBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw ioError(path, err);
  }
}

export function ioError(path: string, err: unknown): Error {
  if (isBulwarkError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return bulwarkError('BULWARK_NOT_FOUND', path, { cause: err });
  return bulwarkError('BULWARK_IO', path, (err as Error | undefined)?.message ?? String(err), { cause: err });
}

export interface CommonHeader {
  readonly uuid: Buffer;
  readonly ctime: number;
  readonly indexCsum: Buffer;
}

/** Check magic and header length; every failure is typed, whatever `buf` holds. */
export function parseCommonHeader(buf: Buffer, magic: Buffer, what: string): CommonHeader {
  if (buf.length < magic.length) {
    throw bulwarkError('BULWARK_TRUNCATED', what, `${buf.length} bytes is shorter than the magic`);
  }
  if (!buf.subarray(0, magic.length).equals(magic)) throw bulwarkError('BULWARK_BAD_MAGIC', what);
  if (buf.length < INDEX_HEADER_SIZE) {
    throw bulwarkError('BULWARK_TRUNCATED', what, `header has ${buf.length} of ${INDEX_HEADER_SIZE} bytes`);
  }
  return {
    uuid: buf.subarray(OFFSET_UUID, OFFSET_UUID + 16),
    // ctime is informational and not covered by the checksum: take it as is.
    ctime: Number(buf.readBigInt64LE(OFFSET_CTIME)),
    indexCsum: buf.subarray(OFFSET_CSUM, OFFSET_CSUM + DIGEST_SIZE),
  };
}

/** A zeroed header with the common prefix filled in (csum stays zero until close). */
export function encodeCommonHeader(magic: Buffer, uuid: Uint8Array, ctime: number): Buffer {
  const header = Buffer.alloc(INDEX_HEADER_SIZE);
  magic.copy(header, 0);
  header.set(uuid, OFFSET_UUID);
  header.writeBigInt64LE(BigInt(ctime), OFFSET_CTIME);
  return header;
}

export function resolveHeaderOptions(opts: IndexWriterHeaderOptions): { uuid: Buffer; ctime: number } {
  let uuid: Buffer;
  if (opts.uuid === undefined) {
    uuid = Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
  } else if (opts.uuid instanceof Uint8Array && opts.uuid.length === 16) {
    uuid = Buffer.from(opts.uuid);
  } else {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'uuid', 'must be 16 bytes');
  }
  const ctime = opts.ctime ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(ctime)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'ctime', ctime);
  return { uuid, ctime };
}

export function checkDigestArg(digest: Uint8Array): void {
  if (!(digest instanceof Uint8Array) || digest.length !== DIGEST_SIZE) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'digest', `must be ${DIGEST_SIZE} bytes`);
  }
}

export function checkChunkIndexArg(i: number, count: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= count) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'chunk index', `${i} (index has ${count} chunks)`);
  }
}

/**
 * The temporary file an index writer streams into, beside its target. It is
 * renamed into place only by `commit`, so readers never see a half-written
 * index; any I/O failure removes it before the error propagates.
 */
export class IndexTempFile {
  readonly tmpPath: string;
  private fd: number | undefined;

  private constructor(readonly path: string, tmpPath: string, fd: number) {
    this.tmpPath = tmpPath;
    this.fd = fd;
  }

  static create(path: string, header: Buffer): IndexTempFile {
    const tmpPath = tempPathFor(path);
    let fd: number;
    try {
      fd = openSync(tmpPath, 'wx+', 0o644); // + so a fixed index can read its digests back
    } catch (err) {
      throw ioError(tmpPath, err);
    }
    const file = new IndexTempFile(path, tmpPath, fd);
    file.write(header, 0);
    return file;
  }

  get open(): boolean {
    return this.fd !== undefined;
  }

  read(into: Buffer, position: number): void {
    const fd = this.requireOpen();
    try {
      let done = 0;
      while (done < into.length) {
        const n = readSync(fd, into, done, into.length - done, position + done);
        if (n === 0) throw new Error(`unexpected end of file at ${position + done}`);
        done += n;
      }
    } catch (err) {
      this.abort();
      throw ioError(this.tmpPath, err);
    }
  }

  write(data: Uint8Array, position: number): void {
    const fd = this.requireOpen();
    try {
      let done = 0;
      while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
    } catch (err) {
      this.abort();
      throw ioError(this.tmpPath, err);
    }
  }

  /** Store the checksum in the header, then rename into place. */
  commit(csum: Buffer, fsync: boolean): void {
    this.write(csum, OFFSET_CSUM);
    const fd = this.requireOpen();
    try {
      if (fsync) fsyncSync(fd);
      closeSync(fd);
      this.fd = undefined;
      commitTempFileSync(this.tmpPath, this.path, { fsync });
    } catch (err) {
      this.abort();
      throw ioError(this.path, err);
    }
  }

  /** Close and delete the temporary file; safe to call more than once. */
  abort(): void {
    if (this.fd !== undefined) {
      try { closeSync(this.fd); } catch { /* already unusable; removing it is what matters */ }
      this.fd = undefined;
    }
    rmSync(this.tmpPath, { force: true });
  }

  private requireOpen(): number {
    if (this.fd === undefined) throw bulwarkError('BULWARK_INTERNAL', `index writer for ${this.path} is already closed`);
    return this.fd;
  }
}
