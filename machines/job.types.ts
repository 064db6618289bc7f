/** Inputs, events and outcome of a job run (machines/job.machine.ts). */
import type { AnyActorRef } from 'xstate';

/** PBS's worker types, as they appear in UPIDs and task lists. */
export type JobWorkerType = 'garbage_collection' | 'prune' | 'prunejob' | 'verify' | 'verificationjob';

export interface JobInput {
  readonly upid: string;
  readonly workerType: JobWorkerType;
  readonly store: string;
  /** The store's directory, resolved when the task was created. */
  readonly storePath: string;
  /** Job-specific parameters (prune keep options, verify filters…), passed through to the work. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Configured job id for scheduled runs (`prunejob`, `verificationjob`), else undefined. */
  readonly jobId?: string;
  /** How many times this run has been restarted after a crash. */
  readonly restarts?: number;
}

export type TaskEndState = 'ok' | 'warnings' | 'error' | 'aborted';

export interface JobOutcome {
  readonly state: TaskEndState;
  readonly message?: string;
  readonly warnings?: number;
  /** The job's own statistics (GC status, prune counts, verify totals). */
  readonly result?: unknown;
}

/** What a job's work reports while it runs; sent to the job actor it got as `input.job`. */
export type JobProgressEvent =
  | { type: 'PHASE'; phase: string }
  | { type: 'PROGRESS'; done: number; total?: number };

export type JobEvent = JobProgressEvent | { type: 'ABORT' };

export interface WorkInput extends JobInput {
  /** The job actor, for PHASE/PROGRESS reports. */
  readonly job: AnyActorRef;
}

/** What the work resolves with: its statistics and how many warnings it logged. */
export interface WorkResult {
  readonly result: unknown;
  readonly warnings: number;
}

export interface JobContext extends JobInput {
  readonly phase: string;
  readonly progress?: { readonly done: number; readonly total?: number };
  readonly outcome?: JobOutcome;
}
