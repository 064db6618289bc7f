/**
 * A regular file's content in bxar, both ways:
 *
 *   content = segment* ‖ 'E'
 *   segment = 'D' ‖ len u32 (1..16 MiB) ‖ bytes      data
 *           | 'H' ‖ len u64 (> 0)                   hole: len zero bytes
 *
 * Data and hole lengths add up to the file's size exactly. In a single
 * stream the content follows the file's record; in a split archive it lies
 * in the payload stream, at the range the FILE_REF record names, and must
 * end exactly at that range's end.
 *
 * Encoding reads the file in 1 MiB pieces into an Output (fixed-size
 * buffers, handed on whole); decoding pulls exact byte counts out of an
 * async stream of buffers (ByteReader) without copying where it can.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';
import { bulwarkError } from '../../errors.ts';
import { HOLE_GRANULE, MAX_SEGMENT, SEG_DATA, SEG_END, SEG_HOLE } from './format.ts';
import type { PayloadSource } from './payload.ts';

export const READ_SIZE = 1024 * 1024;
const readAsync = promisify(fs.read);
const ZERO_PAGE = Buffer.alloc(HOLE_GRANULE);

// ── encoding ─────────────────────────────────────────────────────────────

/** Collects output into fixed-size buffers; full ones wait in `ready` until taken. */
export class Output {
  private buf: Buffer;
  private len = 0;
  private flushed = 0;
  ready: Buffer[] = [];

  constructor(private readonly size: number, base = 0) {
    this.buf = Buffer.allocUnsafe(size);
    this.flushed = base;
  }

  /** Absolute stream offset of the next byte written. */
  get offset(): number {
    return this.flushed + this.len;
  }

  write(src: Uint8Array, start = 0, end = src.length): void {
    while (start < end) {
      const n = Math.min(end - start, this.size - this.len);
      this.buf.set(src.subarray(start, start + n), this.len);
      this.len += n;
      start += n;
      if (this.len === this.size) {
        this.ready.push(this.buf);
        this.flushed += this.size;
        this.buf = Buffer.allocUnsafe(this.size);
        this.len = 0;
      }
    }
  }

  /** The full buffers. */
  take(): Buffer[] {
    const r = this.ready;
    this.ready = [];
    return r;
  }

  /**
   * Everything written so far, the partial buffer included. A small part is
   * copied out rather than handed over: many small pieces queued downstream
   * must not each pin a whole buffer.
   */
  takeAll(): Buffer[] {
    const r = this.take();
    if (this.len > 0) {
      if (this.len < this.size / 2) {
        r.push(Buffer.from(this.buf.subarray(0, this.len)));
      } else {
        r.push(this.buf.subarray(0, this.len));
        this.buf = Buffer.allocUnsafe(this.size);
      }
      this.flushed += this.len;
      this.len = 0;
    }
    return r;
  }

  /** Nothing written since the last takeAll (or ever). */
  get empty(): boolean {
    return this.len === 0 && this.ready.length === 0;
  }

  /** Moves the stream offset while nothing is pending (the payload grew by reused chunks). */
  rebase(offset: number): void {
    if (this.len > 0 || this.ready.length > 0) throw bulwarkError('BULWARK_INTERNAL', 'output rebased with bytes pending');
    this.flushed = offset;
  }
}

/**
 * Writes the content of the open file `fd` (exactly `size` bytes: a file
 * that shrinks is padded with a hole, a read error becomes zeros and a
 * warning) and the closing 'E' into `out`. All-zero pages become holes.
 * Yields after every piece read so the caller can pass full buffers on.
 */
export async function* encodeContent(fd: number, size: number, out: Output, buf: Buffer, warn: (message: string) => void): AsyncGenerator<void> {
  const head = Buffer.allocUnsafe(9);
  const data = (start: number, end: number) => {
    head.writeUInt8(SEG_DATA, 0);
    head.writeUInt32LE(end - start, 1);
    out.write(head, 0, 5);
    out.write(buf, start, end);
  };
  const hole = (len: number) => {
    head.writeUInt8(SEG_HOLE, 0);
    head.writeBigUInt64LE(BigInt(len), 1);
    out.write(head, 0, 9);
  };
  let pos = 0;
  let zeros = 0;
  while (pos < size) {
    let n: number;
    try {
      const want = Math.min(buf.length, size - pos);
      n = size <= READ_SIZE ? fs.readSync(fd, buf, 0, want, pos) : (await readAsync(fd, buf, 0, want, pos)).bytesRead;
    } catch (err) {
      warn(`read failed at ${pos}, rest stored as zeros: ${(err as Error).message}`);
      n = 0;
    }
    if (n === 0) {
      if (pos < size) warn(`file shrank while being read; padded with zeros from ${pos}`);
      zeros += size - pos;
      break;
    }
    let dataStart = -1;
    for (let p = 0; p < n; p += HOLE_GRANULE) {
      const pe = Math.min(p + HOLE_GRANULE, n);
      if (buf.compare(ZERO_PAGE, 0, pe - p, p, pe) === 0) {
        if (dataStart >= 0) data(dataStart, p);
        dataStart = -1;
        zeros += pe - p;
      } else if (dataStart < 0) {
        if (zeros > 0) hole(zeros);
        zeros = 0;
        dataStart = p;
      }
    }
    if (dataStart >= 0) data(dataStart, n);
    pos += n;
    yield;
  }
  if (zeros > 0) hole(zeros);
  out.write(head, 0, head.writeUInt8(SEG_END, 0));
}

// ── decoding ─────────────────────────────────────────────────────────────

export type Segment = { kind: 'data'; data: Buffer } | { kind: 'hole'; length: number };

export interface FileContent {
  /** Data pieces and holes, in order; they add up to `size`. */
  segments(): AsyncGenerator<Segment>;
  /** The content as bytes, holes expanded to zeros. */
  content(): AsyncGenerator<Buffer>;
  /** Drops whatever content has not been read. */
  skip(): Promise<void>;
}

export const corruptAt = (what: string, offset: number, why: string) => bulwarkError('BULWARK_ARCHIVE_CORRUPT', `${what} at byte ${offset}`, why);

/** Pulls exact byte counts out of an async stream of buffers. */
export class ByteReader {
  private bufs: Buffer[] = [];
  private head = 0;
  private avail = 0;
  private eof = false;

  /** `pos`: absolute offset of the next unread byte; `what` names the stream in errors. */
  constructor(private readonly it: AsyncIterator<Uint8Array>, public pos = 0, readonly what = 'stream') {}

  async fill(n: number): Promise<boolean> {
    while (this.avail < n && !this.eof) {
      const r = await this.it.next();
      if (r.done) {
        this.eof = true;
      } else if (r.value.length > 0) {
        const v = r.value;
        this.bufs.push(Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
        this.avail += v.length;
      }
    }
    return this.avail >= n;
  }

  async exact(n: number): Promise<Buffer> {
    if (!(await this.fill(n))) throw corruptAt(this.what, this.pos, `truncated: needed ${n} more bytes`);
    return this.take(n);
  }

  /** 1..max bytes from the front buffer, without copying. */
  async some(max: number): Promise<Buffer> {
    if (!(await this.fill(1))) throw corruptAt(this.what, this.pos, 'truncated inside file content');
    const first = this.bufs[0]!;
    return this.take(Math.min(max, first.length - this.head));
  }

  async discard(n: number): Promise<void> {
    while (n > 0) n -= (await this.some(n)).length;
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  async close(): Promise<void> {
    this.eof = true;
    await this.it.return?.();
  }

  private take(n: number): Buffer {
    let out: Buffer;
    const first = this.bufs[0]!;
    if (first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n);
      this.head += n;
    } else {
      out = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const b = this.bufs[0]!;
        const k = Math.min(n - got, b.length - this.head);
        b.copy(out, got, this.head, this.head + k);
        got += k;
        this.head += k;
        if (this.head === b.length) {
          this.bufs.shift();
          this.head = 0;
        }
      }
    }
    if (this.bufs.length > 0 && this.head === this.bufs[0]!.length) {
      this.bufs.shift();
      this.head = 0;
    }
    this.avail -= n;
    this.pos += n;
    return out;
  }
}

/** Where a file's content is read from: right here in the stream, or a range of the payload. */
type ContentSource = { reader: ByteReader } | { payload: PayloadSource; offset: number; length: number };

/** Content segments of one file, with its state kept here so a consumer may stop at any point. */
export class FileBody implements FileContent {
  private total = 0;
  private dataLeft = 0;
  private reader: ByteReader | undefined;
  done = false;
  stale = false;

  constructor(private readonly from: ContentSource, private readonly size: number) {
    if ('reader' in from) this.reader = from.reader;
  }

  /** The payload range is opened on first read, so a file nobody reads costs nothing. */
  private get r(): ByteReader {
    if (!this.reader && 'payload' in this.from) {
      const { payload, offset, length } = this.from;
      this.reader = new ByteReader(payload.read(offset, length)[Symbol.asyncIterator](), offset, 'payload');
    }
    return this.reader!;
  }

  private async next(): Promise<Segment | null> {
    const r = this.r;
    if (this.dataLeft > 0) {
      const data = await r.some(this.dataLeft);
      this.dataLeft -= data.length;
      return { kind: 'data', data };
    }
    if (this.done) return null;
    const at = r.pos;
    const tag = (await r.exact(1))[0];
    if (tag === SEG_END) {
      if (this.total !== this.size) throw corruptAt(r.what, at, `file content is ${this.total} bytes, header says ${this.size}`);
      if ('payload' in this.from) await this.endOfRange(r);
      this.done = true;
      return null;
    }
    if (tag === SEG_DATA) {
      const len = (await r.exact(4)).readUInt32LE(0);
      if (len === 0 || len > MAX_SEGMENT || this.total + len > this.size) throw corruptAt(r.what, at, `data segment of ${len} bytes`);
      this.total += len;
      this.dataLeft = len;
      return this.next();
    }
    if (tag === SEG_HOLE) {
      const len = (await r.exact(8)).readBigUInt64LE(0);
      if (len === 0n || BigInt(this.total) + len > BigInt(this.size)) throw corruptAt(r.what, at, `hole of ${len} bytes`);
      this.total += Number(len);
      return { kind: 'hole', length: Number(len) };
    }
    throw corruptAt(r.what, at, `unknown content segment ${tag}`);
  }

  /** A payload reference must end exactly where the content does: anything else points at the wrong bytes. */
  private async endOfRange(r: ByteReader): Promise<void> {
    const { offset, length } = this.from as { offset: number; length: number };
    if (r.pos !== offset + length || !(await r.atEnd())) {
      throw corruptAt('payload', offset, `reference of ${length} bytes, but the file's content ends after ${r.pos - offset}`);
    }
    await r.close();
  }

  async *segments(): AsyncGenerator<Segment> {
    if (this.stale) throw bulwarkError('BULWARK_INTERNAL', 'file content read after the decoder moved on');
    for (let s = await this.next(); s !== null; s = await this.next()) yield s;
  }

  async *content(): AsyncGenerator<Buffer> {
    for await (const s of this.segments()) {
      if (s.kind === 'data') {
        yield s.data;
      } else {
        for (let left = s.length; left > 0; left -= 1024 * 1024) yield Buffer.alloc(Math.min(left, 1024 * 1024));
      }
    }
  }

  /** Closes the payload range's reader, if one was opened (an inline body shares the stream's: left alone). */
  async release(): Promise<void> {
    if ('payload' in this.from) await this.reader?.close();
  }

  async skip(): Promise<void> {
    if ('payload' in this.from) {
      // Nothing of a payload file lies in the metadata stream: stop reading, do not fetch the rest.
      this.done = true;
      return this.release();
    }
    while (!this.done) {
      if (this.dataLeft > 0) {
        await this.r.discard(this.dataLeft);
        this.dataLeft = 0;
      }
      await this.next();
    }
  }
}
