/**
 * The jobs supervisor: one actor per running task (GC, prune, verify),
 * registered as `job:<upid>` so the API and the visualiser can reach it with
 * `system.get`. The task record exists before START_JOB (the API has already
 * returned its UPID); this supervisor only runs it.
 *
 * A job that crashes (an untyped error escapes its work) is started again
 * from the beginning with back-off under the same UPID: every job is written
 * to be re-run safely (GC and verify redo their walk, prune re-selects). Past
 * the restart policy it gives up and the task ends in error. Either way no
 * other job or session notices.
 */
import { enqueueActions, setup, type ActorRefFrom, type DoneActorEvent, type ErrorActorEvent } from 'xstate';
import { gcJobMachine } from './gc-job.machine.ts';
import type { JobInput } from './job.types.ts';
import { notProvided } from './not-provided.ts';
import { pruneJobMachine } from './prune-job.machine.ts';
import { countCrash, decideRestart, DEFAULT_RESTART_POLICY, expireCrash, type CrashCounts, type RestartPolicy } from './supervision.ts';
import { verifyJobMachine } from './verify-job.machine.ts';

export type JobKind = 'gc' | 'prune' | 'verify';

export interface RunningJob {
  readonly kind: JobKind;
  readonly input: JobInput;
}

export interface JobsContext {
  readonly restartPolicy: RestartPolicy;
  /** Jobs by UPID: running ones and crashed ones waiting to restart. */
  readonly jobs: Readonly<Record<string, RunningJob>>;
  readonly crashes: CrashCounts;
}

export type JobsEvent =
  | { type: 'START_JOB'; kind: JobKind; input: JobInput }
  | { type: 'ABORT_JOB'; upid: string }
  | { type: 'RESTART_JOB'; upid: string }
  | { type: 'CRASH_EXPIRED'; upid: string };

export const jobSystemId = (upid: string): string => `job:${upid}`;
const upidOfActor = (actorId: string): string => actorId.slice('job:'.length);

export const jobsMachine = setup({
  types: {
    input: {} as { restartPolicy?: RestartPolicy } | undefined,
    context: {} as JobsContext,
    events: {} as JobsEvent | DoneActorEvent | ErrorActorEvent,
  },
  actors: { gc: gcJobMachine, prune: pruneJobMachine, verify: verifyJobMachine },
  actions: {
    jobRestarting: (_, _params: { upid: string; error: unknown; crashes: number; delayMs: number }) => notProvided('jobRestarting'),
    /** The task must be ended: in error after too many crashes, or aborted while it waited to restart. */
    jobGaveUp: (_, _params: { upid: string; error: unknown; crashes: number; aborted?: boolean }) => notProvided('jobGaveUp'),
  },
}).createMachine({
  id: 'jobs',
  context: ({ input }) => ({ restartPolicy: input?.restartPolicy ?? DEFAULT_RESTART_POLICY, jobs: {}, crashes: {} }),
  on: {
    START_JOB: {
      guard: ({ context, event }) => context.jobs[event.input.upid] === undefined,
      actions: enqueueActions(({ enqueue, context, event }) => {
        const id = jobSystemId(event.input.upid);
        enqueue.spawnChild(event.kind, { id, systemId: id, input: event.input });
        enqueue.assign({ jobs: { ...context.jobs, [event.input.upid]: { kind: event.kind, input: event.input } } });
      }),
    },
    ABORT_JOB: {
      actions: enqueueActions(({ enqueue, system, event, context }) => {
        const ref = system.get(jobSystemId(event.upid)) as ActorRefFrom<typeof gcJobMachine> | undefined;
        if (ref) {
          enqueue.sendTo(ref, { type: 'ABORT' });
        } else if (context.jobs[event.upid]) {
          // Crashed and waiting for its back-off: nothing runs, so end it here.
          const { [event.upid]: _gone, ...rest } = context.jobs;
          enqueue.assign({ jobs: rest });
          enqueue({ type: 'jobGaveUp', params: { upid: event.upid, error: undefined, crashes: context.crashes[event.upid] ?? 0, aborted: true } });
        }
      }),
    },
    'xstate.done.actor.*': {
      actions: enqueueActions(({ enqueue, context, event }) => {
        const { [upidOfActor(event.actorId)]: _done, ...rest } = context.jobs;
        enqueue.assign({ jobs: rest });
      }),
    },
    // Handling the error here is what keeps a crashed job from reaching the root.
    'xstate.error.actor.*': {
      actions: enqueueActions(({ enqueue, context, event }) => {
        const upid = upidOfActor(event.actorId);
        const job = context.jobs[upid];
        if (!job) return;
        const decision = decideRestart(context.crashes, upid, context.restartPolicy);
        if (decision.action === 'escalate') {
          const { [upid]: _gone, ...rest } = context.jobs;
          enqueue.assign({ jobs: rest });
          enqueue({ type: 'jobGaveUp', params: { upid, error: event.error, crashes: decision.crashes } });
          return;
        }
        enqueue.assign({ crashes: countCrash(context.crashes, upid) });
        enqueue({ type: 'jobRestarting', params: { upid, error: event.error, crashes: decision.crashes, delayMs: decision.delayMs } });
        enqueue.raise({ type: 'RESTART_JOB', upid }, { delay: decision.delayMs });
        enqueue.raise({ type: 'CRASH_EXPIRED', upid }, { delay: context.restartPolicy.windowMs });
      }),
    },
    RESTART_JOB: {
      actions: enqueueActions(({ enqueue, context, event }) => {
        const job = context.jobs[event.upid];
        if (!job) return;
        const input = { ...job.input, restarts: (job.input.restarts ?? 0) + 1 };
        const id = jobSystemId(event.upid);
        enqueue.spawnChild(job.kind, { id, systemId: id, input });
        enqueue.assign({ jobs: { ...context.jobs, [event.upid]: { kind: job.kind, input } } });
      }),
    },
    CRASH_EXPIRED: {
      actions: enqueueActions(({ enqueue, context, event }) => enqueue.assign({ crashes: expireCrash(context.crashes, event.upid) })),
    },
  },
});
