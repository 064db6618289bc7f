/**
 * Shared memory for a restore's decoded chunks, so that a chunk's bytes go
 * from the decoder to the file without another copy: a decode worker
 * writes the chunk into a slot (a SharedArrayBuffer), the extractor's
 * thread parses it in place, and write batches refer to ranges of it
 * (write-batch.ts OP_REF) that a write worker hands straight to write(2).
 *
 * A slot is counted: one reference for whoever holds the decoded chunk (the
 * payload source's cache), one per write batch that refers to it. At zero
 * it is free and may be filled again; freed slots are kept (up to a total
 * size) so a restore reuses the same pages instead of faulting fresh ones
 * in for every chunk. A reference never dropped (a worker that died with
 * a batch) only means that slot is not reused: nothing is ever overwritten
 * while something may still read it.
 */
import { BufferFreeList, grainSize } from '../datastore/buffer-free-list.ts';
import { bulwarkError } from '../errors.ts';

export interface ArenaSlot {
  readonly sab: SharedArrayBuffer;
  refs: number;
}

/** Slots are sized in these steps, so a freed slot fits the chunks of similar size that follow. */
const GRAIN = 1024 * 1024;
/** Freed slots kept for reuse, in bytes. */
const DEFAULT_KEEP = 192 * 1024 * 1024;

export class ChunkArena {
  readonly #bySab = new WeakMap<SharedArrayBuffer, ArenaSlot>();
  readonly #free: BufferFreeList<SharedArrayBuffer>;

  constructor(keep = DEFAULT_KEEP) {
    this.#free = new BufferFreeList(keep);
  }

  /** A slot of at least `size` bytes, held once by the caller. */
  acquire(size: number): ArenaSlot {
    const reused = this.#free.take(size);
    if (reused) {
      const slot = this.#bySab.get(reused)!;
      slot.refs = 1;
      return slot;
    }
    const slot: ArenaSlot = { sab: new SharedArrayBuffer(grainSize(size, GRAIN)), refs: 1 };
    this.#bySab.set(slot.sab, slot);
    return slot;
  }

  /** The slot whose memory `view` lies in, if it is one of this arena's and in use. */
  slotOf(view: Uint8Array): ArenaSlot | undefined {
    const buf = view.buffer;
    if (!(buf instanceof SharedArrayBuffer)) return undefined;
    const slot = this.#bySab.get(buf);
    return slot !== undefined && slot.refs > 0 ? slot : undefined;
  }

  retain(slot: ArenaSlot): void {
    if (slot.refs <= 0) throw bulwarkError('BULWARK_INTERNAL', 'chunk arena slot retained after it was freed');
    slot.refs++;
  }

  release(slot: ArenaSlot): void {
    if (slot.refs <= 0) throw bulwarkError('BULWARK_INTERNAL', 'chunk arena slot released more often than held');
    if (--slot.refs === 0) this.#free.put(slot.sab);
  }
}
