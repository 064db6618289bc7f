/**
 * Fixed-size chunk index (`.fidx`): an image cut into equal chunks, byte for
 * byte PBS's layout (pbs-datastore/src/fixed_index.rs), so PBS tools read it.
 *
 *   offset  size  field (integers little endian)
 *        0     8  magic       MAGIC_FIXED_INDEX
 *        8    16  uuid
 *       24     8  ctime       i64, epoch seconds
 *       32    32  index_csum  SHA-256(digest_0 ‖ digest_1 ‖ … ‖ digest_n-1)
 *       64     8  size        u64, bytes of image data
 *       72     8  chunk_size  u64, a power of two ≤ MAX_CHUNK_SIZE
 *       80  4016  zeros       (header = 4096 bytes)
 *     4096  32×n  digests     n = ceil(size / chunk_size); the last chunk may be short
 *
 * chunk_size must be a power of two because PBS finds the offset inside a
 * chunk with `offset & (chunk_size - 1)`; anything else would read wrong there.
 */
import { createHash } from 'node:crypto';
import { bulwarkError } from '../errors.ts';
import { DIGEST_SIZE, INDEX_HEADER_SIZE, MAGIC_FIXED_INDEX, MAX_CHUNK_SIZE } from './formats.ts';
import {
  IndexTempFile, MAX_INDEX_ENTRIES, checkChunkIndexArg, checkDigestArg,
  encodeCommonHeader, parseCommonHeader, readIndexBytes, resolveHeaderOptions,
} from './index-common.ts';
import type { ChunkRange, IndexCloseResult, IndexReader, IndexWriterHeaderOptions } from './index-common.ts';

// Literals, not derived from index-file.ts: see the import-cycle note there.
const OFFSET_SIZE = 64;
const OFFSET_CHUNK_SIZE = 72;
/** Consecutive digests gathered before one write (2048 × 32 = 64 KiB). */
const RUN_ENTRIES = 2048;
/** Digests hashed per read-back block on close. */
const CSUM_BLOCK_ENTRIES = 2048;

function isValidChunkSize(chunkSize: number): boolean {
  return Number.isInteger(chunkSize) && chunkSize >= 1 && chunkSize <= MAX_CHUNK_SIZE && (chunkSize & (chunkSize - 1)) === 0;
}

export class FixedIndexReader implements IndexReader {
  readonly kind = 'fixed' as const;

  private constructor(
    readonly uuid: Buffer,
    readonly ctime: number,
    readonly indexCsum: Buffer,
    /** Bytes of image data. */
    readonly size: number,
    readonly chunkSize: number,
    private readonly entries: Buffer,
    private readonly n: number,
  ) {}

  static open(path: string): FixedIndexReader {
    return FixedIndexReader.fromBuffer(readIndexBytes(path), path);
  }

  /** Parse and fully validate an index held in memory; `what` names it in errors. */
  static fromBuffer(buf: Buffer, what: string): FixedIndexReader {
    const header = parseCommonHeader(buf, MAGIC_FIXED_INDEX, what);
    const size = buf.readBigUInt64LE(OFFSET_SIZE);
    const chunkSize = buf.readBigUInt64LE(OFFSET_CHUNK_SIZE);
    if (chunkSize > BigInt(MAX_CHUNK_SIZE) || !isValidChunkSize(Number(chunkSize))) {
      throw bulwarkError('BULWARK_INDEX_CORRUPT', what, `chunk size ${chunkSize} is not a power of two in [1, ${MAX_CHUNK_SIZE}]`);
    }
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw bulwarkError('BULWARK_INDEX_CORRUPT', what, `size ${size} is beyond what Bulwark can address`);
    }
    const entryBytes = buf.length - INDEX_HEADER_SIZE;
    if (entryBytes % DIGEST_SIZE !== 0) {
      throw bulwarkError('BULWARK_INDEX_CORRUPT', what, `digest area of ${entryBytes} bytes ends in a partial digest`);
    }
    const expected = (size + chunkSize - 1n) / chunkSize;
    const n = entryBytes / DIGEST_SIZE;
    if (BigInt(n) !== expected) {
      throw bulwarkError('BULWARK_INDEX_CORRUPT', what,
        `file holds ${n} digests but size ${size} in chunks of ${chunkSize} needs ${expected}`);
    }
    const reader = new FixedIndexReader(
      Buffer.from(header.uuid), header.ctime, Buffer.from(header.indexCsum),
      Number(size), Number(chunkSize), buf.subarray(INDEX_HEADER_SIZE), n,
    );
    const computed = reader.computeCsum();
    if (!computed.equals(reader.indexCsum)) {
      throw bulwarkError('BULWARK_INDEX_CHECKSUM', what, reader.indexCsum.toString('hex'), computed.toString('hex'));
    }
    return reader;
  }

  count(): number {
    return this.n;
  }

  digest(i: number): Buffer {
    checkChunkIndexArg(i, this.n);
    return this.entries.subarray(i * DIGEST_SIZE, (i + 1) * DIGEST_SIZE);
  }

  chunkRange(i: number): ChunkRange {
    checkChunkIndexArg(i, this.n);
    const start = i * this.chunkSize;
    return { start, end: Math.min(start + this.chunkSize, this.size) };
  }

  totalSize(): number {
    return this.size;
  }

  chunkFromOffset(offset: number): { index: number; offsetInChunk: number } | undefined {
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.size) return undefined;
    return { index: Math.floor(offset / this.chunkSize), offsetInChunk: offset % this.chunkSize };
  }

  *digests(): IterableIterator<Buffer> {
    for (let i = 0; i < this.n; i++) yield this.entries.subarray(i * DIGEST_SIZE, (i + 1) * DIGEST_SIZE);
  }

  computeCsum(): Buffer {
    return createHash('sha256').update(this.entries).digest();
  }
}

export interface FixedIndexWriterOptions extends IndexWriterHeaderOptions {
  /** Bytes of image data. */
  readonly size: number;
  /** A power of two ≤ MAX_CHUNK_SIZE. */
  readonly chunkSize: number;
}

/**
 * Streams a fixed index to a temporary file beside `path`. Digests may come
 * in any order (`add`), as uploads finish out of order; `append` is the
 * in-order shorthand. Only a bitmap of filled slots and one run of
 * consecutive digests stay in memory.
 */
export class FixedIndexWriter {
  readonly uuid: Buffer;
  readonly ctime: number;
  readonly size: number;
  readonly chunkSize: number;
  /** Number of digests the index needs: ceil(size / chunkSize). */
  readonly count: number;
  private readonly filled: Uint8Array;
  private missing: number;
  private nextAppend = 0;
  private readonly run = Buffer.alloc(RUN_ENTRIES * DIGEST_SIZE);
  private runStart = 0;
  private runLength = 0;

  private constructor(readonly path: string, private readonly file: IndexTempFile, private readonly fsync: boolean,
    header: { uuid: Buffer; ctime: number }, size: number, chunkSize: number, count: number) {
    this.uuid = header.uuid;
    this.ctime = header.ctime;
    this.size = size;
    this.chunkSize = chunkSize;
    this.count = count;
    this.filled = new Uint8Array(Math.ceil(count / 8));
    this.missing = count;
  }

  static create(path: string, opts: FixedIndexWriterOptions): FixedIndexWriter {
    const { size, chunkSize } = opts;
    if (!Number.isSafeInteger(size) || size < 0) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'size', size);
    if (!isValidChunkSize(chunkSize)) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'chunk size', `${chunkSize} (must be a power of two ≤ ${MAX_CHUNK_SIZE})`);
    }
    const count = Math.ceil(size / chunkSize);
    if (count > MAX_INDEX_ENTRIES) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'size', `${size} needs ${count} chunks, more than ${MAX_INDEX_ENTRIES}`);
    }
    const header = resolveHeaderOptions(opts);
    const bytes = encodeCommonHeader(MAGIC_FIXED_INDEX, header.uuid, header.ctime);
    bytes.writeBigUInt64LE(BigInt(size), OFFSET_SIZE);
    bytes.writeBigUInt64LE(BigInt(chunkSize), OFFSET_CHUNK_SIZE);
    const file = IndexTempFile.create(path, bytes);
    return new FixedIndexWriter(path, file, opts.fsync ?? true, header, size, chunkSize, count);
  }

  /** Where the index is being written until `close` renames it. */
  get tmpPath(): string {
    return this.file.tmpPath;
  }

  /** Set the digest of chunk `index`; setting one twice keeps the last. */
  add(index: number, digest: Uint8Array): void {
    checkDigestArg(digest);
    checkChunkIndexArg(index, this.count);
    if (!this.file.open) throw bulwarkError('BULWARK_INTERNAL', `index writer for ${this.path} is already closed`);
    const continuesRun = this.runLength > 0 && index === this.runStart + this.runLength && this.runLength < RUN_ENTRIES;
    if (!continuesRun) {
      this.flushRun();
      this.runStart = index;
    }
    this.run.set(digest, this.runLength * DIGEST_SIZE);
    this.runLength++;
    const bit = 1 << (index & 7);
    if ((this.filled[index >> 3]! & bit) === 0) {
      this.filled[index >> 3]! |= bit;
      this.missing--;
    }
  }

  /** Set the digest of the chunk after the last appended one; returns its index. */
  append(digest: Uint8Array): number {
    const index = this.nextAppend;
    this.add(index, digest);
    this.nextAppend = index + 1;
    return index;
  }

  /**
   * Store the checksum and rename the index into place. Refuses while any
   * chunk is unset (a zero digest would point at a chunk that never existed);
   * the writer then stays open for more `add`s or `abort`.
   */
  close(): IndexCloseResult {
    if (!this.file.open) throw bulwarkError('BULWARK_INTERNAL', `index writer for ${this.path} is already closed`);
    if (this.missing > 0) {
      throw bulwarkError('BULWARK_INDEX_CORRUPT', this.path,
        `incomplete: chunk ${this.firstMissing()} of ${this.count} was never added (${this.missing} missing)`);
    }
    this.flushRun();
    const csum = this.hashDigests();
    this.file.commit(csum, this.fsync);
    return { csum, count: this.count, size: this.size };
  }

  /** Drop the index: the temporary file is deleted. Safe after close or a failure. */
  abort(): void {
    this.runLength = 0;
    this.file.abort();
  }

  private flushRun(): void {
    if (this.runLength === 0) return;
    this.file.write(this.run.subarray(0, this.runLength * DIGEST_SIZE), INDEX_HEADER_SIZE + this.runStart * DIGEST_SIZE);
    this.runLength = 0;
  }

  /** Digests may have arrived out of order, so hash them back from the file in index order. */
  private hashDigests(): Buffer {
    const hash = createHash('sha256');
    const block = Buffer.alloc(CSUM_BLOCK_ENTRIES * DIGEST_SIZE);
    for (let i = 0; i < this.count; i += CSUM_BLOCK_ENTRIES) {
      const part = block.subarray(0, Math.min(CSUM_BLOCK_ENTRIES, this.count - i) * DIGEST_SIZE);
      this.file.read(part, INDEX_HEADER_SIZE + i * DIGEST_SIZE);
      hash.update(part);
    }
    return hash.digest();
  }

  private firstMissing(): number {
    for (let i = 0; i < this.count; i++) if ((this.filled[i >> 3]! & (1 << (i & 7))) === 0) return i;
    return -1;
  }
}
