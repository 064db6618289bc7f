/**
 * Garbage collection of one datastore, after PBS's
 * `DataStore::garbage_collection`: mark (gc-mark.ts), then sweep
 * (gc-sweep.ts), under the store's single GC lock.
 *
 * The cutoff is fixed when phase 1 starts:
 *   cutoff = min(start − gcAtimeGraceMs, start of the oldest running backup) − gcCutoffSlackMs
 * Everything phase 1 touches gets atime ≥ start > cutoff, and so does every
 * chunk a running backup uploads or reuses after it started (it touches
 * what it reuses), so neither is swept. A backup that starts later touches
 * what it reuses after the start too; the sweep's rename-and-recheck covers
 * a touch that lands while it is removing that very chunk.
 *
 * Lock: `lockStoreJob(store, 'gc')` is a try-lock, so a second GC fails at
 * once with BULWARK_LOCKED instead of queueing. Abort: the signal is checked
 * between indexes and between prefix dirs (BULWARK_ABORTED). Both phases are
 * idempotent and the sweep settles what a crash left half-done, so an
 * interrupted GC is simply run again.
 */
import { bulwarkError } from '../errors.ts';
import { hasChunkDir } from './fs-chunk-backend.ts';
import { markUsedChunks } from './gc-mark.ts';
import { GcPacer, finishGcStatus, gcSummaryLines, newGcCounters, type GcPhase, type GcPhaseContext, type GcProgress, type GcStatus } from './gc-stats.ts';
import { sweepUnusedChunks } from './gc-sweep.ts';
import { lockStoreJob } from './locks.ts';
import { SAFETY_FULL, type SafetyParameters } from './safety.ts';
import { oldestActiveWriterStart } from './writers.ts';

export interface GcPhaseInfo {
  /** Phase-1 start, epoch ms. */
  readonly startedAt: number;
  readonly cutoff: number;
  /** Start of the oldest backup running when GC began, if any. */
  readonly oldestWriterStart: number | undefined;
}

export interface GcOptions {
  /** Default SAFETY_FULL (24 h grace + 5 min slack). */
  readonly safety?: SafetyParameters;
  /** Epoch ms; default Date.now. Touches and the cutoff use it. */
  readonly now?: () => number;
  readonly signal?: AbortSignal;
  onPhase?(phase: GcPhase, info: GcPhaseInfo): void;
  /** Mark: index files done of total; sweep: prefix dirs done of total. Once per percent. */
  onProgress?(p: GcProgress): void;
  /** Task-log lines, worded as PBS words them. */
  log?(line: string): void;
  /** Repeat filter of the mark phase: slots of 32 bytes, a power of two (default 2^20 = 32 MiB). */
  readonly touchCacheSlots?: number;
}

/** min(start − grace, oldest running backup) − slack, all epoch ms. */
export function gcCutoff(startedAt: number, oldestWriterStart: number | undefined, safety: SafetyParameters): number {
  return Math.min(startedAt - safety.gcAtimeGraceMs, oldestWriterStart ?? Infinity) - safety.gcCutoffSlackMs;
}

export async function runGarbageCollection(store: string, opts: GcOptions = {}): Promise<GcStatus> {
  if (!hasChunkDir(store)) throw bulwarkError('BULWARK_NOT_FOUND', `chunk directory of datastore ${store}`);
  const lock = await lockStoreJob(store, 'gc');
  try {
    const t0 = performance.now();
    const now = opts.now ?? Date.now;
    const safety = opts.safety ?? SAFETY_FULL;
    const log = (line: string) => opts.log?.(line);
    const pacer = new GcPacer(opts.signal);
    pacer.check();
    const ctx: GcPhaseContext = { now, log, pacer, onProgress: opts.onProgress?.bind(opts) };

    const startedAt = now();
    const oldestWriterStart = await oldestActiveWriterStart(store);
    const cutoff = gcCutoff(startedAt, oldestWriterStart, safety);
    const info: GcPhaseInfo = { startedAt, cutoff, oldestWriterStart };
    const counters = newGcCounters();
    if (oldestWriterStart !== undefined) log(`oldest running backup started at ${new Date(oldestWriterStart).toISOString()}`);
    log(`cutoff: chunks last used before ${new Date(cutoff).toISOString()} are removed`);

    log('Start GC phase1 (mark used chunks)');
    opts.onPhase?.('mark', info);
    const mark = await markUsedChunks(store, counters, ctx, { touchCacheSlots: opts.touchCacheSlots });
    log(`marked ${mark.touched} chunks (${mark.repeatsSkipped} repeated references skipped)`);

    log('Start GC phase2 (sweep unused chunks)');
    opts.onPhase?.('sweep', info);
    await sweepUnusedChunks(store, counters, ctx, { cutoff, pendingBefore: Math.min(startedAt, oldestWriterStart ?? Infinity) });

    const status = finishGcStatus(counters, { startedAt, cutoff, durationMs: performance.now() - t0 });
    for (const line of gcSummaryLines(status)) log(line);
    return status;
  } finally {
    lock.release();
  }
}
