/**
 * Freed buffers kept for reuse, up to a total size: a buffer taken again is
 * memory already paged in, where a new one would fault every page in anew
 * (and, on the V8 heap's books, count as fresh external memory). Used by
 * the server's chunk read buffers (read-buffer-pool.ts) and the client's
 * restore arena (client/chunk-arena.ts).
 */
/**
 * The size to allocate for `size` bytes: whole steps of `grain` (at least
 * one), so a freed buffer fits the requests of similar size that follow.
 */
export function grainSize(size: number, grain: number): number {
  return Math.max(grain, Math.ceil(size / grain) * grain);
}

export class BufferFreeList<B extends { readonly byteLength: number }> {
  readonly #free: B[] = [];
  #bytes = 0;

  /** `keep`: bytes of free buffers kept at most. */
  constructor(private readonly keep: number) {}

  /** The smallest kept buffer of at least `size` bytes, no longer kept; undefined if none fits. */
  take(size: number): B | undefined {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const len = this.#free[i]!.byteLength;
      if (len >= size && (best < 0 || len < this.#free[best]!.byteLength)) best = i;
    }
    if (best < 0) return undefined;
    const b = this.#free.splice(best, 1)[0]!;
    this.#bytes -= b.byteLength;
    return b;
  }

  /** Keeps `b` for reuse, unless that would pass the limit (it is then left to the garbage collector). */
  put(b: B): void {
    if (this.#bytes + b.byteLength > this.keep) return;
    this.#free.push(b);
    this.#bytes += b.byteLength;
  }
}
