/**
 * The scheduler: once a minute (PBS's own rhythm) it asks `runDueJobs` to
 * start every configured job whose calendar event has passed since its last
 * run. At start it first catches up: a job that missed runs while the server
 * was down runs once, not once per missed event. A tick that arrives while a
 * check is still running is dropped, so checks never overlap.
 *
 * The ticker and the check are provided by actors/ (node-cron and the job
 * state store); tests drive TICK by hand.
 */
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import { notProvided } from './not-provided.ts';

export interface SchedulerCheckInput {
  /** True for the first check after start: missed runs are caught up once. */
  readonly catchUp: boolean;
}

export interface SchedulerCheckResult {
  /** UPIDs of the jobs started by this check. */
  readonly started: readonly string[];
}

export interface SchedulerContext {
  readonly checks: number;
  readonly lastStarted: readonly string[];
  readonly lastError?: string;
}

export type SchedulerEvent = { type: 'TICK' };

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export const schedulerMachine = setup({
  types: {
    context: {} as SchedulerContext,
    events: {} as SchedulerEvent,
  },
  actors: {
    ticker: fromCallback<SchedulerEvent>(() => notProvided('ticker')),
    runDueJobs: fromPromise<SchedulerCheckResult, SchedulerCheckInput>(async () => notProvided('runDueJobs')),
  },
}).createMachine({
  id: 'scheduler',
  context: { checks: 0, lastStarted: [] },
  invoke: { id: 'ticker', src: 'ticker' },
  initial: 'catchingUp',
  states: {
    catchingUp: {
      invoke: {
        src: 'runDueJobs',
        input: { catchUp: true },
        onDone: { target: 'idle', actions: assign(({ context, event }) => ({ checks: context.checks + 1, lastStarted: event.output.started, lastError: undefined })) },
        onError: { target: 'idle', actions: assign(({ context, event }) => ({ checks: context.checks + 1, lastStarted: [], lastError: describe(event.error) })) },
      },
    },
    idle: { on: { TICK: 'checking' } },
    checking: {
      invoke: {
        src: 'runDueJobs',
        input: { catchUp: false },
        onDone: { target: 'idle', actions: assign(({ context, event }) => ({ checks: context.checks + 1, lastStarted: event.output.started, lastError: undefined })) },
        // A failed check (unreadable config, say) is retried at the next tick.
        onError: { target: 'idle', actions: assign(({ context, event }) => ({ checks: context.checks + 1, lastStarted: [], lastError: describe(event.error) })) },
      },
    },
  },
});
