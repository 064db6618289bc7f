/**
 * Job state in RocksDB, after PBS's jobstate: for each scheduled job
 * (`garbage_collection/<store>`, `prunejob/<id>`, `verificationjob/<id>`)
 * the UPID and start of its last run, and when it ended and how; plus the
 * last GC status of each store for `GET .../gc`. Everything here can be
 * lost: a missing job state means "never run", so the scheduler runs the
 * job at its next event (or at once when catching up), and the GC status
 * comes back with the next GC.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { bulwarkError } from '../errors.ts';
import { errorMessage, isLockError, isNotFound, openOrReset, type LevelDb } from './level-db.ts';

export interface JobRunState {
  /**
   * `created` marks when the scheduler first saw the job (its schedule counts
   * from there, as in PBS); `started` is recorded before the job does any
   * work, so a crash does not re-run it at once.
   */
  readonly state: 'created' | 'started' | 'finished';
  readonly upid?: string;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly endedAt?: number;
  /** PBS exit status text: `OK`, `WARNINGS: n`, the error, or `aborted`. */
  readonly status?: string;
  /** When the scheduler will next start the job (epoch ms), as of its last check. */
  readonly nextRun?: number;
}

export const jobKey = (jobType: string, id: string): string => `job:${jobType}:${id}`;

export class JobStateStore {
  readonly #db: LevelDb;
  /** Why the database was recreated empty on open, if it was. */
  readonly reset: string | undefined;

  private constructor(db: LevelDb, reset: string | undefined) {
    this.#db = db;
    this.reset = reset;
  }

  static async open(location: string): Promise<JobStateStore> {
    mkdirSync(dirname(location), { recursive: true });
    try {
      const { db, reset } = await openOrReset(location);
      return new JobStateStore(db, reset);
    } catch (err) {
      if (isLockError(err)) throw bulwarkError('BULWARK_LOCKED', `job state ${location}`, errorMessage(err));
      throw bulwarkError('BULWARK_IO', `job state ${location}`, errorMessage(err), { cause: err });
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    try {
      return (await this.#db.get(key)) as T;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw bulwarkError('BULWARK_IO', 'job state', errorMessage(err), { cause: err });
    }
  }

  async put(key: string, value: unknown): Promise<void> {
    await this.#db.put(key, value);
  }

  jobRun(jobType: string, id: string): Promise<JobRunState | undefined> {
    return this.get<JobRunState>(jobKey(jobType, id));
  }

  recordCreated(jobType: string, id: string, at: number): Promise<void> {
    return this.put(jobKey(jobType, id), { state: 'created', startedAt: at } satisfies JobRunState);
  }

  /** Remembers the next event, for listings; a no-op when unchanged. */
  async recordNextRun(jobType: string, id: string, nextRun: number | undefined): Promise<void> {
    const cur = await this.jobRun(jobType, id);
    if (!cur || cur.nextRun === nextRun) return;
    const { nextRun: _old, ...rest } = cur;
    await this.put(jobKey(jobType, id), nextRun === undefined ? rest : { ...rest, nextRun });
  }

  recordStarted(jobType: string, id: string, upid: string, startedAt: number): Promise<void> {
    return this.put(jobKey(jobType, id), { state: 'started', upid, startedAt } satisfies JobRunState);
  }

  async recordFinished(jobType: string, id: string, upid: string, endedAt: number, status: string): Promise<void> {
    const prev = await this.jobRun(jobType, id);
    if (prev && prev.upid !== upid) return; // a newer run has started meanwhile
    await this.put(jobKey(jobType, id), { state: 'finished', upid, startedAt: prev?.startedAt ?? endedAt, endedAt, status } satisfies JobRunState);
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
