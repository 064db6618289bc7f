/**
 * Starting and ending maintenance tasks. A start (from the API or the
 * scheduler) resolves the store, creates the task record (so the caller gets
 * its UPID at once), records `Started` in the job state before any work,
 * and hands the run to the jobs supervisor (machines/jobs.machine.ts). The
 * job actor calls finish() at its one checkpoint; abort() reaches it
 * through the supervisor.
 */
import type { Logger } from 'pino';
import { bulwarkError } from '../errors.ts';
import type { JobInput, JobOutcome, JobWorkerType } from '../machines/job.types.ts';
import { jobSystemId, type JobKind, type JobsEvent } from '../machines/jobs.machine.ts';
import type { JobStateStore } from './job-state.ts';
import { resolveStore, type ActorLookup } from './store-access.ts';
import type { TaskHandle, TaskStore } from './tasks/task-store.ts';

export interface JobRequest {
  readonly kind: JobKind;
  readonly store: string;
  /** Auth id that asked for it (`root@pam`-like for the scheduler). */
  readonly user: string;
  readonly params?: Readonly<Record<string, unknown>>;
  /** The configured job (prune/verify job id) when the scheduler starts it. */
  readonly jobId?: string;
}

export interface JobSystem extends ActorLookup {
  get(systemId: string): ({ getSnapshot(): unknown; send(event: JobsEvent): void }) | undefined;
}

/** PBS's worker type: scheduled jobs have their own names. */
export function workerTypeOf(kind: JobKind, jobId: string | undefined): JobWorkerType {
  if (kind === 'gc') return 'garbage_collection';
  if (kind === 'prune') return jobId === undefined ? 'prune' : 'prunejob';
  return jobId === undefined ? 'verify' : 'verificationjob';
}

/** The job-state key of a run: GC state is per store, job state per configured job. */
export function jobStateId(kind: JobKind, store: string, jobId: string | undefined): { jobType: string; id: string } | undefined {
  if (kind === 'gc') return { jobType: 'garbage_collection', id: store };
  if (jobId === undefined) return undefined;
  return { jobType: kind === 'prune' ? 'prunejob' : 'verificationjob', id: jobId };
}

export const gcStatusKey = (store: string): string => `gc-status:${store}`;

export class JobService {
  readonly tasks: TaskStore;
  readonly state: JobStateStore;
  readonly #system: () => JobSystem;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #handles = new Map<string, { handle: TaskHandle; input: JobInput; warnings: number }>();
  /** Callers of abortAll waiting for a task to end. */
  readonly #waiters = new Map<string, () => void>();

  constructor(opts: { tasks: TaskStore; state: JobStateStore; system: () => JobSystem; log: Logger; now?: () => number }) {
    this.tasks = opts.tasks;
    this.state = opts.state;
    this.#system = opts.system;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
  }

  async start(req: JobRequest): Promise<string> {
    const system = this.#system();
    const storePath = resolveStore(system, req.store, req.kind === 'verify' ? 'readable' : 'writable', 'maintenance jobs are');
    const jobs = system.get('jobs');
    if (!jobs) throw bulwarkError('BULWARK_INTERNAL', 'the jobs supervisor is not running');
    const workerType = workerTypeOf(req.kind, req.jobId);
    const handle = await this.tasks.start({ type: workerType, id: req.jobId === undefined ? req.store : `${req.store}:${req.jobId}`, user: req.user });
    const input: JobInput = {
      upid: handle.upid, workerType, store: req.store, storePath, params: req.params ?? {},
      ...(req.jobId !== undefined && { jobId: req.jobId }),
    };
    this.#handles.set(handle.upid, { handle, input, warnings: 0 });
    const key = jobStateId(req.kind, req.store, req.jobId);
    if (key) await this.state.recordStarted(key.jobType, key.id, handle.upid, this.#now());
    jobs.send({ type: 'START_JOB', kind: req.kind, input });
    return handle.upid;
  }

  /** The running task's log, for the job's work. */
  taskLog(upid: string): { log(line: string): void; warn(line: string): void; signal: AbortSignal } {
    const entry = this.#handles.get(upid);
    if (!entry) throw bulwarkError('BULWARK_NOT_FOUND', `running task ${upid}`);
    return {
      log: (line) => entry.handle.log(line),
      warn: (line) => { entry.warnings++; entry.handle.warn(line); },
      signal: entry.handle.abortSignal,
    };
  }

  isRunning(upid: string): boolean {
    return this.#handles.has(upid);
  }

  /** The one checkpoint of a job run: task log end line, index, job state, GC status. */
  async finish(upid: string, outcome: JobOutcome): Promise<void> {
    const entry = this.#handles.get(upid);
    if (!entry) return;
    this.#handles.delete(upid);
    const { input, handle } = entry;
    try {
      if (outcome.state === 'error' && outcome.message) handle.log(`error: ${outcome.message}`);
      const done = await handle.finish({ state: outcome.state, ...(outcome.message !== undefined && { message: outcome.message }) });
      const kind = input.workerType === 'garbage_collection' ? 'gc' : input.workerType.startsWith('prune') ? 'prune' : 'verify';
      const key = jobStateId(kind, input.store, input.jobId);
      if (key) await this.state.recordFinished(key.jobType, key.id, upid, this.#now(), done.exitstatus ?? outcome.state);
      if (kind === 'gc' && outcome.result !== undefined) await this.state.put(gcStatusKey(input.store), { upid, ...(outcome.result as object) });
      this.#log.info({ upid, state: outcome.state }, 'task finished');
    } finally {
      this.#waiters.get(upid)?.();
      this.#waiters.delete(upid);
    }
  }

  /** Abort a running job (true) or any other running task of this process; false when nothing runs under that UPID. */
  abort(upid: string): boolean {
    const jobs = this.#system().get('jobs');
    if (this.#handles.has(upid) && jobs) {
      jobs.send({ type: 'ABORT_JOB', upid });
      return true;
    }
    return this.tasks.requestAbort(upid);
  }

  /**
   * Asks every running job to stop and waits until each has recorded its end
   * (or the timeout passes; what is left is settled from its log at the
   * next start).
   */
  async abortAll(timeoutMs: number): Promise<void> {
    const running = [...this.#handles.keys()];
    if (running.length === 0) return;
    const ended = Promise.all(running.map((upid) => new Promise<void>((resolve) => {
      this.#waiters.set(upid, resolve);
      this.abort(upid);
    })));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
    clearTimeout(timer);
  }

  /** Whether the jobs supervisor has a live actor for this UPID (for tests and the visualiser). */
  hasActor(upid: string): boolean {
    return this.#system().get(jobSystemId(upid)) !== undefined;
  }
}
