/**
 * What both GC phases share: the statistics (PBS's `GarbageCollectionStatus`
 * from pbs-api-types in camelCase, the counters mark and sweep fill in, the
 * kebab-case JSON PBS clients expect, the summary lines PBS writes to the
 * task log) and the pacer that keeps a long run abortable and the event loop
 * responsive.
 *
 * Byte accounting follows PBS's sweep: removed `.bad` files add to
 * removedBytes (they free space); `.bad` files kept add to diskBytes or
 * pendingBytes by atime but never to a chunk count.
 */

import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { bulwarkError } from '../errors.ts';

/** What mark and sweep count while they run. */
export interface GcCounters {
  /** Index files processed (PBS `index_file_count`). */
  indexFileCount: number;
  /** Archive bytes the indexes describe (PBS `index_data_bytes`). */
  indexDataBytes: number;
  /** Kept chunk bytes on disk, beyond the pending ones. */
  diskBytes: number;
  diskChunks: number;
  removedBytes: number;
  removedChunks: number;
  /** Unreferenced, but inside the safety window: removed by a later run. */
  pendingBytes: number;
  pendingChunks: number;
  /** `.bad` files removed (a good copy exists, or nothing needs them). */
  removedBad: number;
  /** `.bad` files kept. */
  stillBad: number;
  /** References to chunks missing on disk (each logged as a warning). Bulwark only. */
  missingChunks: number;
}

export interface GcStatus extends Readonly<GcCounters> {
  /** Phase-1 start, epoch ms (from the injected clock). */
  readonly startedAt: number;
  /** Chunks with an atime before this (epoch ms) were removed. */
  readonly cutoff: number;
  /** Wall time of the run (monotonic clock). */
  readonly durationMs: number;
  /** indexDataBytes / diskBytes; 1 on an empty store, as PBS reports it. */
  readonly dedupFactor: number;
}

export function newGcCounters(): GcCounters {
  return {
    indexFileCount: 0, indexDataBytes: 0, diskBytes: 0, diskChunks: 0, removedBytes: 0, removedChunks: 0,
    pendingBytes: 0, pendingChunks: 0, removedBad: 0, stillBad: 0, missingChunks: 0,
  };
}

export function dedupFactor(indexDataBytes: number, diskBytes: number): number {
  return diskBytes > 0 ? indexDataBytes / diskBytes : 1;
}

export function finishGcStatus(c: GcCounters, run: { startedAt: number; cutoff: number; durationMs: number }): GcStatus {
  return Object.freeze({ ...c, ...run, dedupFactor: dedupFactor(c.indexDataBytes, c.diskBytes) });
}

/** PBS's JSON shape (`#[serde(rename_all = "kebab-case")]`). */
export interface GcStatusApi {
  upid?: string;
  'index-file-count': number;
  'index-data-bytes': number;
  'disk-bytes': number;
  'disk-chunks': number;
  'removed-bytes': number;
  'removed-chunks': number;
  'pending-bytes': number;
  'pending-chunks': number;
  'removed-bad': number;
  'still-bad': number;
}

/** The status under PBS's field names; Bulwark-only fields are left out. */
export function gcStatusToApi(s: GcStatus, upid?: string): GcStatusApi {
  return {
    ...(upid === undefined ? {} : { upid }),
    'index-file-count': s.indexFileCount,
    'index-data-bytes': s.indexDataBytes,
    'disk-bytes': s.diskBytes,
    'disk-chunks': s.diskChunks,
    'removed-bytes': s.removedBytes,
    'removed-chunks': s.removedChunks,
    'pending-bytes': s.pendingBytes,
    'pending-chunks': s.pendingChunks,
    'removed-bad': s.removedBad,
    'still-bad': s.stillBad,
  };
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** PBS's HumanByte style: binary units, up to two decimals (`1.5 GiB`). */
export function formatGcBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${Number(v.toFixed(2))} ${UNITS[u]}`;
}

/** The end-of-task summary, line for line as PBS logs it. */
export function gcSummaryLines(s: GcStatus): string[] {
  const lines = [`Removed garbage: ${formatGcBytes(s.removedBytes)}`, `Removed chunks: ${s.removedChunks}`];
  if (s.pendingBytes > 0) lines.push(`Pending removals: ${formatGcBytes(s.pendingBytes)} (in ${s.pendingChunks} chunks)`);
  if (s.removedBad > 0) lines.push(`Removed bad chunks: ${s.removedBad}`);
  if (s.stillBad > 0) lines.push(`Leftover bad chunks: ${s.stillBad}`);
  if (s.missingChunks > 0) lines.push(`Missing chunks referenced by indexes: ${s.missingChunks}`);
  lines.push(`Original data usage: ${formatGcBytes(s.indexDataBytes)}`);
  if (s.indexDataBytes > 0) {
    lines.push(`On-Disk usage: ${formatGcBytes(s.diskBytes)} (${((s.diskBytes * 100) / s.indexDataBytes).toFixed(2)}%)`);
  }
  lines.push(`On-Disk chunks: ${s.diskChunks}`);
  lines.push(`Deduplication factor: ${s.dedupFactor.toFixed(2)}`);
  if (s.diskChunks > 0) lines.push(`Average chunk size: ${formatGcBytes(Math.floor(s.diskBytes / s.diskChunks))}`);
  return lines;
}

// ── pacing ─────────────────────────────────────────────────────────────────

export type GcPhase = 'mark' | 'sweep';

export interface GcProgress {
  readonly phase: GcPhase;
  readonly done: number;
  readonly total?: number;
}

/** The run-wide context each phase gets. */
export interface GcPhaseContext {
  readonly now: () => number;
  readonly log: (line: string) => void;
  readonly pacer: GcPacer;
  readonly onProgress?: (p: GcProgress) => void;
}

/** Sync file-system work runs in slices this long between event-loop turns. */
const SLICE_MS = 10;

/**
 * Both phases do their file-system calls synchronously (measured here: a
 * sync utimes costs ~5 µs, an async one ~19 µs through the thread pool), so
 * they must hand the event loop back now and then: `step()` after every unit
 * of work (an index, a prefix dir) checks for abort and, once a slice is used
 * up, yields one turn.
 */
export class GcPacer {
  #sliceStart = performance.now();
  constructor(readonly signal?: AbortSignal) {}

  /** BULWARK_ABORTED once the signal fired. */
  check(): void {
    const s = this.signal;
    if (s?.aborted) {
      const why = s.reason instanceof Error ? s.reason.message : s.reason === undefined ? 'abort requested' : String(s.reason);
      throw bulwarkError('BULWARK_ABORTED', 'garbage collection', why, { cause: s.reason });
    }
  }

  async step(): Promise<void> {
    this.check();
    if (performance.now() - this.#sliceStart < SLICE_MS) return;
    await yieldToLoop();
    this.#sliceStart = performance.now();
    this.check();
  }
}

/**
 * A progress sink for one phase: `onProgress` and the PBS-style log line
 * once per whole percent, plus `onProgress` for the final unit of work.
 */
export function percentReporter(ctx: GcPhaseContext, phase: GcPhase, line: (pct: number, done: number, total: number) => string) {
  let last = 0;
  return (done: number, total: number): void => {
    const pct = total > 0 ? Math.min(100, Math.floor((done * 100) / total)) : 100;
    if (pct > last && total > 0) ctx.log(line(pct, done, total));
    if (pct > last || done >= total) ctx.onProgress?.({ phase, done, total });
    last = Math.max(last, pct);
  };
}
