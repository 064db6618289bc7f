/**
 * A small pool of worker threads that digest and encode chunks, so that
 * SHA-256, lz4 and AES-GCM run on another core while the main thread reads
 * and chunks. Results come back per request; callers keep their own order.
 */
import { Worker } from 'node:worker_threads';
import type { CryptKey } from '../datastore/crypt-key.ts';

export interface EncodedChunk {
  readonly digest: Buffer;
  readonly blob: Buffer;
}

interface Waiter {
  resolve(v: EncodedChunk): void;
  reject(e: Error): void;
}

const WORKER_URL = new URL('./encode-worker.ts', import.meta.url).href;
const TSX_API = import.meta.resolve('tsx/esm/api');
// Workers do not inherit `--import tsx`: register the TypeScript loader in the worker, then load its body.
const BOOT = `import(${JSON.stringify(TSX_API)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL)}); })`;

export class EncodePool {
  readonly #workers: Worker[] = [];
  readonly #waiting = new Map<number, Waiter>();
  #next = 0;
  #failed: Error | undefined;

  constructor(size: number, key?: CryptKey) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(BOOT, { eval: true, workerData: key ? { key: key.key } : {} });
      w.on('message', (m: { id: number; digest: Uint8Array; blob: Uint8Array }) => {
        const waiter = this.#waiting.get(m.id);
        this.#waiting.delete(m.id);
        waiter?.resolve({ digest: Buffer.from(m.digest), blob: Buffer.from(m.blob.buffer, m.blob.byteOffset, m.blob.byteLength) });
      });
      w.on('error', (err) => this.#fail(err));
      w.unref();
      this.#workers.push(w);
    }
  }

  #fail(err: Error): void {
    this.#failed = err;
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
  }

  encode(data: Buffer, compress: boolean): Promise<EncodedChunk> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    const worker = this.#workers[id % this.#workers.length]!;
    // An exact-size copy whose buffer moves to the worker: a chunk may be a
    // view into a larger read buffer, which structured cloning would copy whole.
    const copy = new Uint8Array(data);
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage({ id, data: copy, compress }, [copy.buffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
