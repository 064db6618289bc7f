/**
 * Where a restore's write batches (write-batch.ts) run: inline on the
 * extractor's thread, or in a pool of worker threads, so that creating and
 * writing many small files (a few syscalls each, mostly kernel time) runs
 * on another core while the extractor's thread fetches and walks the
 * archive and builds the next batches. Synchronous syscalls in a worker
 * rather than fs.promises: that would pay a libuv thread-pool round trip
 * per call (five per file: open, write, chmod, times, close), where a
 * batch pays one message for up to a thousand files.
 *
 * A batch goes to the worker that has its first directory (batches end at
 * directory ends where they can, write-batch.ts), else to the one with the
 * fewest in flight (at most `depth` each, which bounds memory); a batch
 * continuing an open file always goes to the worker that has it. Workers
 * are referenced only while they have work, so an idle pool never keeps
 * the process alive.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { bulwarkError } from '../../errors.ts';
import { startPoolWorker } from '../worker-boot.ts';
import { deserializeError } from '../worker-error.ts';
import type { BatchResult, BuiltBatch, WriteSettings } from './write-batch.ts';
import { BatchRunner } from './write-exec.ts';

/** What one extraction run gives the executor along with its batches. */
export interface WriteRun {
  readonly settings: WriteSettings;
  /** A warning about the entry at this archive path. */
  warn(path: Buffer, message: string): void;
  /** A batch buffer that may be filled again. */
  recycle(data: ArrayBuffer): void;
  /** The batch has run (or failed): the shared memory it referred to may be reused. */
  release(built: BuiltBatch): void;
}

export interface BatchExecutor {
  /** Hands over a batch (run after those before it); resolves when there is room for another. Throws an earlier failure. */
  submit(built: BuiltBatch, run: WriteRun): Promise<void>;
  /**
   * Waits for every batch submitted, ends the run (a file left open by an
   * abandoned run is closed) and throws the first failure, if any.
   */
  finish(): Promise<void>;
}

/** Runs each batch at once on the calling thread. */
export class InlineExecutor implements BatchExecutor {
  readonly #runner = new BatchRunner();

  async submit(built: BuiltBatch, run: WriteRun): Promise<void> {
    const result = this.#runner.run(built.batch, run.settings);
    run.release(built);
    run.recycle(built.batch.data);
    report(result, built, run);
  }

  async finish(): Promise<void> {
    this.#runner.reset();
  }
}

function report(result: BatchResult, built: BuiltBatch, run: WriteRun): void {
  for (const [i, message] of result.warnings) run.warn(built.paths[i]!, message);
  if (result.error) throw deserializeError(result.error);
}

interface Slot {
  readonly worker: Worker;
  inFlight: number;
  /** Directory of the last entry sent to it. */
  lastDir: number;
}

interface Reply {
  id: number;
  result: BatchResult;
  data?: ArrayBuffer;
}

const WORKER_URL = new URL('./write-worker.ts', import.meta.url);

/**
 * Worker threads for a restore: one core is left to the thread that
 * receives and decodes; at least 1, at most 4. On two cores that is one:
 * measured here, a second writer made each file creation slower by about
 * as much as it added (both wait on the same directory and journal), and
 * costs messages and wake-ups besides.
 */
export function defaultWriters(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

export class WritePool implements BatchExecutor {
  readonly #slots: Slot[] = [];
  readonly #depth: number;
  readonly #pending = new Map<number, { slot: Slot; done: (r: Reply) => void }>();
  #wake: (() => void)[] = [];
  #nextId = 0;
  #sticky: Slot | undefined;
  #failed: Error | undefined;
  #crashed: Error | undefined;
  #closed = false;

  /** `threads` workers, each with at most `depth` batches in flight. */
  constructor(threads = defaultWriters(), opts: { depth?: number } = {}) {
    if (!Number.isInteger(threads) || threads < 1) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'writers', threads);
    this.#depth = opts.depth ?? 3;
    for (let i = 0; i < threads; i++) {
      const slot: Slot = {
        worker: startPoolWorker<Reply>(WORKER_URL, 'restore write worker', {
          onMessage: (m) => this.#settle(slot, m),
          onFailure: (err) => this.#crash(err),
          closing: () => this.#closed,
        }),
        inFlight: 0,
        lastDir: -1,
      };
      this.#slots.push(slot);
    }
  }

  async submit(built: BuiltBatch, run: WriteRun): Promise<void> {
    for (;;) {
      this.#check();
      const slot = this.#sticky ?? this.#pick(built.firstDir);
      if (slot.inFlight < this.#depth) {
        this.#sticky = built.batch.continues ? slot : undefined;
        slot.lastDir = built.lastDir;
        this.#post(slot, { batch: built.batch, settings: run.settings }, [built.batch.data], (r) => {
          run.release(built);
          if (r.data) run.recycle(r.data);
          try {
            report(r.result, built, run);
          } catch (err) {
            this.#failed ??= err as Error;
          }
        });
        return;
      }
      await this.#completion();
    }
  }

  async finish(): Promise<void> {
    while (this.#pending.size > 0 && !this.#crashed) await this.#completion();
    this.#sticky = undefined;
    const failed = this.#crashed ?? this.#failed;
    this.#failed = undefined;
    if (!this.#crashed) {
      const resets = this.#slots.map((slot) => new Promise<void>((resolve) => this.#post(slot, { reset: true }, [], () => resolve())));
      while (this.#pending.size > 0 && !this.#crashed) await this.#completion();
      await Promise.all(this.#crashed ? [] : resets);
    }
    if (failed) throw failed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  /**
   * The worker that has the batch's first directory (even when it is full:
   * two threads creating files in one directory mostly wait for each
   * other), else the one with the fewest batches in flight.
   */
  #pick(dir: number): Slot {
    return this.#slots.find((s) => s.lastDir === dir) ?? this.#slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
  }

  #check(): void {
    if (this.#closed) throw bulwarkError('BULWARK_INTERNAL', 'restore write pool is closed');
    const failed = this.#crashed ?? this.#failed;
    if (failed) throw failed;
  }

  #post(slot: Slot, message: object, transfer: ArrayBuffer[], done: (r: Reply) => void): void {
    const id = this.#nextId++;
    this.#pending.set(id, { slot, done });
    if (slot.inFlight++ === 0) slot.worker.ref();
    slot.worker.postMessage({ id, ...message }, transfer);
  }

  #settle(slot: Slot, m: Reply): void {
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if (--slot.inFlight === 0) slot.worker.unref();
    p.done(m);
    this.#notify();
  }

  #crash(err: Error): void {
    this.#crashed ??= err;
    for (const slot of this.#slots) {
      slot.inFlight = 0;
      slot.worker.unref();
    }
    this.#pending.clear();
    this.#notify();
  }

  #completion(): Promise<void> {
    return new Promise((resolve) => this.#wake.push(resolve));
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }
}
