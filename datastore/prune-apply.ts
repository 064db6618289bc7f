/**
 * Applying prune to a store: one group (`pruneGroup`) or every group of a
 * namespace tree (`pruneNamespace`), deciding with `selectPrune` (prune.ts).
 *
 * Locking. Prune does not take the group lock: a running backup holds it for
 * the whole backup, and PBS prunes beside running backups too. Instead each
 * removal takes the snapshot's exclusive lock (removeSnapshot), which fails
 * on a snapshot being written or read, and re-checks protection under it.
 * A running backup's snapshot has no manifest and is the newest, so it is
 * 'keep-partial' and never even tried; a snapshot that is busy or became
 * protected after the listing is skipped and reported, not fatal, and the
 * rest of the group is still pruned (as in PBS, which warns and goes on).
 * Snapshots created after the listing are not in it, so they are untouched.
 */
import { bulwarkError, isBulwarkError } from '../errors.ts';
import type { BackupDir, BackupGroup, BackupNamespace } from './backup-ref.ts';
import { MAX_NAMESPACE_DEPTH } from './names.ts';
import { type KeepOptions, type PruneMark, selectPrune, validateKeepOptions, validateTimeZone } from './prune.ts';
import { listGroups, listNamespaces, listSnapshots, removeSnapshot } from './snapshots.ts';

export interface PruneRunOptions {
  /** Decide and report, remove nothing. */
  readonly dryRun?: boolean;
  /** IANA zone for the calendar periods (default 'UTC'). */
  readonly timeZone?: string;
}

export interface PruneSnapshotResult {
  readonly dir: BackupDir;
  readonly mark: PruneMark;
  readonly reason: string;
  /** Applied runs only: whether this snapshot was removed. */
  readonly removed?: boolean;
  /** Applied runs, a 'remove' snapshot that was skipped: the error code (BULWARK_LOCKED, BULWARK_SNAPSHOT_PROTECTED, …). */
  readonly error?: string;
  readonly message?: string;
}

export interface PruneCounts {
  /** Snapshots marked keep, keep-partial or protected. */
  readonly kept: number;
  /** Snapshots removed; in a dry run, those that would be removed. */
  readonly removed: number;
  /** Snapshots marked 'remove' that could not be removed (busy, protected meanwhile, gone). */
  readonly skipped: number;
}

export interface PruneGroupResult extends PruneCounts {
  readonly group: BackupGroup;
  readonly dryRun: boolean;
  /** Newest first. */
  readonly snapshots: PruneSnapshotResult[];
}

/** Why a removal failed, as a code, or undefined for a bug that must propagate. */
function skipCode(err: unknown): { error: string; message: string } | undefined {
  if (isBulwarkError(err)) return { error: err.code, message: err.message };
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof errno === 'string') return { error: 'BULWARK_IO', message: `${errno}: ${(err as Error).message}` };
  return undefined;
}

/** Prune one group: list, decide, and (unless dryRun) remove each 'remove' snapshot. */
export async function pruneGroup(store: string, group: BackupGroup, keep: KeepOptions, opts: PruneRunOptions = {}): Promise<PruneGroupResult> {
  const dryRun = opts.dryRun === true;
  const items = (await listSnapshots(store, group)).map((s) => ({ dir: s.dir, time: s.dir.time, finished: s.finished, protected: s.protected }));
  const decisions = selectPrune(items, keep, { timeZone: opts.timeZone });
  const snapshots: PruneSnapshotResult[] = [];
  let kept = 0;
  let removed = 0;
  let skipped = 0;
  for (const { item, mark, reason } of decisions) {
    const base = { dir: item.dir, mark, reason };
    if (mark !== 'remove') {
      kept++;
      snapshots.push(dryRun ? base : { ...base, removed: false });
    } else if (dryRun) {
      removed++;
      snapshots.push(base);
    } else {
      try {
        await removeSnapshot(store, item.dir);
        removed++;
        snapshots.push({ ...base, removed: true });
      } catch (err) {
        const why = skipCode(err);
        if (why === undefined) throw err;
        skipped++;
        snapshots.push({ ...base, removed: false, ...why });
      }
    }
  }
  return { group, dryRun, snapshots, kept, removed, skipped };
}

export interface PruneNamespaceOptions extends PruneRunOptions {
  /** Namespace levels below `ns` to include (0: only `ns`; default all, up to 7). */
  readonly maxDepth?: number;
  /** Called after each group, in order; awaited, so a slow consumer slows the walk. */
  readonly onGroup?: (result: PruneGroupResult) => void | Promise<void>;
  /** Checked before each group; an abort throws BULWARK_ABORTED. Removals already done stay done. */
  readonly signal?: AbortSignal;
}

export interface PruneTotals extends PruneCounts {
  readonly groups: number;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted !== true) return;
  const reason: unknown = signal.reason;
  throw bulwarkError('BULWARK_ABORTED', 'prune', reason instanceof Error ? reason.message : String(reason ?? 'aborted'));
}

/**
 * Prune every group in `ns` and the namespaces below it (to `maxDepth`),
 * group by group. A namespace or group removed by someone else during the
 * walk is passed over; `ns` itself must exist (BULWARK_NOT_FOUND).
 */
export async function pruneNamespace(store: string, ns: BackupNamespace, keep: KeepOptions, opts: PruneNamespaceOptions = {}): Promise<PruneTotals> {
  validateKeepOptions(keep);
  validateTimeZone(opts.timeZone ?? 'UTC');
  const maxDepth = opts.maxDepth ?? MAX_NAMESPACE_DEPTH;
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 0 || maxDepth > MAX_NAMESPACE_DEPTH) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'max-depth', `${String(maxDepth)} (must be an integer from 0 to ${MAX_NAMESPACE_DEPTH})`);
  }
  checkAborted(opts.signal);
  const totals = { groups: 0, kept: 0, removed: 0, skipped: 0 };
  for (const sub of await listNamespaces(store, ns, maxDepth)) {
    let groups;
    try {
      groups = await listGroups(store, sub);
    } catch (err) {
      if (isBulwarkError(err, 'BULWARK_NOT_FOUND')) continue;
      throw err;
    }
    for (const { group } of groups) {
      checkAborted(opts.signal);
      let result: PruneGroupResult;
      try {
        result = await pruneGroup(store, group, keep, opts);
      } catch (err) {
        if (isBulwarkError(err, 'BULWARK_NOT_FOUND')) continue;
        throw err;
      }
      totals.groups++;
      totals.kept += result.kept;
      totals.removed += result.removed;
      totals.skipped += result.skipped;
      await opts.onGroup?.(result);
    }
  }
  return totals;
}
