/**
 * Requirement: a backup running during GC never loses a chunk it references.
 * Eight backups (one per group) run into one store while GC and a prune run
 * beside them: no backup fails, nothing but a second GC hits a lock, and every
 * finished snapshot restores byte for byte, before and after another GC.
 *
 * Only the invariant under test protects in-flight chunks: GC runs with
 * SAFETY_NONE (no 24 h grace, no slack), so its cutoff is min(GC start,
 * oldest running writer) and a chunk survives only by being marked or by a
 * touch after the cutoff (upload, reuse of a stored chunk, registration as
 * known from the previous snapshot or from an interrupted session). One tick
 * clock (+1 ms per read) drives the chunk store, the writers and GC, so every
 * stamp is strictly ordered against the cutoff; the setup is hours older.
 *
 * Interleaving (runScenario has the schedule). Tasks yield a seeded number
 * of event-loop turns between steps, and start by progress: GC after a seeded
 * number of uploads (six writers registered and unfinished), two writers only
 * once GC fixed its cutoff, prune after some uploads or as GC sweeps, and a
 * few writers finish only after prune. GC's phases do their fs calls
 * synchronously between 10 ms slices (GcPacer), so inside a phase the
 * writers' thread-pool calls race it rather than test-chosen steps. No
 * assertion depends on the order; which older snapshot prune keeps does, and
 * is checked against prune's own report.
 *
 * Reads move atime to the real time on these relatime mounts, later than this
 * clock: the engine's own head reads (insertChunk, resume) thus also protect a
 * chunk, so a missing touch right next to one cannot show here (the
 * chunk-store and backup-writer tests check those touches directly).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BackupNamespace } from '../../datastore/backup-ref.ts';
import type { BackupWriter } from '../../datastore/backup-writer.ts';
import { runGarbageCollection, type GcOptions, type GcPhaseInfo } from '../../datastore/gc.ts';
import type { GcStatus } from '../../datastore/gc-stats.ts';
import { pruneNamespace, type PruneGroupResult } from '../../datastore/prune-apply.ts';
import { SAFETY_NONE } from '../../datastore/safety.ts';
import { listSnapshots } from '../../datastore/snapshots.ts';
import { listActiveWriters } from '../../datastore/writers.ts';
import { isBulwarkError } from '../../errors.ts';
import { NOW_S, type ArchivePlan } from '../helpers/backup-fixtures.ts';
import { removeDir, tmpfsTempDir } from '../helpers/chunk-fixtures.ts';
import {
  ARCHIVES, GROUPS, HOUR_S, Interleaver, PURE_GARBAGE, Progress, chunksOnDisk, copyMultiGroupStore, describeFailures, gate,
  multiGroupTemplate, oldTime, olderCount, olderSeeds, planOf, range, restoreAll, resumable, revived, runTasks, snapshotKey,
  startGroupWriter, yieldTurns, type MultiGroupStore, type TaskFailure,
} from '../helpers/concurrency-fixtures.ts';

const root = tmpfsTempDir();
after(() => removeDir(root));

const LATE_WRITERS = 2;
const APPEND_BATCH = 4;
/** Chunks the early writers upload at least: 10 into root, 1 into etc, each. */
const EARLY_UPLOADS = (GROUPS - LATE_WRITERS) * 11;
const NEW_TIME = NOW_S + 2 * HOUR_S;

/** No grace, the store's clock, and a repeat filter sized for this small store (the default allocates 32 MiB). */
const gcOpts = (s: MultiGroupStore, extra: Partial<GcOptions> = {}): GcOptions =>
  ({ safety: SAFETY_NONE, now: s.clock.now, touchCacheSlots: 4096, ...extra });

// ── what each new backup holds ─────────────────────────────────────────────

/** Where an entry of a new archive comes from: known from the previous snapshot or a resume, or uploaded. */
type Source = 'previous' | 'resume' | 'upload';

interface NewArchive {
  readonly plan: ArchivePlan;
  readonly source: Source[];
}

/** Group g's new snapshot, its root entries shuffled by `pick`. */
function newArchives(g: number, pick: Interleaver): NewArchive[] {
  const [prevRoot, prevEtc] = olderSeeds(g, olderCount(g) - 1);
  const pruned = olderSeeds((g + 1) % GROUPS, 0)[0]; // another group's oldest snapshot, which prune always removes
  const entry = (source: Source) => (seed: number) => ({ seed, source });
  const root = [
    ...[0, 1, 2, 6, 7].map((i) => prevRoot[i]!).map(entry('previous')),
    ...[0, 6, 7].map((i) => pruned[i]!).map(entry('upload')),
    ...revived(g).map(entry('upload')),
    ...resumable(g).map(entry('resume')),
    ...range(4).map((j) => 50_000 + g * 100 + j).map(entry('upload')),
  ];
  for (let i = root.length - 1; i > 0; i--) {
    const j = pick.int(i + 1);
    [root[i], root[j]] = [root[j]!, root[i]!];
  }
  const etc = [...prevEtc.map(entry('previous')), entry('upload')(60_000 + g)];
  return [root, etc].map((entries) => ({ plan: planOf(entries.map((e) => e.seed)), source: entries.map((e) => e.source) }));
}

// ── one backup, step by step ───────────────────────────────────────────────

/** Upload what is not known, append in batches, yielding between steps. `resumed`: hex digests the resume made known. */
async function writeStepwise(
  w: BackupWriter, name: string, a: NewArchive, resumed: ReadonlySet<string>, turns: Interleaver, uploads: Progress,
): Promise<void> {
  const wid = w.createIndex({ kind: 'dynamic', name });
  const n = a.plan.chunks.length;
  for (let from = 0; from < n; from += APPEND_BATCH) {
    const to = Math.min(n, from + APPEND_BATCH);
    for (let i = from; i < to; i++) {
      const c = a.plan.chunks[i]!;
      if (a.source[i] === 'previous' || (a.source[i] === 'resume' && resumed.has(c.hex))) continue;
      await turns.step();
      await w.insertChunk(wid, c.digest, c.data.length, c.blob);
      uploads.arrive();
    }
    await turns.step();
    w.append(wid, a.plan.digests.subarray(from * 32, to * 32), a.plan.offsets.slice(from, to));
  }
  await turns.step();
  w.closeIndex(wid, { count: n, size: a.plan.size, csum: a.plan.csum });
}

// ── the scenario ───────────────────────────────────────────────────────────

interface Outcome {
  readonly failures: TaskFailure[];
  readonly earlyStarts: number[];
  /** Groups whose backup finished only after prune was done. */
  readonly holding: Set<number>;
  readonly pruned: PruneGroupResult[];
  gc1Info?: GcPhaseInfo;
  gc1?: GcStatus;
  gc2?: GcStatus;
  secondGcError?: unknown;
  garbageLeftAfterGc1?: number;
}

/**
 * The schedule, all from `seed`: which two writers start late (after GC fixed
 * its cutoff), after how many uploads GC starts (the six early writers are
 * registered by then and finish only after it started), when prune starts
 * (after some uploads, or as GC sweeps), and which writers finish only after
 * prune is done (so prune meets their unfinished snapshot and locked base).
 */
async function runScenario(s: MultiGroupStore, seed: number): Promise<Outcome> {
  const pick = new Interleaver(seed * 1009);
  const late = new Set<number>();
  while (late.size < LATE_WRITERS) late.add(pick.int(GROUPS));
  const holding = new Set(range(pick.int(4)).map(() => pick.int(GROUPS)));
  const gcAfterUploads = pick.int(EARLY_UPLOADS);
  const pruneAfterUploads = pick.int(2) === 0 ? pick.int(EARLY_UPLOADS) : undefined;
  const archives = range(GROUPS).map((g) => newArchives(g, pick));
  for (const [g, a] of archives.entries()) {
    s.expected.set(snapshotKey(g, NEW_TIME), new Map(a.map((x, i) => [ARCHIVES[i]!, x.plan.data])));
  }
  const earlyStarted = new Progress();
  const uploads = new Progress();
  const gcMarking = gate();
  const gcSweeping = gate();
  const pruneDone = gate();
  const out = { earlyStarts: [] as number[], holding, pruned: [] as PruneGroupResult[] } as Omit<Outcome, 'failures'>;

  const writer = (g: number) => async (): Promise<void> => {
    const turns = new Interleaver(seed * 1009 + 1 + g);
    const early = !late.has(g);
    if (!early) await gcMarking.promise; // starts after GC fixed its cutoff without it
    await turns.step();
    let w: BackupWriter;
    try {
      w = await startGroupWriter(s, g, NEW_TIME);
    } catch (err) {
      earlyStarted.release(); // nobody waits for a writer that failed
      uploads.release();
      throw err;
    }
    if (early) {
      out.earlyStarts.push(w.startedAt);
      earlyStarted.arrive();
    }
    try {
      for (const name of ARCHIVES) {
        await turns.step();
        await w.previousArchive(name); // its chunks become known, each touched
      }
      await turns.step();
      const list = await w.resumeDigests(); // the ones still stored become known, each touched
      const resumed = new Set(range(list.length / 32).map((i) => list.toString('hex', i * 32, (i + 1) * 32)));
      for (const [i, a] of archives[g]!.entries()) await writeStepwise(w, ARCHIVES[i]!, a, resumed, turns, uploads);
      if (early) await gcMarking.promise; // still running when GC starts
      if (holding.has(g)) await pruneDone.promise;
      await turns.step();
      await w.finish();
    } catch (err) {
      uploads.release();
      await w.abort('test step failed').catch(() => undefined);
      throw err;
    }
  };

  const gc = async (): Promise<void> => {
    const turns = new Interleaver(seed * 1009 + 100);
    try {
      await earlyStarted.reached(GROUPS - LATE_WRITERS);
      await uploads.reached(gcAfterUploads);
      await turns.step();
      const first = runGarbageCollection(s.path, gcOpts(s, {
        onPhase: (phase, info) => {
          if (phase === 'mark') {
            out.gc1Info = info;
            gcMarking.open();
          } else {
            gcSweeping.open();
          }
        },
      }));
      // Started while the first holds the store's GC lock: the one lock error expected.
      const second = runGarbageCollection(s.path, gcOpts(s)).then(() => undefined, (err: unknown) => err);
      out.gc1 = await first;
      out.garbageLeftAfterGc1 = s.garbagePaths.filter((p) => existsSync(p)).length;
      out.secondGcError = await second;
      await yieldTurns(turns.int(40));
      out.gc2 = await runGarbageCollection(s.path, gcOpts(s)); // with whatever still runs
    } finally {
      gcMarking.open();
      gcSweeping.open();
    }
  };

  const prune = async (): Promise<void> => {
    const turns = new Interleaver(seed * 1009 + 200);
    try {
      await (pruneAfterUploads === undefined ? gcSweeping.promise : uploads.reached(pruneAfterUploads));
      await turns.step();
      await pruneNamespace(s.path, BackupNamespace.root, { keepLast: 1 }, { onGroup: (r) => { out.pruned.push(r); } });
    } finally {
      pruneDone.open();
    }
  };

  const tasks: Record<string, () => Promise<unknown>> = { gc, prune };
  for (const g of range(GROUPS)) tasks[`writer c${g}${late.has(g) ? ' (late)' : ''}`] = writer(g);
  const failures = await runTasks(tasks);
  return { ...out, failures };
}

// ── checks ─────────────────────────────────────────────────────────────────

/** Prune kept the newest older snapshot at most, and only while the new one was unfinished at its listing. */
async function checkPrune(s: MultiGroupStore, pruned: readonly PruneGroupResult[], holding: ReadonlySet<number>): Promise<number> {
  assert.deepEqual(pruned.map((r) => r.group.id).sort(), range(GROUPS).map((g) => `c${g}`));
  let keptPrevious = 0;
  for (const r of pruned) {
    const g = Number(r.group.id.slice(1));
    const refused = r.snapshots.filter((x) => x.error !== undefined).map((x) => `${x.dir.describe()}: ${x.error}`);
    assert.deepEqual(refused, [], 'no removal refused');
    assert.equal(r.skipped, 0);
    const removed = new Set(r.snapshots.filter((x) => x.removed === true).map((x) => x.dir.time));
    for (const k of range(olderCount(g) - 1)) assert.ok(removed.has(oldTime(g, k)), `c${g}: older snapshot ${k} pruned`);
    const previous = oldTime(g, olderCount(g) - 1);
    if (holding.has(g)) assert.ok(!removed.has(previous), `c${g}: the base of a running backup is kept`);
    const want = removed.has(previous) ? [NEW_TIME] : [previous, NEW_TIME];
    if (!removed.has(previous)) keptPrevious++;
    const onDisk = (await listSnapshots(s.path, r.group)).map((x) => [x.dir.time, x.finished]);
    assert.deepEqual(onDisk, want.map((t) => [t, true]), `c${g} on disk`);
  }
  return keptPrevious;
}

describe('backups running during GC and prune', () => {
  let template: MultiGroupStore;
  before(async () => { template = await multiGroupTemplate(root); });

  for (const seed of [1, 2, 3, 4]) {
    test(`seed ${seed}: 8 concurrent backups lose no chunk and hit no lock; GC and prune do real work`, { timeout: 60_000 }, async () => {
      const s = copyMultiGroupStore(template, join(root, `seed-${seed}`));
      const out = await runScenario(s, seed);

      assert.deepEqual(out.failures, [], describeFailures(out.failures));
      assert.ok(isBulwarkError(out.secondGcError, 'BULWARK_LOCKED'), `second GC fails fast with BULWARK_LOCKED, not ${String(out.secondGcError)}`);
      assert.deepEqual(await listActiveWriters(s.path), [], 'every writer released its registration');

      // GC ran with the six early backups registered: the oldest bounded its cutoff.
      const oldestEarly = Math.min(...out.earlyStarts);
      assert.equal(out.earlyStarts.length, GROUPS - LATE_WRITERS);
      assert.equal(out.gc1Info?.oldestWriterStart, oldestEarly);
      assert.equal(out.gc1?.cutoff, oldestEarly);
      // ... and did real work: old unreferenced garbage went at once.
      assert.equal(out.garbageLeftAfterGc1, 0);
      assert.ok(out.gc1.removedChunks >= PURE_GARBAGE.length, `removed ${out.gc1.removedChunks}`);
      assert.deepEqual([out.gc1.missingChunks, out.gc2?.missingChunks], [0, 0], 'no index referenced a missing chunk');

      const keptPrevious = await checkPrune(s, out.pruned, out.holding);
      const { referenced, snapshots } = await restoreAll(s);
      assert.equal(snapshots.length, GROUPS + keptPrevious);

      // Idle now: a GC keeps exactly what the remaining indexes reference.
      const idle = await runGarbageCollection(s.path, gcOpts(s));
      assert.equal(idle.missingChunks, 0);
      assert.deepEqual(await chunksOnDisk(s), [...referenced].sort());
      const again = await restoreAll(s);
      assert.deepEqual(again.snapshots, snapshots);
    });
  }
});
