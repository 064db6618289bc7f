/**
 * The payload stream of a split archive (PBS's .ppxar beside the .mpxar):
 * every regular file's content, `segment* ‖ 'E'` exactly as in a single
 * stream (format.ts), one file after the other, nothing else: no magic, no
 * per-file header. The metadata stream's FILE_REF records point into it by
 * (payloadOffset, payloadLength), and the decoder checks that the bytes
 * there parse to exactly the file's size and end exactly at the reference's
 * end.
 *
 * PayloadWriter sits between the encoder and the uploader. The encoder
 * either writes content bytes, which the uploader's content-defined chunker
 * cuts, or, for a file unchanged since the previous backup, asks to REUSE
 * the previous payload's chunks covering that file's previous range: those
 * whole chunks are appended as they are (the uploader cuts its chunker
 * before them) and the file's new offset is the old one shifted by where
 * the chunks landed. Consecutive unchanged files usually share chunks, so
 * every previous chunk appended is remembered with its run (a stretch of
 * previous chunks appended back to back): a range starting inside the last
 * run adds only the chunks after it, and a range lying wholly inside an
 * earlier run is mapped there (a file's content may then come before the
 * content of the file preceding it; references do not care). Bytes of
 * reused chunks that belong to no reused file (a changed or deleted
 * neighbour's old content) are padding: counted in `stats.paddingBytes`,
 * never referenced.
 */
import type { IndexReader } from '../../datastore/index-file.ts';
import { bulwarkError } from '../../errors.ts';

export interface PayloadChunkRef {
  readonly digest: Buffer;
  readonly size: number;
}

export type PayloadItem =
  /** Bytes for the consumer's content-defined chunker. */
  | { readonly kind: 'data'; readonly data: Buffer }
  /** Whole chunks of the previous payload, appended as they are; the consumer cuts its chunker before them. */
  | { readonly kind: 'chunks'; readonly chunks: readonly PayloadChunkRef[] };

/** Random access to a payload stream, for restores (the restore side implements it over a chunk index). */
export interface PayloadSource {
  /** The bytes [offset, offset + length), in pieces of any size. */
  read(offset: number, length: number): AsyncIterable<Buffer>;
}

export interface PayloadWriterOptions {
  /** Index of the previous backup's payload stream, the source of reused chunks. */
  previous?: IndexReader;
  /** Data bytes queued before write() waits for the consumer (default 32 MiB). */
  highWaterMark?: number;
}

export interface PayloadStats {
  readonly reusedChunks: number;
  readonly reusedBytes: number;
  /** Reused bytes that belong to no reused file. */
  readonly paddingBytes: number;
}

/** A run of reused chunks: previous chunks [first, last] = previous bytes [prevStart, prevEnd), placed at newStart. */
interface Run {
  first: number;
  last: number;
  prevStart: number;
  prevEnd: number;
  newStart: number;
  /** Previous-stream ranges of the run that reused files cover, sorted and disjoint. */
  covered: [number, number][];
}

const internal = (why: string) => bulwarkError('BULWARK_INTERNAL', `payload writer: ${why}`);

export class PayloadWriter {
  private readonly counts = { reusedChunks: 0, reusedBytes: 0, paddingBytes: 0 };
  private readonly previous: IndexReader | undefined;
  private readonly highWaterMark: number;
  private queue: (PayloadItem | undefined)[] = [];
  private head = 0;
  private queuedBytes = 0;
  private pos = 0;
  private ended = false;
  private consumer: 'none' | 'reading' | 'gone' = 'none';
  /** The last run, the only one that can grow. */
  private run: Run | undefined;
  /** Previous chunk index → the latest run holding it. */
  private readonly runOf = new Map<number, Run>();
  private wake: (() => void) | undefined;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(opts: PayloadWriterOptions = {}) {
    this.previous = opts.previous;
    this.highWaterMark = opts.highWaterMark ?? 32 * 1024 * 1024;
  }

  get stats(): PayloadStats {
    return this.counts;
  }

  /** Bytes of payload produced so far (data written plus reused chunks). */
  get position(): number {
    return this.pos;
  }

  /** Whether reuse() has a previous payload to take chunks from. */
  get hasPrevious(): boolean {
    return this.previous !== undefined;
  }

  /**
   * Queues `data` (which then belongs to the writer: do not modify it).
   * Resolves at once while the queue is below the high-water mark, else once
   * the consumer has taken enough; rejects if the consumer stopped reading.
   */
  write(data: Buffer): Promise<void> {
    if (this.ended) throw internal('write() after end()');
    if (this.consumer === 'gone') return Promise.reject(internal('the consumer stopped reading'));
    if (data.length === 0) return Promise.resolve();
    this.push({ kind: 'data', data });
    this.pos += data.length;
    this.queuedBytes += data.length;
    if (this.queuedBytes < this.highWaterMark) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /**
   * Maps [prevStart, prevEnd) of the previous payload into this one and
   * returns the new offset of prevStart. Appends the previous chunks that
   * cover the range, except those already appended in one run with it: a
   * range inside an earlier run maps there (nothing appended), one that
   * starts inside or right after the last run, with nothing written since,
   * extends it.
   */
  reuse(prevStart: number, prevEnd: number): number {
    if (this.ended) throw internal('reuse() after end()');
    if (this.consumer === 'gone') throw internal('the consumer stopped reading');
    const prev = this.previous;
    if (!prev) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'payload reuse', 'there is no previous payload');
    const total = prev.totalSize();
    if (!Number.isSafeInteger(prevStart) || !Number.isSafeInteger(prevEnd) || prevStart < 0 || prevEnd <= prevStart || prevEnd > total) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'payload reuse', `range [${prevStart}, ${prevEnd}) is outside the previous payload of ${total} bytes`);
    }
    const first = prev.chunkFromOffset(prevStart)!.index;
    const last = prev.chunkFromOffset(prevEnd - 1)!.index;
    let run = this.runOf.get(first);
    if (!run || run.last < last) {
      run = this.run;
      const extendable = run && this.pos === run.newStart + (run.prevEnd - run.prevStart) && first >= run.first && first <= run.last + 1;
      if (run && extendable) {
        this.append(run, run.last + 1, last);
      } else {
        // Data was written since, or the range lies elsewhere: a new run (its chunks may have come before).
        const at = prev.chunkRange(first).start;
        run = { first, last: first - 1, prevStart: at, prevEnd: at, newStart: this.pos, covered: [] };
        this.run = run;
        this.append(run, first, last);
      }
    }
    this.cover(run, prevStart, prevEnd);
    return run.newStart + (prevStart - run.prevStart);
  }

  /** No more writes or reuses; the consumer sees the end once it has taken everything. Idempotent. */
  end(): void {
    this.ended = true;
    this.wakeConsumer();
  }

  /** The items in order; for a single consumer, which should read until the end. */
  items(): AsyncIterable<PayloadItem> {
    if (this.consumer !== 'none') throw internal('items() has a single consumer');
    this.consumer = 'reading';
    return this.drain();
  }

  private async *drain(): AsyncGenerator<PayloadItem> {
    try {
      for (;;) {
        if (this.head < this.queue.length) {
          const item = this.queue[this.head]!;
          this.queue[this.head++] = undefined;
          if (this.head > 1024 && this.head * 2 > this.queue.length) {
            this.queue = this.queue.slice(this.head);
            this.head = 0;
          }
          if (item.kind === 'data') {
            this.queuedBytes -= item.data.length;
            if (this.queuedBytes < this.highWaterMark) this.release();
          }
          yield item;
        } else if (this.ended) {
          return;
        } else {
          await new Promise<void>((resolve) => (this.wake = resolve));
        }
      }
    } finally {
      this.consumer = 'gone';
      this.queue = [];
      this.head = 0;
      this.queuedBytes = 0;
      const waiting = this.waiters;
      this.waiters = [];
      if (!this.ended) for (const w of waiting) w.reject(internal('the consumer stopped reading'));
      else for (const w of waiting) w.resolve();
    }
  }

  /** Appends previous chunks [first, last] to `run`, which ends where the stream does. */
  private append(run: Run, first: number, last: number): void {
    const prev = this.previous!;
    const chunks: PayloadChunkRef[] = [];
    for (let i = first; i <= last; i++) {
      const { start, end } = prev.chunkRange(i);
      chunks.push({ digest: prev.digest(i), size: end - start });
      this.runOf.set(i, run);
      run.last = i;
      run.prevEnd = end;
      this.pos += end - start;
      this.counts.reusedChunks++;
      this.counts.reusedBytes += end - start;
      this.counts.paddingBytes += end - start; // until a reused file covers them
    }
    if (chunks.length > 0) this.push({ kind: 'chunks', chunks });
  }

  /** Marks [start, end) of the run as belonging to a reused file, taking newly covered bytes off the padding. */
  private cover(run: Run, start: number, end: number): void {
    const c = run.covered;
    // Files come in archive order, so the new range almost always extends the last one.
    let i = c.length;
    while (i > 0 && c[i - 1]![0] > start) i--;
    let s = start;
    let e = end;
    let removed = 0;
    if (i > 0 && c[i - 1]![1] >= start) {
      i--;
      s = c[i]![0];
      e = Math.max(e, c[i]![1]);
    }
    let j = i;
    while (j < c.length && c[j]![0] <= e) {
      e = Math.max(e, c[j]![1]);
      removed += c[j]![1] - c[j]![0];
      j++;
    }
    c.splice(i, j - i, [s, e]);
    this.counts.paddingBytes -= e - s - removed;
  }

  private push(item: PayloadItem): void {
    if (this.consumer === 'gone') throw internal('the consumer stopped reading');
    this.queue.push(item);
    this.wakeConsumer();
  }

  private wakeConsumer(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private release(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w.resolve();
  }
}

/** A PayloadSource over bytes in memory (tests, tools); `pieceSize` splits what read() yields. */
export function memoryPayloadSource(buf: Buffer, opts: { pieceSize?: number } = {}): PayloadSource {
  const piece = opts.pieceSize ?? 1024 * 1024;
  return {
    async *read(offset: number, length: number): AsyncIterable<Buffer> {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > buf.length) {
        throw bulwarkError('BULWARK_ARCHIVE_CORRUPT', 'payload', `range ${offset}+${length} is outside the payload of ${buf.length} bytes`);
      }
      for (let at = offset; at < offset + length; at += piece) yield buf.subarray(at, Math.min(at + piece, offset + length));
    },
  };
}
