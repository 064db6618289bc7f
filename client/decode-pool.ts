/**
 * Chunk decoding for restores (CRC, AES-GCM, lz4, SHA-256 against the
 * digest: datastore/blob.ts decodeChunk) either on the calling thread or on
 * worker threads, so that a restore's main thread only receives chunks and
 * walks the archive while another core decodes the chunks it asked for
 * ahead. A blob is copied once into a buffer of its own (it usually is a
 * view into a WebSocket frame) and moved to a worker; the decoded data
 * comes back moved, not copied.
 */
import type { Worker } from 'node:worker_threads';
import { decodeChunk } from '../datastore/blob.ts';
import type { CryptKey } from '../datastore/crypt-key.ts';
import { bulwarkError } from '../errors.ts';
import { startPoolWorker } from './worker-boot.ts';
import { type SerializedError, deserializeError } from './worker-error.ts';

export interface ChunkDecoder {
  /** The chunk's data, checked against its digest. */
  decode(blob: Uint8Array, digest: Uint8Array): Promise<Buffer>;
}

/** Decodes on the calling thread. */
export function inlineDecoder(key?: CryptKey): ChunkDecoder {
  const opts = key ? { key } : {};
  return { decode: async (blob, digest) => decodeChunk(blob, digest, opts) };
}

interface Reply {
  id: number;
  data?: Uint8Array;
  error?: SerializedError;
}

interface Slot {
  readonly worker: Worker;
  inFlight: number;
}

const WORKER_URL = new URL('./decode-worker.ts', import.meta.url);

export class DecodePool implements ChunkDecoder {
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, { slot: Slot; resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
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
    if (this.#closed) return Promise.reject(bulwarkError('BULWARK_INTERNAL', 'chunk decode pool is closed'));
    if (this.#failed) return Promise.reject(this.#failed);
    const slot = this.#slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const id = this.#nextId++;
    const own = new Uint8Array(blob);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { slot, resolve, reject });
      if (slot.inFlight++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, blob: own, digest: new Uint8Array(digest) }, [own.buffer]);
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
