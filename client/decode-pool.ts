/**
 * Chunk decoding for restores (CRC, AES-GCM, lz4, SHA-256 against the
 * digest: datastore/blob.ts decodeChunk) either on the calling thread or on
 * worker threads, so that a restore's main thread only receives chunks and
 * walks the archive while another core decodes the chunks it asked for
 * ahead. A blob that is all of its message's buffer but the frame header
 * (a chunk reassembled from WebSocket fragments) is moved to the worker as
 * it is; any other is copied into a buffer of its own first. The decoded
 * data comes back moved, not copied, or is written straight into shared
 * memory the caller gives (decodeInto, with a ChunkArena slot).
 */
import type { Worker } from 'node:worker_threads';
import { decodeChunk } from '../datastore/blob.ts';
import type { CryptKey } from '../datastore/crypt-key.ts';
import { bulwarkError } from '../errors.ts';
import { startPoolWorker } from './worker-boot.ts';
import { decodeChunkInto } from './decode-into.ts';
import { type SerializedError, deserializeError } from './worker-error.ts';

export interface ChunkDecoder {
  /** The chunk's data, checked against its digest. */
  decode(blob: Uint8Array, digest: Uint8Array): Promise<Buffer>;
  /**
   * The same, written into `out` from its start: the chunk must decode to
   * exactly `size` bytes (BULWARK_ARCHIVE_CORRUPT otherwise). Resolves to
   * the view of `out` holding it.
   */
  decodeInto(blob: Uint8Array, digest: Uint8Array, out: SharedArrayBuffer, size: number): Promise<Buffer>;
}

/** Decodes on the calling thread. */
export function inlineDecoder(key?: CryptKey): ChunkDecoder {
  const opts = key ? { key } : {};
  return {
    decode: async (blob, digest) => decodeChunk(blob, digest, opts),
    decodeInto: async (blob, digest, out, size) => Buffer.from(out, 0, decodeChunkInto(blob, digest, out, size, key)),
  };
}

/** Blobs at least this big may be moved to a worker without a copy (see movable). */
const MOVE_MIN = 1024 * 1024;
/** At most this much may precede the blob in its buffer (the message's header). */
const MOVE_MAX_HEAD = 256;

/**
 * The blob and what to transfer with it. A blob in shared memory (a
 * message read into an arena slot, direct-websocket.ts) is read by the
 * worker where it is. A big blob that ends its buffer,
 * after no more than a message header, is the whole of a message the
 * WebSocket reassembled into a buffer of its own (socket reads are far
 * smaller than MOVE_MIN), so nothing else can still be looking at that
 * buffer: it is moved. Anything else is copied into a buffer of its own.
 */
function movable(blob: Uint8Array): { view: Uint8Array; transfer?: ArrayBuffer } {
  const buf = blob.buffer;
  if (buf instanceof SharedArrayBuffer) return { view: blob };
  if (buf instanceof ArrayBuffer && blob.byteLength >= MOVE_MIN && blob.byteOffset <= MOVE_MAX_HEAD && blob.byteOffset + blob.byteLength === buf.byteLength) {
    return { view: blob, transfer: buf };
  }
  const own = new Uint8Array(blob);
  return { view: own, transfer: own.buffer };
}

interface Reply {
  id: number;
  data?: Uint8Array;
  /** Set instead of data when the chunk went into shared memory. */
  length?: number;
  error?: SerializedError;
}

interface Slot {
  readonly worker: Worker;
  inFlight: number;
}

const WORKER_URL = new URL('./decode-worker.ts', import.meta.url);

export class DecodePool implements ChunkDecoder {
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, { slot: Slot; out?: SharedArrayBuffer; resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #failed: Error | undefined;
  #closed = false;

  constructor(threads: number, key?: CryptKey) {
    if (!Number.isInteger(threads) || threads < 1) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'decode threads', threads);
    // An exact copy of the key: a Buffer view would carry its whole pool slab across.
    const workerData = key ? { key: new Uint8Array(key.key) } : {};
    for (let i = 0; i < threads; i++) {
      const slot: Slot = {
        worker: startPoolWorker<Reply>(WORKER_URL, 'chunk decode worker', {
          workerData,
          onMessage: (m) => this.#settle(slot, m),
          onFailure: (err) => this.#fail(err),
          closing: () => this.#closed,
        }),
        inFlight: 0,
      };
      this.#slots.push(slot);
    }
  }

  decode(blob: Uint8Array, digest: Uint8Array): Promise<Buffer> {
    return this.#send(blob, digest);
  }

  decodeInto(blob: Uint8Array, digest: Uint8Array, out: SharedArrayBuffer, size: number): Promise<Buffer> {
    return this.#send(blob, digest, out, size);
  }

  #send(blob: Uint8Array, digest: Uint8Array, out?: SharedArrayBuffer, size?: number): Promise<Buffer> {
    if (this.#closed) return Promise.reject(bulwarkError('BULWARK_INTERNAL', 'chunk decode pool is closed'));
    if (this.#failed) return Promise.reject(this.#failed);
    const slot = this.#slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const id = this.#nextId++;
    const { view, transfer } = movable(blob);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { slot, ...(out && { out }), resolve, reject });
      if (slot.inFlight++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, blob: view, digest: new Uint8Array(digest), ...(out && { out, size }) }, transfer ? [transfer] : []);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #settle(slot: Slot, m: Reply): void {
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if (--slot.inFlight === 0) slot.worker.unref();
    if (m.error) p.reject(deserializeError(m.error));
    else if (p.out) p.resolve(Buffer.from(p.out, 0, m.length!));
    else p.resolve(Buffer.from(m.data!.buffer, m.data!.byteOffset, m.data!.byteLength));
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    for (const slot of this.#slots) {
      slot.inFlight = 0;
      slot.worker.unref();
    }
  }
}
