/**
 * A small pool of worker threads that digest and encode chunks, so that
 * SHA-256, lz4 and AES-GCM run on another core while the main thread reads
 * and chunks. Results come back per request; callers keep their own order.
 */
import type { Worker } from 'node:worker_threads';
import type { CryptKey } from '../datastore/crypt-key.ts';
import { startPoolWorker } from './worker-boot.ts';

export interface EncodedChunk {
  readonly digest: Buffer;
  readonly blob: Buffer;
}

interface Waiter {
  resolve(v: EncodedChunk): void;
  reject(e: Error): void;
}

const WORKER = new URL('./encode-worker.ts', import.meta.url);

export class EncodePool {
  readonly #workers: Worker[] = [];
  readonly #waiting = new Map<number, Waiter>();
  #next = 0;
  #failed: Error | undefined;
  #closing = false;

  constructor(size: number, key?: CryptKey) {
    for (let i = 0; i < size; i++) {
      this.#workers.push(startPoolWorker<{ id: number; digest: Uint8Array; blob: Uint8Array }>(WORKER, 'the chunk encoder', {
        workerData: key ? { key: key.key } : {},
        onMessage: (m) => {
          const waiter = this.#waiting.get(m.id);
          this.#waiting.delete(m.id);
          waiter?.resolve({ digest: Buffer.from(m.digest), blob: Buffer.from(m.blob.buffer, m.blob.byteOffset, m.blob.byteLength) });
        },
        onFailure: (err) => this.#fail(err),
        closing: () => this.#closing,
      }));
    }
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
  }

  /**
   * Digests and encodes `data` in a worker. `data` is handed over: when it
   * is the whole of its ArrayBuffer that buffer moves to the worker (and is
   * detached here), so the caller must not use it afterwards.
   */
  encode(data: Buffer, compress: boolean): Promise<EncodedChunk> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    const worker = this.#workers[id % this.#workers.length]!;
    // A chunk that owns its buffer (most do: chunks spanning read buffers
    // are joined into a new one) moves as it is; a view into a larger buffer
    // is copied to exact size first, since structured cloning would copy
    // the whole buffer.
    const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
    const moved = whole ? data : new Uint8Array(data);
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage({ id, data: moved, compress }, [moved.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
