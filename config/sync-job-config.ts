/**
 * sync.json: sync (pull) jobs keyed by id, with PBS's sync.cfg field names.
 * A job copies `remote-store` (under `remote-ns`, `max-depth` levels deep)
 * of `remote` into the local `store` under `ns`; without `remote` it syncs
 * between two local stores. `group-filter` narrows the groups (PBS's
 * `[exclude:]type:vm|group:vm/100|regex:RE`), `remove-vanished` deletes
 * what the source no longer has, `transfer-last` copies only the newest N
 * snapshots per group, and the rate fields limit its bandwidth.
 * Beyond the per-field checks, PBS's two cross-field rules hold: a local
 * sync may not copy a store onto itself, and neither namespace may be
 * walked past the deepest level.
 */
import { MAX_NAMESPACE_DEPTH, validateAuthId, validateBackupId, isBackupType } from '../datastore/names.ts';
import { readConfigFile, type Loaded } from './config-file.ts';
import {
  COMMON_FIELDS, apiFields, comment, fileFields, flag, jobFile, namespace, safeId, schedule,
  type FieldCheck, type FieldSink, type JobSchema,
} from './job-config.ts';
import { safeName } from './keyed-config.ts';
import { RATE_LIMIT_FIELDS } from './traffic-control-config.ts';

export interface SyncJob {
  readonly id: string;
  readonly store: string;
  /** Local target namespace, `a/b/c`; absent means the root. */
  readonly ns?: string;
  readonly 'max-depth'?: number;
  /** Owner of the synced groups; absent means PBS's default, root@pam. */
  readonly owner?: string;
  /** Absent for a sync between two local stores. */
  readonly remote?: string;
  readonly 'remote-store': string;
  readonly 'remote-ns'?: string;
  readonly 'remove-vanished'?: boolean;
  readonly schedule?: string;
  readonly 'group-filter'?: readonly string[];
  readonly 'rate-in'?: string;
  readonly 'burst-in'?: string;
  readonly 'rate-out'?: string;
  readonly 'burst-out'?: string;
  readonly 'transfer-last'?: number;
  readonly comment?: string;
}

export type SyncJobMap = Readonly<Record<string, SyncJob>>;

/** The default owner of synced groups when a job names none (PBS). */
export const DEFAULT_SYNC_OWNER = 'root@pam';

const show = (v: unknown): string => (JSON.stringify(v) ?? String(v)).slice(0, 60);

/** Why `text` is not a PBS group filter, or undefined. Stored as PBS prints it (`include:` dropped). */
export function groupFilterProblem(text: string): string | undefined {
  const body = text.replace(/^(?:include|exclude):/, '');
  const colon = body.indexOf(':');
  const kind = colon < 0 ? '' : body.slice(0, colon);
  const value = body.slice(colon + 1);
  if (kind === 'type') return isBackupType(value) ? undefined : `type must be vm, ct or host, got ${show(value)}`;
  if (kind === 'group') {
    const slash = value.indexOf('/');
    if (slash < 0 || !isBackupType(value.slice(0, slash))) return `group must be <vm|ct|host>/<id>, got ${show(value)}`;
    try {
      validateBackupId(value.slice(slash + 1));
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }
  if (kind === 'regex') {
    try {
      new RegExp(value);
      return undefined;
    } catch (err) {
      return `bad regular expression: ${(err as Error).message}`;
    }
  }
  return "expected [exclude:|include:]type:<vm|ct|host>, group:<type>/<id> or regex:<RE>";
}

const groupFilters: FieldCheck = (v, field, sink) => {
  if (!Array.isArray(v)) return sink.invalid(field, `must be a list, got ${show(v)}`);
  for (const f of v) {
    const problem = typeof f === 'string' ? groupFilterProblem(f) : 'not a string';
    if (problem !== undefined) sink.invalid(field, `${show(f)}: ${problem}`);
  }
  return v.length === 0 ? undefined : v.map((f: string) => f.replace(/^include:/, ''));
};

const authId: FieldCheck = (v, field, sink) => {
  try {
    return validateAuthId(v);
  } catch (err) {
    return sink.invalid(field, (err as Error).message);
  }
};

const atLeastOne: FieldCheck = (v, field, sink) =>
  Number.isSafeInteger(v) && (v as number) >= 1 ? v : sink.invalid(field, `must be an integer of at least 1, got ${show(v)}`);

const SYNC_JOB_FIELDS: JobSchema = {
  ...COMMON_FIELDS,
  owner: { check: authId },
  remote: { check: safeName },
  'remote-store': { check: safeId, required: true },
  'remote-ns': { check: namespace },
  'remove-vanished': { check: flag },
  schedule: { check: schedule },
  'group-filter': { check: groupFilters },
  ...RATE_LIMIT_FIELDS,
  'transfer-last': { check: atLeastOne },
  comment: { check: comment },
};

const syncJobs = jobFile<SyncJob>('sync job', SYNC_JOB_FIELDS);

/** PBS's create/update checks that span fields. */
function crossCheck(job: SyncJob, sink: FieldSink): SyncJob {
  if (job.remote === undefined && job.store === job['remote-store']) {
    sink.invalid('remote-store', "source and target datastore can't be the same");
  }
  const depth = job['remote-ns'] === undefined ? 0 : job['remote-ns'].split('/').length;
  const below = job['max-depth'];
  if (below !== undefined && depth + below > MAX_NAMESPACE_DEPTH) {
    sink.invalid('max-depth', `remote-ns ${show(job['remote-ns'])} is ${depth} levels deep, so max-depth may be at most ${MAX_NAMESPACE_DEPTH - depth}, got ${below}`);
  }
  return job;
}

/** Parser for the file; throws BULWARK_CONFIG_INVALID naming the file and field. */
export function parseSyncJobs(raw: unknown, file: string): SyncJobMap {
  const jobs = syncJobs.parse(raw, file);
  for (const [id, job] of Object.entries(jobs)) crossCheck(job, fileFields(file, `sync job ${id}`));
  return jobs;
}

/** API input → job; BULWARK_INVALID_ARGUMENT naming the parameter, or BULWARK_BAD_SCHEDULE. */
export function validateSyncJob(input: unknown): SyncJob {
  return crossCheck(syncJobs.validate(input), apiFields);
}

export function loadSyncJobs(file: string): Loaded<SyncJobMap> {
  return readConfigFile(file, parseSyncJobs, () => ({}));
}

/** Create or replace; BULWARK_CONFIG_DIGEST when `expectedDigest` is stale. */
export function saveSyncJob(file: string, job: SyncJob, expectedDigest?: string): Loaded<SyncJobMap> {
  validateSyncJob(job);
  return syncJobs.save(file, job, expectedDigest);
}

/** BULWARK_NOT_FOUND when absent. */
export function deleteSyncJob(file: string, id: string, expectedDigest?: string): Loaded<SyncJobMap> {
  return syncJobs.remove(file, id, expectedDigest);
}

/** The owner synced groups get: the job's, or PBS's default. */
export function syncOwner(job: SyncJob): string {
  return job.owner ?? DEFAULT_SYNC_OWNER;
}
