/**
 * prune.json: scheduled prune jobs keyed by id, with PBS's prune.cfg field
 * names. A job prunes every group of `store` under `ns` (down to `max-depth`
 * levels) by the keep rules; with no keep rule at all it keeps everything,
 * as PBS does. The schedule is required: a prune job exists to be scheduled.
 */
import type { Loaded } from './config-file.ts';
import { COMMON_FIELDS, TRAILING_FIELDS, count, jobFile, schedule, type JobSchema } from './job-config.ts';

export interface PruneJob {
  readonly id: string;
  readonly store: string;
  /** `a/b/c`; absent means the root namespace. */
  readonly ns?: string;
  readonly 'max-depth'?: number;
  readonly schedule: string;
  readonly 'keep-last'?: number;
  readonly 'keep-hourly'?: number;
  readonly 'keep-daily'?: number;
  readonly 'keep-weekly'?: number;
  readonly 'keep-monthly'?: number;
  readonly 'keep-yearly'?: number;
  readonly disable?: boolean;
  readonly comment?: string;
}

export type PruneJobMap = Readonly<Record<string, PruneJob>>;

const PRUNE_JOB_FIELDS: JobSchema = {
  ...COMMON_FIELDS,
  schedule: { check: schedule, required: true },
  'keep-last': { check: count },
  'keep-hourly': { check: count },
  'keep-daily': { check: count },
  'keep-weekly': { check: count },
  'keep-monthly': { check: count },
  'keep-yearly': { check: count },
  ...TRAILING_FIELDS,
};

const pruneJobs = jobFile<PruneJob>('prune job', PRUNE_JOB_FIELDS);

/** Parser for the file; throws BULWARK_CONFIG_INVALID naming the file and field. */
export function parsePruneJobs(raw: unknown, file: string): PruneJobMap {
  return pruneJobs.parse(raw, file);
}

/** API input → job; BULWARK_INVALID_ARGUMENT naming the parameter, or BULWARK_BAD_SCHEDULE. */
export function validatePruneJob(input: unknown): PruneJob {
  return pruneJobs.validate(input);
}

export function loadPruneJobs(file: string): Loaded<PruneJobMap> {
  return pruneJobs.load(file);
}

/** Create or replace; BULWARK_CONFIG_DIGEST when `expectedDigest` is stale. */
export function savePruneJob(file: string, job: PruneJob, expectedDigest?: string): Loaded<PruneJobMap> {
  return pruneJobs.save(file, job, expectedDigest);
}

/** BULWARK_NOT_FOUND when absent. */
export function deletePruneJob(file: string, id: string, expectedDigest?: string): Loaded<PruneJobMap> {
  return pruneJobs.remove(file, id, expectedDigest);
}
