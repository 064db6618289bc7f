/**
 * VerifyPool: worker threads that read and check chunks for verify
 * (verify-worker.ts has the per-chunk work). One worker per core
 * (os.availableParallelism()), each kept `depth` requests deep so it never
 * waits for a round trip between chunks; requests beyond that wait here in
 * FIFO order. Only 64-hex digests go out and small verdicts come back.
 *
 * Workers are referenced only while requests are in flight, so an idle pool
 * never keeps the process alive; close() ends them.
 *
 * The workers read `<store>/.chunks` directly: verify is tied to the
 * filesystem chunk layout (fs-chunk-backend.ts).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { bulwarkError, type ErrorCode } from '../errors.ts';
import { isDigestHex } from './digest.ts';
import { CHUNK_DIR_NAME } from './fs-chunk-backend.ts';

/** What a worker found for one chunk. */
export type ChunkCheck =
  /** `size` is the encoded size read; `rawSize` the decoded size (unencrypted only: encrypted ones get a CRC check). */
  | { readonly status: 'ok'; readonly encrypted: boolean; readonly size: number; readonly rawSize?: number }
  | { readonly status: 'missing' }
  /** The bytes are provably wrong (magic, CRC, length, lz4, digest): the chunk is moved aside. */
  | { readonly status: 'corrupt'; readonly code: ErrorCode; readonly message: string; readonly size: number }
  /** The chunk could not be read (I/O error): counted as failed but left in place. */
  | { readonly status: 'error'; readonly code: ErrorCode; readonly message: string };

/** The narrow view verify.ts needs; tests wrap it to count reads. */
export interface ChunkVerifier {
  /** Read and check the chunk named by `digest` (64 lowercase hex). */
  check(digest: string): Promise<ChunkCheck>;
  /** Requests worth keeping in flight. */
  readonly capacity: number;
}

/** Messages between the pool and its workers. */
export interface WorkerRequest {
  readonly id: number;
  readonly digest: string;
}
export interface WorkerReply {
  readonly id: number;
  readonly verdict: ChunkCheck;
}

export interface VerifyPoolOptions {
  /** Default os.availableParallelism(). */
  readonly threads?: number;
  /** Requests queued per worker (default 4), so it always has the next one at hand. */
  readonly depth?: number;
}

interface Slot {
  readonly worker: Worker;
  inFlight: number;
}

interface Callbacks {
  resolve(v: ChunkCheck): void;
  reject(e: Error): void;
}

interface Queued extends Callbacks {
  readonly req: WorkerRequest;
}

const WORKER_URL = new URL('./verify-worker.ts', import.meta.url).href;

/**
 * Workers do not inherit `--import tsx`: when tsx is installed, register its
 * loader inside the worker first, then load the body (as client/encode-pool.ts).
 */
function bootSource(): string {
  let tsxApi: string | undefined;
  try {
    tsxApi = import.meta.resolve('tsx/esm/api');
  } catch {
    tsxApi = undefined; // compiled deployment: the worker file loads as is
  }
  const body = `import(${JSON.stringify(WORKER_URL)})`;
  return tsxApi === undefined ? body : `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return ${body}; })`;
}

export class VerifyPool implements ChunkVerifier {
  readonly capacity: number;
  readonly #depth: number;
  readonly #slots: Slot[] = [];
  /** Requests at a worker, by id. */
  readonly #pending = new Map<number, Callbacks & { readonly slot: Slot }>();
  /** Requests waiting for a worker with room. */
  readonly #queue: Queued[] = [];
  #nextId = 0;
  #requests = 0;
  #failed: Error | undefined;
  #closed = false;

  /** `storePath` is the datastore directory. */
  constructor(storePath: string, opts: VerifyPoolOptions = {}) {
    const threads = opts.threads ?? availableParallelism();
    this.#depth = opts.depth ?? 4;
    if (!Number.isInteger(threads) || threads < 1) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'threads', threads);
    if (!Number.isInteger(this.#depth) || this.#depth < 1) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'depth', this.#depth);
    this.capacity = threads * this.#depth;
    const boot = bootSource();
    const chunkDir = join(storePath, CHUNK_DIR_NAME);
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(boot, { eval: true, workerData: { chunkDir } });
      const slot: Slot = { worker, inFlight: 0 };
      worker.on('message', (m: WorkerReply) => this.#settle(slot, m));
      worker.on('error', (err) => this.#fail(err));
      worker.on('exit', (code) => {
        if (!this.#closed) this.#fail(new Error(`verify worker exited with code ${code}`));
      });
      worker.unref();
      this.#slots.push(slot);
    }
  }

  /** Chunks sent to workers so far (each one read from disk once). */
  get requests(): number {
    return this.#requests;
  }

  check(digest: string): Promise<ChunkCheck> {
    if (this.#closed) return Promise.reject(bulwarkError('BULWARK_INTERNAL', 'verify pool is closed'));
    if (this.#failed) return Promise.reject(this.#failed);
    if (!isDigestHex(digest)) return Promise.reject(bulwarkError('BULWARK_INVALID_ARGUMENT', 'digest', JSON.stringify(String(digest).slice(0, 80))));
    const req: WorkerRequest = { id: this.#nextId++, digest };
    this.#requests++;
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) for (const s of this.#slots) s.worker.ref();
      const slot = this.#leastBusy();
      if (slot.inFlight < this.#depth) this.#send(slot, { req, resolve, reject });
      else this.#queue.push({ req, resolve, reject });
    });
  }

  /** Ends the workers; pending checks are rejected. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#rejectAll(bulwarkError('BULWARK_INTERNAL', 'verify pool closed'));
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #leastBusy(): Slot {
    let best = this.#slots[0]!;
    for (const s of this.#slots) if (s.inFlight < best.inFlight) best = s;
    return best;
  }

  #send(slot: Slot, q: Queued): void {
    slot.inFlight++;
    this.#pending.set(q.req.id, { slot, resolve: q.resolve, reject: q.reject });
    slot.worker.postMessage(q.req);
  }

  #settle(slot: Slot, m: WorkerReply): void {
    const p = this.#pending.get(m.id);
    if (p === undefined) return;
    this.#pending.delete(m.id);
    slot.inFlight--;
    const next = this.#queue.shift();
    if (next !== undefined) this.#send(slot, next);
    if (this.#pending.size === 0) for (const s of this.#slots) s.worker.unref();
    p.resolve(m.verdict);
  }

  #fail(err: Error): void {
    this.#failed ??= bulwarkError('BULWARK_INTERNAL', `verify worker failed: ${err.message}`, { cause: err });
    this.#rejectAll(this.#failed);
  }

  #rejectAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    for (const q of this.#queue) q.reject(err);
    this.#pending.clear();
    this.#queue.length = 0;
    for (const s of this.#slots) s.worker.unref();
  }
}
