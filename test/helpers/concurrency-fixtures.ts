/**
 * Fixtures for tests that run backups, GC and prune side by side in one
 * process.
 *
 * Scheduling: a clock that moves on every read, seeded event-loop
 * interleaving, one-shot gates, progress counters, and running tasks while
 * collecting every failure instead of stopping at the first. Interleaving is
 * by `setImmediate` turns (never timers): a task that yields n turns lets
 * every other task's ready I/O callbacks and immediates run in between. The
 * turns per step come from a per-task seeded PRNG, so the schedule a test
 * asks for is the same on every run.
 *
 * A multi-group store: 8 groups (host/c0..c7) of 2 or 3 finished snapshots
 * that share chunks within and across groups, an interrupted backup per group
 * (its chunks remembered for resume), and unreferenced garbage, all written
 * through real BackupWriters two hours before the clock's present. Built
 * once as a template and copied per test with its chunk times.
 */
import { cpSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { BackupGroup, BackupNamespace } from '../../datastore/backup-ref.ts';
import { BackupReader } from '../../datastore/backup-reader.ts';
import { BackupWriter } from '../../datastore/backup-writer.ts';
import { ChunkStore } from '../../datastore/chunk-store.ts';
import { indexFromBuffer } from '../../datastore/index-file.ts';
import { ResumeStore } from '../../datastore/resume-store.ts';
import { listSnapshots } from '../../datastore/snapshots.ts';
import { HOUR_MS, NOW_S, OWNER, TEST_SAFETY, dynamicPlan, restoreArchive, writeArchive, type ArchivePlan } from './backup-fixtures.ts';
import { makeChunk, sparseStoreDir } from './chunk-fixtures.ts';
import { randomInt, seededRandom } from './index-fixtures.ts';

// ── scheduling ─────────────────────────────────────────────────────────────

/**
 * A clock shared by every component under test that advances 1 ms on each
 * read, so two events are never simultaneous: anything stamped after a
 * reading is strictly later than it (what GC's "atime < cutoff" compares).
 * Milliseconds survive utimes/stat (GC rounds the µs truncation away).
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

/**
 * Counts events of one kind (backups registered, chunks uploaded) and lets a
 * task wait for the n-th: a schedule by progress, not by elapsed turns.
 */
export class Progress {
  #count = 0;
  #waiters: Array<{ n: number; open: () => void }> = [];

  get count(): number { return this.#count; }

  arrive(): void {
    this.#count++;
    const due = this.#waiters.filter((w) => w.n <= this.#count);
    this.#waiters = this.#waiters.filter((w) => w.n > this.#count);
    for (const w of due) w.open();
  }

  /** Wake every waiter for good, e.g. when a task failed and will never arrive (so nothing hangs). */
  release(): void {
    this.#count = Infinity;
    for (const w of this.#waiters.splice(0)) w.open();
  }

  /** Resolves once `n` events arrived (at once for n <= count). */
  reached(n: number): Promise<void> {
    if (n <= this.#count) return Promise.resolve();
    return new Promise((open) => this.#waiters.push({ n, open }));
  }
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
  const line = ({ who, err }: TaskFailure) => `${who}: ${(err as { code?: string })?.code ?? ''} ${(err as Error)?.message ?? String(err)}`;
  return failures.map(line).join('\n');
}

// ── a multi-group store ────────────────────────────────────────────────────

export const GROUPS = 8;
export const ARCHIVES = ['root.pxar.didx', 'etc.pxar.didx'] as const;
export const HOUR_S = 3600;

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
/** Every chunk is makeChunk(seed, sizeOf(seed)), so a seed names one chunk everywhere. */
export const sizeOf = (seed: number): number => 600 + ((seed * 7919) % 1400);
export const planOf = (seeds: readonly number[]): ArchivePlan => dynamicPlan(seeds, seeds.map(sizeOf));
export const hostGroup = (g: number): BackupGroup => new BackupGroup(BackupNamespace.root, 'host', `c${g}`);
export const snapshotKey = (g: number, time: number): string => `c${g}@${time}`;
export const olderCount = (g: number): number => 2 + (g % 2);
/** Older snapshot k of group g (epoch s), oldest first, an hour apart, before the clock's start. */
export const oldTime = (g: number, k: number): number => NOW_S - (olderCount(g) - k) * HOUR_S;

const shared = (i: number): number => 1000 + (i % 48);

/** Chunk seeds of the two archives of older snapshot k of group g: shared (within and across groups), then private. */
export function olderSeeds(g: number, k: number): [number[], number[]] {
  return [
    [...range(6).map((j) => shared(g * 5 + k * 3 + j)), ...range(4).map((j) => 10_000 + g * 100 + k * 10 + j)],
    [...range(2).map((j) => shared(g * 7 + k + 20 + j)), ...range(2).map((j) => 20_000 + g * 100 + k * 10 + j)],
  ];
}

/** Stored unreferenced, never used again. */
export const PURE_GARBAGE = range(40).map((i) => 30_000 + i);
/** Stored unreferenced, for group g's next backup to upload again. */
export const revived = (g: number): number[] => range(3).map((j) => 40_000 + g * 10 + j);
/** Uploaded by an interrupted backup of group g (so offered to its next one by the ResumeStore), unreferenced. */
export const resumable = (g: number): number[] => range(3).map((j) => 70_000 + g * 10 + j);

export interface MultiGroupStore {
  readonly path: string;
  readonly clock: TickClock;
  readonly chunkStore: ChunkStore;
  readonly resume: ResumeStore;
  /** Archive bytes of every snapshot that may be finished, by snapshotKey; tests add their new ones. */
  readonly expected: Map<string, Map<string, Buffer>>;
  /** Where the PURE_GARBAGE chunks live. */
  readonly garbagePaths: string[];
}

/** A writer for host/c<g> at `time` (epoch s) on the store's clock, chunk store and resume store. */
export const startGroupWriter = (s: MultiGroupStore, g: number, time: number): Promise<BackupWriter> => BackupWriter.start({
  storePath: s.path, chunkStore: s.chunkStore, type: 'host', id: `c${g}`, backupTime: time,
  owner: OWNER, now: s.clock.now, safety: TEST_SAFETY, resume: s.resume,
});

function openMultiGroupStore(path: string, clock: TickClock, expected: Map<string, Map<string, Buffer>>): MultiGroupStore {
  const chunkStore = ChunkStore.open(path, { now: clock.now, sync: 'none' }); // durability is not what these tests are about
  const garbagePaths = PURE_GARBAGE.map((seed) => makeChunk(seed, sizeOf(seed)).hex)
    .map((hex) => join(path, '.chunks', hex.slice(0, 4), hex));
  return { path, clock, chunkStore, resume: new ResumeStore(path, { safety: TEST_SAFETY }), expected, garbagePaths };
}

/** Builds the store under `parent`; its clock then stands two hours after all of it. */
export async function multiGroupTemplate(parent: string): Promise<MultiGroupStore> {
  const s = openMultiGroupStore(sparseStoreDir(parent, 'template'), tickClock(NOW_S * 1000), new Map());
  for (let g = 0; g < GROUPS; g++) {
    for (let k = 0; k < olderCount(g); k++) {
      const w = await startGroupWriter(s, g, oldTime(g, k));
      const plans = olderSeeds(g, k).map(planOf);
      for (const [i, p] of plans.entries()) await writeArchive(w, ARCHIVES[i]!, p);
      await w.finish();
      s.expected.set(snapshotKey(g, oldTime(g, k)), new Map(plans.map((p, i) => [ARCHIVES[i]!, p.data])));
    }
    const interrupted = await startGroupWriter(s, g, oldTime(g, olderCount(g) - 1) + HOUR_S / 2);
    const wid = interrupted.createIndex({ kind: 'dynamic', name: ARCHIVES[0] });
    for (const c of planOf(resumable(g)).chunks) await interrupted.insertChunk(wid, c.digest, c.data.length, c.blob);
    await interrupted.abort('connection lost');
  }
  for (const seed of [...PURE_GARBAGE, ...range(GROUPS).flatMap(revived)]) {
    const c = makeChunk(seed, sizeOf(seed));
    await s.chunkStore.insertChunk(c.digest, c.blob);
  }
  s.clock.advance(2 * HOUR_MS);
  return s;
}

/**
 * A copy of the template at `path` (cheaper than backing it all up again)
 * whose chunks carry the times the template's backups gave them, with a
 * clock going on from the template's. Times come from mtime: touches set
 * atime = mtime, and reading for the copy moved the template's atimes to the
 * real time (relatime).
 */
export function copyMultiGroupStore(template: MultiGroupStore, path: string): MultiGroupStore {
  cpSync(template.path, path, { recursive: true });
  const from = join(template.path, '.chunks');
  for (const prefix of readdirSync(from)) {
    for (const chunk of readdirSync(join(from, prefix))) {
      const t = statSync(join(from, prefix, chunk)).mtimeMs / 1000;
      utimesSync(join(path, '.chunks', prefix, chunk), t, t);
    }
  }
  return openMultiGroupStore(path, tickClock(template.clock.now()), new Map(template.expected));
}

/**
 * Restores every snapshot on disk through a BackupReader and compares it with
 * `expected`; every chunk its indexes name must exist. Returns the referenced
 * digests (hex) and the snapshots restored (snapshotKey).
 */
export async function restoreAll(s: MultiGroupStore): Promise<{ referenced: Set<string>; snapshots: string[] }> {
  const referenced = new Set<string>();
  const snapshots: string[] = [];
  for (const g of range(GROUPS)) {
    for (const snap of await listSnapshots(s.path, hostGroup(g))) {
      const key = snapshotKey(g, snap.dir.time);
      const want = s.expected.get(key);
      assert.ok(want !== undefined && snap.finished, `${key}: an expected, finished snapshot`);
      const reader = await BackupReader.open({
        storePath: s.path, chunkStore: s.chunkStore, type: 'host', id: `c${g}`, backupTime: snap.dir.time,
      });
      try {
        for (const [name, data] of want) {
          const index = indexFromBuffer(await reader.index(name), name);
          for (const digest of index.digests()) {
            referenced.add(digest.toString('hex'));
            assert.ok(await s.chunkStore.exists(digest), `${key} ${name}: chunk ${digest.toString('hex')} lost`);
          }
          assert.ok((await restoreArchive(reader, name)).equals(data), `${key} ${name} restores byte-identical`);
        }
      } finally {
        reader.close();
      }
      snapshots.push(key);
    }
  }
  return { referenced, snapshots };
}

/** Digests (hex) of every chunk file, sorted. */
export async function chunksOnDisk(s: MultiGroupStore): Promise<string[]> {
  const out: string[] = [];
  for await (const e of s.chunkStore.iterate()) out.push(e.digest);
  return out.sort();
}
