/**
 * verification.json: verify jobs keyed by id, with PBS's verification.cfg
 * field names. A job without a schedule runs only when started by hand.
 * `ignore-verified` defaults to true as in PBS (skip snapshots whose last
 * verify passed, unless it is older than `outdated-after` days); the default
 * is applied when read, not written, so a file states only what was chosen.
 */
import type { Loaded } from './config-file.ts';
import { COMMON_FIELDS, TRAILING_FIELDS, count, flag, jobFile, schedule, type JobSchema } from './job-config.ts';

export interface VerifyJob {
  readonly id: string;
  readonly store: string;
  /** `a/b/c`; absent means the root namespace. */
  readonly ns?: string;
  readonly 'max-depth'?: number;
  readonly schedule?: string;
  readonly 'ignore-verified'?: boolean;
  /** Days after which a passed verification counts as outdated. */
  readonly 'outdated-after'?: number;
  readonly disable?: boolean;
  readonly comment?: string;
}

export type VerifyJobMap = Readonly<Record<string, VerifyJob>>;

/** PBS's default for `ignore-verified`. */
export const IGNORE_VERIFIED_DEFAULT = true;

export function ignoresVerified(job: VerifyJob): boolean {
  return job['ignore-verified'] ?? IGNORE_VERIFIED_DEFAULT;
}

const VERIFY_JOB_FIELDS: JobSchema = {
  ...COMMON_FIELDS,
  schedule: { check: schedule },
  'ignore-verified': { check: flag },
  'outdated-after': { check: count },
  ...TRAILING_FIELDS,
};

const verifyJobs = jobFile<VerifyJob>('verify job', VERIFY_JOB_FIELDS);

/** Parser for the file; throws BULWARK_CONFIG_INVALID naming the file and field. */
export function parseVerifyJobs(raw: unknown, file: string): VerifyJobMap {
  return verifyJobs.parse(raw, file);
}

/** API input → job; BULWARK_INVALID_ARGUMENT naming the parameter, or BULWARK_BAD_SCHEDULE. */
export function validateVerifyJob(input: unknown): VerifyJob {
  return verifyJobs.validate(input);
}

export function loadVerifyJobs(file: string): Loaded<VerifyJobMap> {
  return verifyJobs.load(file);
}

/** Create or replace; BULWARK_CONFIG_DIGEST when `expectedDigest` is stale. */
export function saveVerifyJob(file: string, job: VerifyJob, expectedDigest?: string): Loaded<VerifyJobMap> {
  return verifyJobs.save(file, job, expectedDigest);
}

/** BULWARK_NOT_FOUND when absent. */
export function deleteVerifyJob(file: string, id: string, expectedDigest?: string): Loaded<VerifyJobMap> {
  return verifyJobs.remove(file, id, expectedDigest);
}
