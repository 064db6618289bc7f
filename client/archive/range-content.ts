/**
 * Reads one regular file's content (`segment* ‖ 'E'`, file-content.ts) from
 * its range of a split archive's payload, for the restore loop: the same
 * checks as FileBody (segment lengths, sizes adding up, the 'E' ending the
 * range exactly, nothing read past it), but parsed in place, synchronously
 * while the bytes are at hand: from the decoded chunks of a ChunkedPayload,
 * or else from the pieces PayloadSource.read yields. A restore walks tens of thousands of small files; going through
 * FileBody's stacked async generators and ByteReader costs each of them
 * several promise hops and a few kilobytes of garbage, which is most of
 * the restore loop's time.
 */
import { MAX_SEGMENT, SEG_DATA, SEG_END, SEG_HOLE } from './format.ts';
import { corruptAt } from './file-content.ts';
import type { PayloadSource } from './payload.ts';

/** A decoded chunk of the payload and the payload offset it starts at. */
export interface PayloadChunk {
  readonly start: number;
  readonly data: Buffer;
}

/**
 * A payload source that hands out its decoded chunks directly
 * (RemotePayloadSource): a file inside a chunk already at hand is then read
 * without a generator or a promise.
 */
export interface ChunkedPayload extends PayloadSource {
  /** The chunk holding payload byte `offset` (BULWARK_ARCHIVE_CORRUPT outside the payload); not a promise once it is decoded. */
  chunkAt(offset: number): PayloadChunk | Promise<PayloadChunk>;
}

const isChunked = (p: PayloadSource): p is ChunkedPayload => typeof (p as Partial<ChunkedPayload>).chunkAt === 'function';

/** Where the content goes: data at a position of the file (holes are simply not written). */
export interface ContentSink {
  /** `data` is only valid during the call. Returns a promise when the caller must wait before going on. */
  data(pos: number, data: Buffer): void | Promise<void>;
}

const EMPTY = Buffer.alloc(0);

/** Reads the content at [offset, offset + length) of `payload` (a file of `size` bytes) into `sink`. */
export async function readRangeContent(payload: PayloadSource, offset: number, length: number, size: number, sink: ContentSink): Promise<void> {
  const r = new RangeReader(payload, offset, offset + length);
  try {
    let total = 0;
    const first = r.first();
    if (first) await first;
    for (;;) {
      const start = r.pos;
      const tag = r.byte() ?? (await r.headSlow(1))[0]!;
      if (tag === SEG_END) {
        if (total !== size) throw corruptAt('payload', start, `file content is ${total} bytes, header says ${size}`);
        if (r.pos !== r.end) throw corruptAt('payload', offset, `reference of ${length} bytes, but the file's content ends after ${r.pos - offset}`);
        return;
      }
      if (tag === SEG_DATA) {
        const len = (r.head(4) ?? (await r.headSlow(4))).readUInt32LE(0);
        if (len === 0 || len > MAX_SEGMENT || total + len > size) throw corruptAt('payload', start, `data segment of ${len} bytes`);
        if (r.pos + len > r.end) throw corruptAt('payload', r.pos, 'truncated inside file content');
        for (let done = 0; done < len; ) {
          const data = r.some(len - done) ?? (await r.someSlow(len - done));
          const wait = sink.data(total + done, data);
          done += data.length;
          if (wait) await wait;
        }
        total += len;
      } else if (tag === SEG_HOLE) {
        const len = (r.head(8) ?? (await r.headSlow(8))).readBigUInt64LE(0);
        if (len === 0n || BigInt(total) + len > BigInt(size)) throw corruptAt('payload', start, `hole of ${len} bytes`);
        total += Number(len);
      } else {
        throw corruptAt('payload', start, `unknown content segment ${tag}`);
      }
    }
  } finally {
    await r.close();
  }
}

/**
 * Bytes of one payload range, out of the source's chunks (or the pieces
 * read() yields); the sync methods answer undefined when the current piece
 * runs out.
 */
class RangeReader {
  private piece: Buffer = EMPTY;
  private at = 0;
  private scratch: Buffer | undefined;
  private readonly chunked: ChunkedPayload | undefined;
  private it: AsyncIterator<Buffer> | undefined;

  /** `pos`: payload offset of the next unread byte. */
  constructor(private readonly payload: PayloadSource, public pos: number, readonly end: number) {
    if (isChunked(payload)) this.chunked = payload;
  }

  /** Loads the first piece (a range is never empty: it holds at least the 'E'); a promise only when it must wait. */
  first(): Promise<void> | undefined {
    if (this.pos >= this.end) return undefined;
    const c = this.chunked?.chunkAt(this.pos);
    if (c === undefined || c instanceof Promise) return this.next();
    this.take(c);
    return undefined;
  }

  byte(): number | undefined {
    if (this.at === this.piece.length) return undefined;
    this.pos++;
    return this.piece[this.at++];
  }

  head(n: number): Buffer | undefined {
    if (this.piece.length - this.at < n) return undefined;
    this.at += n;
    this.pos += n;
    return this.piece.subarray(this.at - n, this.at);
  }

  /** `n` header bytes gathered across pieces (into a scratch buffer, valid until the next call). */
  async headSlow(n: number): Promise<Buffer> {
    if (this.pos + n > this.end) throw corruptAt('payload', this.pos, `truncated: needed ${n} more bytes`);
    const scratch = (this.scratch ??= Buffer.allocUnsafe(8));
    for (let got = 0; got < n; ) {
      if (this.at === this.piece.length) await this.next();
      const k = Math.min(n - got, this.piece.length - this.at);
      this.piece.copy(scratch, got, this.at, this.at + k);
      got += k;
      this.at += k;
      this.pos += k;
    }
    return scratch.subarray(0, n);
  }

  /** 1..max bytes, without copying. */
  some(max: number): Buffer | undefined {
    if (this.at === this.piece.length) return undefined;
    const n = Math.min(max, this.piece.length - this.at);
    this.at += n;
    this.pos += n;
    return this.piece.subarray(this.at - n, this.at);
  }

  async someSlow(max: number): Promise<Buffer> {
    await this.next();
    return this.some(max)!;
  }

  async close(): Promise<void> {
    await this.it?.return?.();
  }

  private async next(): Promise<void> {
    if (this.pos >= this.end) throw corruptAt('payload', this.pos, 'truncated inside file content');
    if (this.chunked) {
      this.take(await this.chunked.chunkAt(this.pos));
      return;
    }
    this.it ??= this.payload.read(this.pos, this.end - this.pos)[Symbol.asyncIterator]();
    const r = await this.it.next();
    if (r.done || r.value.length === 0) throw corruptAt('payload', this.pos, 'truncated inside file content');
    this.piece = r.value;
    this.at = 0;
  }

  /** The part of chunk `c` from `pos` to the end of the range. */
  private take(c: PayloadChunk): void {
    this.piece = c.data.subarray(this.pos - c.start, Math.min(c.data.length, this.end - c.start));
    this.at = 0;
  }
}
