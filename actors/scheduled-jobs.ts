/**
 * Which configured jobs are due, after PBS's scheduler: each job's next
 * event is computed from its last run (or from when it was first seen),
 * so a server that was down across several events runs the job once when it
 * comes back, not once per missed event. A job whose last run is still going
 * is not started again.
 */
import { loadDatastoreConfig } from '../config/datastore-config.ts';
import type { ConfigPaths } from '../config/paths.ts';
import { loadPruneJobs } from '../config/prune-job-config.ts';
import { parseSchedule } from '../config/schedule.ts';
import { ignoresVerified, loadVerifyJobs } from '../config/verify-job-config.ts';
import type { JobKind } from '../machines/jobs.machine.ts';
import type { JobRequest, JobService } from './job-service.ts';
import { jobStateId } from './job-service.ts';

/** Scheduled tasks run as PBS's do: under the superuser. */
export const SCHEDULER_USER = 'root@pam';

export interface ScheduledJob {
  readonly kind: JobKind;
  readonly store: string;
  readonly schedule: string;
  readonly jobId?: string;
  readonly params: Readonly<Record<string, unknown>>;
}

function pick(obj: object, keys: readonly string[]): Record<string, unknown> {
  const rec = obj as Readonly<Record<string, unknown>>;
  return Object.fromEntries(keys.filter((k) => rec[k] !== undefined).map((k) => [k, rec[k]]));
}

/** Every enabled job with a schedule, from the config files as they are now. */
export function configuredJobs(paths: Pick<ConfigPaths, 'datastoreConfig' | 'pruneJobs' | 'verifyJobs'>): ScheduledJob[] {
  const jobs: ScheduledJob[] = [];
  for (const store of Object.values(loadDatastoreConfig(paths.datastoreConfig).data)) {
    if (store['gc-schedule']) jobs.push({ kind: 'gc', store: store.name, schedule: store['gc-schedule'], params: {} });
  }
  for (const job of Object.values(loadPruneJobs(paths.pruneJobs).data)) {
    if (job.disable) continue;
    jobs.push({
      kind: 'prune', store: job.store, schedule: job.schedule, jobId: job.id,
      params: pick(job, ['ns', 'max-depth', 'keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-yearly']),
    });
  }
  for (const job of Object.values(loadVerifyJobs(paths.verifyJobs).data)) {
    if (job.disable || !job.schedule) continue;
    jobs.push({
      kind: 'verify', store: job.store, schedule: job.schedule, jobId: job.id,
      params: { ...pick(job, ['ns', 'max-depth', 'outdated-after']), 'ignore-verified': ignoresVerified(job) },
    });
  }
  return jobs;
}

export interface DueCheck {
  readonly started: string[];
  /** Jobs that could not be started (store offline, say), with why; retried at the next event. */
  readonly failed: { readonly job: ScheduledJob; readonly error: unknown }[];
}

/** Start every job whose next event (after its last run) is not after `now`. */
export async function startDueJobs(service: JobService, jobs: readonly ScheduledJob[], now: number): Promise<DueCheck> {
  const started: string[] = [];
  const failed: DueCheck['failed'] = [];
  for (const job of jobs) {
    const key = jobStateId(job.kind, job.store, job.jobId)!;
    const last = await service.state.jobRun(key.jobType, key.id);
    if (last === undefined) {
      await service.state.recordCreated(key.jobType, key.id, now);
      continue;
    }
    if (last.state === 'started' && last.upid !== undefined && service.isRunning(last.upid)) continue;
    const schedule = parseSchedule(job.schedule);
    const next = schedule.next(last.startedAt);
    if (next === undefined || next > now) {
      await service.state.recordNextRun(key.jobType, key.id, next);
      continue;
    }
    const request: JobRequest = { kind: job.kind, store: job.store, user: SCHEDULER_USER, params: job.params, ...(job.jobId !== undefined && { jobId: job.jobId }) };
    try {
      started.push(await service.start(request));
    } catch (error) {
      failed.push({ job, error });
    }
  }
  return { started, failed };
}
