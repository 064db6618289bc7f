/**
 * Buffers that chunks are read into for a reader session's replies, reused
 * from one reply to the next. A restore streams hundreds of megabytes of
 * chunks; reading each into a fresh buffer makes V8 count that much new
 * external memory, and it answers with a full mark-compact of the heap
 * every few dozen megabytes (measured: more CPU than the reads themselves). Here a chunk
 * is read into a buffer taken from the pool, and the port gives it back
 * once the reply is on the socket (uWS copies what it cannot send at once,
 * so nothing refers to it afterwards).
 *
 * Each buffer keeps HEADROOM bytes in front of the chunk, where the port
 * writes the reply's frame header (withHead): header and chunk then go out
 * as one WebSocket frame without being copied together, and the client
 * receives a single-fragment message (no reassembly copy either).
 *
 * A buffer is handed out to one reply at a time: it returns only through
 * give(), once, and a reply that is never sent (its session ended first)
 * just leaves its buffer to the garbage collector.
 */
import { BufferFreeList, grainSize } from './buffer-free-list.ts';

const GRAIN = 256 * 1024;
/** Bytes kept free in front of a chunk for the frame header (a chunk reply's is about 20). */
export const HEADROOM = 64;

export class ReadBufferPool {
  /** Every buffer this pool made, and whether it is out (taken, not yet given back). */
  readonly #out = new WeakMap<ArrayBuffer, boolean>();
  readonly #free: BufferFreeList<ArrayBuffer>;

  /** `keep`: bytes of free buffers kept for reuse; more are dropped. */
  constructor(keep = 64 * 1024 * 1024) {
    this.#free = new BufferFreeList(keep);
  }

  /** A buffer of exactly `size` bytes (a view of a pooled one, HEADROOM bytes into it). */
  take(size: number): Buffer {
    const need = size + HEADROOM;
    const ab = this.#free.take(need) ?? new ArrayBuffer(grainSize(need, GRAIN));
    this.#out.set(ab, true);
    return Buffer.from(ab, HEADROOM, size);
  }

  /**
   * `head` ‖ `view` as one buffer, `head` written into the room in front of
   * `view`; undefined when `view` is not a buffer of this pool still out,
   * or the head does not fit.
   */
  withHead(view: Uint8Array, head: Uint8Array): Buffer | undefined {
    const ab = view.buffer;
    if (!(ab instanceof ArrayBuffer) || this.#out.get(ab) !== true || head.length > view.byteOffset) return undefined;
    const start = view.byteOffset - head.length;
    const whole = Buffer.from(ab, start, head.length + view.length);
    whole.set(head, 0);
    return whole;
  }

  /** `view` has been sent: its buffer may be reused. Anything not taken from this pool is ignored. */
  give(view: Uint8Array): void {
    const ab = view.buffer;
    if (!(ab instanceof ArrayBuffer) || this.#out.get(ab) !== true) return;
    this.#out.set(ab, false);
    this.#free.put(ab);
  }
}

/**
 * The process's pool for reader-session chunk replies: the reader actor
 * reads into it, the WebSocket port (transport/ws-port.ts) gives back.
 */
export const replyBuffers = new ReadBufferPool();
