/**
 * What each job does, bound to the datastore engine: the `work` actor of
 * the GC, prune and verify job machines. Each reports its phases to the job
 * actor, writes its task log (warnings counted), honours the task's abort
 * signal, and resolves with its statistics.
 *
 * Parameters arrive as the API names them (`keep-last`, `ns`, `max-depth`,
 * `ignore-verified`, `outdated-after`, `dry-run`) and are checked here too,
 * so a scheduled run with a hand-edited config fails its task clearly.
 */
import { fromPromise } from 'xstate';
import { BackupGroup, BackupNamespace } from '../datastore/backup-ref.ts';
import { isBackupType } from '../datastore/names.ts';
import { runGarbageCollection } from '../datastore/gc.ts';
import { pruneNamespace } from '../datastore/prune-apply.ts';
import { validateKeepOptions, type KeepOptions } from '../datastore/prune.ts';
import type { SafetyParameters } from '../datastore/safety.ts';
import { verifyGroup, verifyNamespace } from '../datastore/verify-job.ts';
import { bulwarkError } from '../errors.ts';
import type { WorkInput, WorkResult } from '../machines/job.types.ts';
import type { JobService } from './job-service.ts';

export interface WorkOptions {
  readonly safety?: SafetyParameters;
  readonly now?: () => number;
}

const KEEP_PARAMS: Record<string, keyof KeepOptions> = {
  'keep-last': 'keepLast', 'keep-hourly': 'keepHourly', 'keep-daily': 'keepDaily',
  'keep-weekly': 'keepWeekly', 'keep-monthly': 'keepMonthly', 'keep-yearly': 'keepYearly',
};

export function keepOptionsOf(params: Readonly<Record<string, unknown>>): KeepOptions {
  const keep: Record<string, unknown> = {};
  for (const [param, option] of Object.entries(KEEP_PARAMS)) if (params[param] !== undefined) keep[option] = params[param];
  return validateKeepOptions(keep);
}

function namespaceOf(params: Readonly<Record<string, unknown>>): BackupNamespace {
  const ns = params.ns;
  if (ns === undefined || ns === '') return BackupNamespace.root;
  if (typeof ns !== 'string') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'ns', JSON.stringify(ns));
  return BackupNamespace.parse(ns);
}

/** The group to verify when `backup-type` and `backup-id` are given. */
function groupOf(params: Readonly<Record<string, unknown>>, ns: BackupNamespace): BackupGroup | undefined {
  const type = params['backup-type'];
  const id = params['backup-id'];
  if (type === undefined && id === undefined) return undefined;
  if (typeof type !== 'string' || !isBackupType(type)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'backup-type', JSON.stringify(type));
  if (typeof id !== 'string') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'backup-id', JSON.stringify(id));
  return new BackupGroup(ns, type, id);
}

function optionalInt(params: Readonly<Record<string, unknown>>, name: string): number | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, JSON.stringify(v));
  return v;
}

const report = (input: WorkInput, phase: string) => input.job.send({ type: 'PHASE', phase });

export function gcWork(service: JobService, opts: WorkOptions = {}) {
  return fromPromise<WorkResult, WorkInput>(async ({ input }) => {
    const task = service.taskLog(input.upid);
    task.log(`starting garbage collection on store ${input.store}`);
    if (input.restarts) task.log(`restarted after a crash (${input.restarts})`);
    let warnings = 0;
    const status = await runGarbageCollection(input.storePath, {
      ...(opts.safety && { safety: opts.safety }),
      ...(opts.now && { now: opts.now }),
      signal: task.signal,
      onPhase: (phase) => report(input, phase === 'mark' ? 'marking' : 'sweeping'),
      onProgress: (p) => input.job.send({ type: 'PROGRESS', done: p.done, ...(p.total !== undefined && { total: p.total }) }),
      log: (line) => {
        if (!/^warn/i.test(line)) return task.log(line);
        warnings++;
        task.warn(line.replace(/^warning:\s*/i, ''));
      },
    });
    return { result: status, warnings };
  });
}

export function pruneWork(service: JobService) {
  return fromPromise<WorkResult, WorkInput>(async ({ input }) => {
    const task = service.taskLog(input.upid);
    const keep = keepOptionsOf(input.params);
    const ns = namespaceOf(input.params);
    const dryRun = input.params['dry-run'] === true;
    const maxDepth = optionalInt(input.params, 'max-depth');
    task.log(`starting prune on store ${input.store}, ${ns.describe()}${dryRun ? ' (dry run)' : ''}`);
    task.log(`retention options: ${Object.entries(KEEP_PARAMS).filter(([p]) => input.params[p] !== undefined).map(([p]) => `--${p} ${String(input.params[p])}`).join(' ') || 'none (nothing is pruned)'}`);
    report(input, 'removing');
    let warnings = 0;
    const totals = await pruneNamespace(input.storePath, ns, keep, {
      dryRun, signal: task.signal,
      ...(maxDepth !== undefined && { maxDepth }),
      onGroup: (g) => {
        task.log(`group ${g.group.describe()}: keep ${g.kept}, remove ${g.removed}${g.skipped ? `, skipped ${g.skipped}` : ''}`);
        for (const s of g.snapshots) {
          const line = `${s.dir.describe()} ${s.mark}${s.reason ? ` (${s.reason})` : ''}${s.error ? ` — not removed: ${s.message ?? s.error}` : ''}`;
          if (s.error) { warnings++; task.warn(line); } else task.log(line);
        }
      },
    });
    task.log(`pruned ${totals.groups} groups: kept ${totals.kept}, removed ${totals.removed}, skipped ${totals.skipped}`);
    return { result: totals, warnings };
  });
}

export function verifyWork(service: JobService) {
  return fromPromise<WorkResult, WorkInput>(async ({ input }) => {
    const task = service.taskLog(input.upid);
    const ns = namespaceOf(input.params);
    const maxDepth = optionalInt(input.params, 'max-depth');
    const outdatedAfterDays = optionalInt(input.params, 'outdated-after');
    const ignoreVerified = input.params['ignore-verified'] === true;
    task.log(`starting verification on store ${input.store}, ${ns.describe()}`);
    report(input, 'verifying');
    let done = 0;
    const options = {
      upid: input.upid, signal: task.signal, ignoreVerified,
      ...(outdatedAfterDays !== undefined && { outdatedAfterDays }),
      log: (line: string) => task.log(line),
      onSnapshot: (r: { dir: { describe(): string }; result: string; problemCount: number }) => {
        input.job.send({ type: 'PROGRESS', done: ++done });
        if (r.result === 'failed') task.warn(`verify ${r.dir.describe()} failed: ${r.problemCount} problem(s)`);
      },
    };
    const group = groupOf(input.params, ns);
    const totals = group
      ? await verifyGroup(input.storePath, group, options)
      : await verifyNamespace(input.storePath, ns, { ...options, ...(maxDepth !== undefined && { maxDepth }) });
    task.log(`verified ${totals.snapshots} snapshots: ${totals.ok} ok, ${totals.failed} failed, ${totals.skipped} skipped; ${totals.chunks} chunks, ${totals.bytes} bytes`);
    if (totals.failed > 0) throw bulwarkError('BULWARK_VERIFY_FAILED', totals.failed, totals.errors.slice(0, 5).join(', '));
    return { result: totals, warnings: 0 };
  });
}
