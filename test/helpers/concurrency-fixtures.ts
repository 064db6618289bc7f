/**
 * Fixtures for tests that run backups, GC and prune side by side in one
 * process: a clock that moves on every read, seeded event-loop interleaving,
 * one-shot gates and countdowns, and running tasks while collecting every
 * failure instead of stopping at the first.
 *
 * Interleaving is by `setImmediate` turns (never timers): a task that yields
 * n turns lets every other task's ready I/O callbacks and immediates run in
 * between. The number of turns per step comes from a per-task seeded PRNG, so
 * the schedule a test asks for is the same on every run.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { randomInt, seededRandom } from './index-fixtures.ts';

/**
 * A clock shared by every component under test that advances 1 ms on each
 * read, so two events are never simultaneous: anything stamped after a
 * reading is strictly later than it (what GC's "atime < cutoff" compares).
 * Starts at a whole second so file times round-trip exactly.
 */
export interface TickClock {
  now: () => number;
  /** Jump ahead, e.g. to make everything written so far clearly old. */
  advance(ms: number): void;
}

export function tickClock(startMs: number): TickClock {
  let t = startMs;
  return { now: () => ++t, advance: (ms) => void (t += ms) };
}

/** Yields `n` event-loop turns. */
export async function yieldTurns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await nextTurn();
}

/** One task's schedule: a seeded number of turns (0 to `maxTurns`) per step. */
export class Interleaver {
  readonly #rand: () => number;
  constructor(seed: number, readonly maxTurns = 3) {
    this.#rand = seededRandom(seed);
  }

  /** An integer in 0..below-1 from this task's sequence. */
  int(below: number): number {
    return randomInt(this.#rand, below);
  }

  step(): Promise<void> {
    return yieldTurns(this.int(this.maxTurns + 1));
  }
}

/** A promise opened once, by whoever gets there first (idempotent). */
export interface Gate {
  readonly promise: Promise<void>;
  readonly opened: boolean;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  let opened = false;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return {
    promise,
    get opened() { return opened; },
    open: () => { opened = true; open(); },
  };
}

/** A gate that opens after `count` arrivals. */
export function countdown(count: number): Gate & { arrive(): void } {
  const g = gate();
  let left = count;
  if (left <= 0) g.open();
  return Object.assign(g, { arrive: () => { if (--left === 0) g.open(); } });
}

export interface TaskFailure {
  readonly who: string;
  readonly err: unknown;
}

/** Starts every task at once and waits for all; returns each failure, named. */
export async function runTasks(tasks: Record<string, () => Promise<unknown>>): Promise<TaskFailure[]> {
  const failures: TaskFailure[] = [];
  await Promise.all(Object.entries(tasks).map(async ([who, run]) => {
    try {
      await run();
    } catch (err) {
      failures.push({ who, err });
    }
  }));
  return failures;
}

/** `who: CODE message` per failure, for assertion messages. */
export function describeFailures(failures: readonly TaskFailure[]): string {
  return failures.map(({ who, err }) => `${who}: ${(err as { code?: string }).code ?? ''} ${(err as Error)?.message ?? String(err)}`).join('\n');
}
