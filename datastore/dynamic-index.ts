/**
 * Dynamic-size chunk index (`.didx`): a stream cut by the content-defined
 * chunker, byte for byte PBS's layout (pbs-datastore/src/dynamic_index.rs).
 *
 *   offset  size  field (integers little endian)
 *        0     8  magic       MAGIC_DYNAMIC_INDEX
 *        8    16  uuid
 *       24     8  ctime       i64, epoch seconds
 *       32    32  index_csum  SHA-256(end_0 ‖ digest_0 ‖ end_1 ‖ digest_1 ‖ …), end as u64 LE
 *       64  4032  zeros       (header = 4096 bytes)
 *     4096  40×n  entries     end (u64: one past the chunk's last byte) ‖ digest (32)
 *
 * Chunk i spans [end_i-1, end_i) with end_-1 = 0, so ends must strictly
 * increase from zero: an empty or backwards chunk makes offsets ambiguous.
 */
import { createHash, type Hash } from 'node:crypto';
import { bulwarkError } from '../errors.ts';
import { DIGEST_SIZE, INDEX_HEADER_SIZE, MAGIC_DYNAMIC_INDEX, MAX_CHUNK_SIZE } from './formats.ts';
import {
  IndexTempFile, MAX_INDEX_ENTRIES, checkChunkIndexArg, checkDigestArg,
  encodeCommonHeader, parseCommonHeader, readIndexBytes, resolveHeaderOptions,
} from './index-common.ts';
import type { ChunkRange, IndexCloseResult, IndexReader, IndexWriterHeaderOptions } from './index-common.ts';

/** Bytes per entry: end offset (8) + digest (32). */
export const DYNAMIC_ENTRY_SIZE = 8 + DIGEST_SIZE;
/** Entries buffered before one write (1638 × 40 ≈ 64 KiB). */
const BUFFER_ENTRIES = 1638;

export class DynamicIndexReader implements IndexReader {
  readonly kind = 'dynamic' as const;

  private constructor(
    readonly uuid: Buffer,
    readonly ctime: number,
    readonly indexCsum: Buffer,
    private readonly entries: Buffer,
    /** End offsets, decoded once so lookups need no BigInt. */
    private readonly ends: Float64Array,
  ) {}

  static open(path: string): DynamicIndexReader {
    return DynamicIndexReader.fromBuffer(readIndexBytes(path), path);
  }

  /** Parse and fully validate an index held in memory; `what` names it in errors. */
  static fromBuffer(buf: Buffer, what: string): DynamicIndexReader {
    const header = parseCommonHeader(buf, MAGIC_DYNAMIC_INDEX, what);
    const entries = buf.subarray(INDEX_HEADER_SIZE);
    if (entries.length % DYNAMIC_ENTRY_SIZE !== 0) {
      throw bulwarkError('BULWARK_INDEX_CORRUPT', what,
        `entry area of ${entries.length} bytes ends in a partial ${DYNAMIC_ENTRY_SIZE}-byte entry`);
    }
    const n = entries.length / DYNAMIC_ENTRY_SIZE;
    const ends = new Float64Array(n);
    let previous = 0n;
    for (let i = 0; i < n; i++) {
      const end = entries.readBigUInt64LE(i * DYNAMIC_ENTRY_SIZE);
      if (end <= previous) {
        throw bulwarkError('BULWARK_INDEX_CORRUPT', what, `entry ${i} ends at ${end}, not after ${previous}`);
      }
      if (end - previous > BigInt(MAX_CHUNK_SIZE)) {
        throw bulwarkError('BULWARK_INDEX_CORRUPT', what, `entry ${i} spans ${end - previous} bytes, more than a chunk may hold`);
      }
      ends[i] = Number(end);
      previous = end;
    }
    // Every chunk is at most MAX_CHUNK_SIZE and n fits in a Buffer, so ends stay exact doubles.
    const reader = new DynamicIndexReader(Buffer.from(header.uuid), header.ctime, Buffer.from(header.indexCsum), entries, ends);
    const computed = reader.computeCsum();
    if (!computed.equals(reader.indexCsum)) {
      throw bulwarkError('BULWARK_INDEX_CHECKSUM', what, reader.indexCsum.toString('hex'), computed.toString('hex'));
    }
    return reader;
  }

  count(): number {
    return this.ends.length;
  }

  digest(i: number): Buffer {
    checkChunkIndexArg(i, this.ends.length);
    const at = i * DYNAMIC_ENTRY_SIZE + 8;
    return this.entries.subarray(at, at + DIGEST_SIZE);
  }

  /** End offset of chunk `i` (one past its last byte). */
  chunkEnd(i: number): number {
    checkChunkIndexArg(i, this.ends.length);
    return this.ends[i]!;
  }

  chunkRange(i: number): ChunkRange {
    checkChunkIndexArg(i, this.ends.length);
    return { start: i === 0 ? 0 : this.ends[i - 1]!, end: this.ends[i]! };
  }

  totalSize(): number {
    return this.ends.length === 0 ? 0 : this.ends[this.ends.length - 1]!;
  }

  /** Binary search for the first chunk whose end lies beyond `offset`. */
  chunkFromOffset(offset: number): { index: number; offsetInChunk: number } | undefined {
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.totalSize()) return undefined;
    let lo = 0;
    let hi = this.ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (offset < this.ends[mid]!) hi = mid;
      else lo = mid + 1;
    }
    const start = lo === 0 ? 0 : this.ends[lo - 1]!;
    return { index: lo, offsetInChunk: offset - start };
  }

  *digests(): IterableIterator<Buffer> {
    for (let at = 8; at < this.entries.length; at += DYNAMIC_ENTRY_SIZE) yield this.entries.subarray(at, at + DIGEST_SIZE);
  }

  /** The entry area is exactly the checksummed byte sequence. */
  computeCsum(): Buffer {
    return createHash('sha256').update(this.entries).digest();
  }
}

export type DynamicIndexWriterOptions = IndexWriterHeaderOptions;

/**
 * Streams a dynamic index to a temporary file beside `path`, hashing entries
 * as they come; only one write buffer of entries stays in memory.
 */
export class DynamicIndexWriter {
  readonly uuid: Buffer;
  readonly ctime: number;
  private readonly hash: Hash = createHash('sha256');
  private readonly buffer = Buffer.alloc(BUFFER_ENTRIES * DYNAMIC_ENTRY_SIZE);
  private buffered = 0;
  private written = 0;
  private lastEnd = 0;

  private constructor(readonly path: string, private readonly file: IndexTempFile, private readonly fsync: boolean,
    header: { uuid: Buffer; ctime: number }) {
    this.uuid = header.uuid;
    this.ctime = header.ctime;
  }

  static create(path: string, opts: DynamicIndexWriterOptions = {}): DynamicIndexWriter {
    const header = resolveHeaderOptions(opts);
    const file = IndexTempFile.create(path, encodeCommonHeader(MAGIC_DYNAMIC_INDEX, header.uuid, header.ctime));
    return new DynamicIndexWriter(path, file, opts.fsync ?? true, header);
  }

  /** Where the index is being written until `close` renames it. */
  get tmpPath(): string {
    return this.file.tmpPath;
  }

  /** Entries appended so far. */
  get count(): number {
    return this.written + this.buffered;
  }

  /** Add the chunk that ends at `endOffset` (exclusive) and follows the previous one. */
  append(endOffset: number, digest: Uint8Array): void {
    checkDigestArg(digest);
    if (!this.file.open) throw bulwarkError('BULWARK_INTERNAL', `index writer for ${this.path} is already closed`);
    if (!Number.isSafeInteger(endOffset) || endOffset <= this.lastEnd) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'end offset', `${endOffset} (must be an integer above ${this.lastEnd})`);
    }
    if (endOffset - this.lastEnd > MAX_CHUNK_SIZE) {
      throw bulwarkError('BULWARK_CHUNK_TOO_LARGE', endOffset - this.lastEnd, MAX_CHUNK_SIZE);
    }
    if (this.count >= MAX_INDEX_ENTRIES) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'chunk count', `more than ${MAX_INDEX_ENTRIES}`);
    }
    const entry = this.buffer.subarray(this.buffered * DYNAMIC_ENTRY_SIZE, (this.buffered + 1) * DYNAMIC_ENTRY_SIZE);
    entry.writeBigUInt64LE(BigInt(endOffset), 0);
    entry.set(digest, 8);
    this.hash.update(entry);
    this.buffered++;
    this.lastEnd = endOffset;
    if (this.buffered === BUFFER_ENTRIES) this.flush();
  }

  /** Store the checksum and rename the index into place. */
  close(): IndexCloseResult {
    if (!this.file.open) throw bulwarkError('BULWARK_INTERNAL', `index writer for ${this.path} is already closed`);
    this.flush();
    const csum = this.hash.digest();
    this.file.commit(csum, this.fsync);
    return { csum, count: this.written, size: this.lastEnd };
  }

  /** Drop the index: the temporary file is deleted. Safe after close or a failure. */
  abort(): void {
    this.buffered = 0;
    this.file.abort();
  }

  private flush(): void {
    if (this.buffered === 0) return;
    this.file.write(this.buffer.subarray(0, this.buffered * DYNAMIC_ENTRY_SIZE),
      INDEX_HEADER_SIZE + this.written * DYNAMIC_ENTRY_SIZE);
    this.written += this.buffered;
    this.buffered = 0;
  }
}
