/**
 * Verify jobs (after PBS src/backup/verify.rs): which snapshots a job
 * checks (verify_filter: ignore-verified, outdated-after) and the walk over
 * a group or a namespace tree, newest snapshot first, with one worker pool
 * and one table of verified and corrupt chunks for the whole job, so a
 * chunk several snapshots share is read once. Each snapshot is checked by
 * verifySnapshot (verify.ts).
 */
import { bulwarkError, isBulwarkError } from '../errors.ts';
import type { BackupGroup, BackupNamespace } from './backup-ref.ts';
import { namespaceOf } from './backup-reader.ts';
import { KnownChunks } from './known-chunks.ts';
import type { Manifest, VerifyState } from './manifest.ts';
import { listGroups, listNamespaces, listSnapshots } from './snapshots.ts';
import { checkAbort, verifySnapshot, type BadChunkMarker, type SnapshotVerifyResult, type SnapshotVerifyState, type VerifySnapshotOptions } from './verify.ts';
import { VerifyPool, type ChunkVerifier } from './verify-pool.ts';

// ── which snapshots ──────────────────────────────────────────────────────

export interface VerifyFilterOptions {
  /** Skip snapshots whose last verify was ok… */
  readonly ignoreVerified?: boolean;
  /** …unless it is more than this many whole days old. */
  readonly outdatedAfterDays?: number;
  readonly now?: () => number;
}

/** When `vs` was recorded (epoch s): its `time`, else the start time in its UPID, as PBS reads it. */
export function verifiedAt(vs: VerifyState): number | undefined {
  const time = (vs as SnapshotVerifyState).time;
  if (typeof time === 'number' && Number.isFinite(time)) return time;
  const start = vs.upid.split(':')[5]; // UPID:node:pid:pstart:taskid:START:type:id:authid:
  return start !== undefined && /^[0-9A-Fa-f]{1,16}$/.test(start) ? parseInt(start, 16) : undefined;
}

/**
 * PBS verify_filter: true when the snapshot should be verified. One
 * deliberate difference: PBS's ignore-verified also skips snapshots whose
 * last verify failed; here only an ok state is skipped, so a re-run after a
 * repair (or an interrupted run) re-checks the failed ones.
 */
export function shouldVerify(m: Manifest, opts: VerifyFilterOptions): boolean {
  if (!opts.ignoreVerified) return true;
  const vs = m.unprotected.verify_state;
  if (vs === undefined || vs.state !== 'ok') return true;
  if (opts.outdatedAfterDays === undefined) return false; // never re-verify (PBS)
  const at = verifiedAt(vs);
  if (at === undefined) return true;
  const days = Math.trunc(((opts.now ?? Date.now)() / 1000 - at) / 86400);
  return days > opts.outdatedAfterDays;
}

// ── groups and namespaces ────────────────────────────────────────────────

export interface VerifyJobOptions extends VerifyFilterOptions {
  readonly upid: string;
  /** Default: a VerifyPool over the store, closed when the job ends. */
  readonly pool?: ChunkVerifier;
  readonly verifiedChunks?: KnownChunks;
  readonly corruptChunks?: KnownChunks;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
  readonly badChunks?: BadChunkMarker;
  /** Called after each snapshot (progress, task log). */
  readonly onSnapshot?: (r: SnapshotVerifyResult) => void;
}

export interface VerifyTotals {
  snapshots: number;
  ok: number;
  failed: number;
  skipped: number;
  /** Chunks read and their bytes, blobs included in bytes. */
  chunks: number;
  bytes: number;
  /** Failed snapshots (and groups that could not be listed), as PBS returns them. */
  errors: string[];
}

/** Every snapshot of `group`, newest first (PBS order). */
export function verifyGroup(store: string, group: BackupGroup, opts: VerifyJobOptions): Promise<VerifyTotals> {
  return runJob(store, opts, (visit) => visit(group));
}

/** Every group in `ns` and the namespaces below it, at most `maxDepth` levels down. */
export function verifyNamespace(store: string, ns: BackupNamespace | string, opts: VerifyJobOptions & { readonly maxDepth?: number }): Promise<VerifyTotals> {
  return runJob(store, opts, async (visit) => {
    for (const n of await listNamespaces(store, namespaceOf(ns), opts.maxDepth)) {
      for (const g of await listGroups(store, n)) {
        if (g.type === 'host' && g.id === 'benchmark') continue; // PBS leaves its benchmark group out
        await visit(g.group);
      }
    }
  });
}

async function runJob(store: string, opts: VerifyJobOptions, body: (visit: (g: BackupGroup) => Promise<void>) => Promise<void>): Promise<VerifyTotals> {
  const days = opts.outdatedAfterDays;
  if (days !== undefined && (!Number.isSafeInteger(days) || days < 0)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'outdated-after', days);
  const log = opts.log ?? (() => undefined);
  const ownPool = opts.pool === undefined ? new VerifyPool(store) : undefined;
  const snapshotOpts: VerifySnapshotOptions = {
    pool: opts.pool ?? ownPool!, upid: opts.upid,
    verifiedChunks: opts.verifiedChunks ?? new KnownChunks(), corruptChunks: opts.corruptChunks ?? new KnownChunks(),
    now: opts.now, signal: opts.signal, log, badChunks: opts.badChunks,
    filter: (m) => shouldVerify(m, opts),
  };
  const totals: VerifyTotals = { snapshots: 0, ok: 0, failed: 0, skipped: 0, chunks: 0, bytes: 0, errors: [] };
  const visit = async (group: BackupGroup): Promise<void> => {
    let snapshots;
    try {
      snapshots = await listSnapshots(store, group);
    } catch (err) {
      if (!isBulwarkError(err)) throw err;
      log(`verify group ${group.describe()} - unable to list backups: ${err.message}`);
      if (!isBulwarkError(err, 'BULWARK_NOT_FOUND')) totals.errors.push(group.describe()); // NOT_FOUND: removed since listed
      return;
    }
    log(`verify group ${group.describe()} (${snapshots.length} snapshots)`);
    for (const { dir } of snapshots.reverse()) {
      checkAbort(opts.signal);
      let r: SnapshotVerifyResult;
      try {
        r = await verifySnapshot(store, dir, snapshotOpts);
      } catch (err) {
        if (!isBulwarkError(err, 'BULWARK_NOT_FOUND')) throw err;
        r = { dir, result: 'skipped', note: 'snapshot was removed meanwhile', chunks: 0, bytes: 0, problems: [], problemCount: 0 };
      }
      totals.snapshots++;
      totals[r.result]++;
      totals.chunks += r.chunks;
      totals.bytes += r.bytes;
      if (r.result === 'failed') totals.errors.push(dir.describe());
      opts.onSnapshot?.(r);
    }
  };
  try {
    await body(visit);
  } finally {
    await ownPool?.close();
  }
  return totals;
}
