/**
 * One run of a maintenance job (GC, prune, verify) as a task, after PBS's
 * jobstate (Created → Started{upid} → Finished{state}): the task record
 * exists before the actor starts (the API returns the UPID at once), the
 * actor runs the work through its named phases, then records the end state
 * at one checkpoint (`finishTask`) and stops with it as output.
 *
 * Phases are states, so the visualiser shows where a job is; the work
 * reports them with PHASE events. ABORT asks the work to stop (`requestAbort`)
 * and waits in `aborting` until it has released what it holds.
 *
 * Expected failures (errors carrying a BULWARK_ code) end the task in
 * `error`. Anything else is a crash: the error is not handled here, the actor
 * fails, and the jobs supervisor restarts it or gives up (jobs.machine.ts).
 */
import { assign, fromPromise, setup, type StateNodeConfig } from 'xstate';
import { notProvided } from './not-provided.ts';
import type { JobContext, JobEvent, JobInput, JobOutcome, WorkInput, WorkResult } from './job.types.ts';

const errorCode = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('BULWARK_') ? code : undefined;
};
const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const isAbort = (err: unknown): boolean => errorCode(err) === 'BULWARK_ABORTED';

export function createJobMachine<const P extends readonly [string, ...string[]]>(id: string, phases: P) {
  const phaseStates: Record<string, StateNodeConfig<JobContext, JobEvent, never, never, never, never, never, never, never, never>> = {};
  // Each phase moves on to a later one when the work reports it; `aborting` ignores phase reports.
  const toPhase = phases.map((p) => ({ guard: ({ event }: { event: JobEvent }) => event.type === 'PHASE' && event.phase === p, target: p }));
  for (const phase of phases) phaseStates[phase] = { entry: assign({ phase, progress: undefined }), on: { PHASE: toPhase } } as never;
  phaseStates.aborting = { tags: ['aborting'] } as never;

  return setup({
    types: {
      input: {} as JobInput,
      context: {} as JobContext,
      events: {} as JobEvent,
      output: {} as JobOutcome,
    },
    actors: {
      work: fromPromise<WorkResult, WorkInput>(async () => notProvided('work')),
      finishTask: fromPromise<void, { upid: string; outcome: JobOutcome }>(async () => notProvided('finishTask')),
    },
    actions: {
      requestAbort: (_, _params: { upid: string }) => notProvided('requestAbort'),
    },
  }).createMachine({
    id,
    context: ({ input }) => ({ ...input, phase: phases[0] }),
    initial: 'running',
    states: {
      running: {
        initial: phases[0],
        states: phaseStates as never,
        invoke: {
          src: 'work',
          input: ({ context, self }) => ({ ...context, job: self }),
          onDone: {
            target: 'finishing',
            actions: assign({
              outcome: ({ event }) => (event.output.warnings > 0
                ? { state: 'warnings' as const, warnings: event.output.warnings, result: event.output.result }
                : { state: 'ok' as const, result: event.output.result }),
            }),
          },
          onError: [
            { guard: ({ event }) => isAbort(event.error), target: 'finishing', actions: assign({ outcome: { state: 'aborted', message: 'task aborted' } }) },
            // Typed errors are expected faults: the task fails. Untyped ones are crashes and propagate.
            { guard: ({ event }) => errorCode(event.error) !== undefined, target: 'finishing', actions: assign({ outcome: ({ event }) => ({ state: 'error' as const, message: errorMessage(event.error) }) }) },
          ],
        },
        on: {
          PROGRESS: { actions: assign({ progress: ({ event }) => ({ done: event.done, total: event.total }) }) },
          ABORT: { target: '.aborting', actions: { type: 'requestAbort', params: ({ context }) => ({ upid: context.upid }) } },
        },
      },
      finishing: {
        invoke: {
          src: 'finishTask',
          input: ({ context }) => ({ upid: context.upid, outcome: context.outcome! }),
          onDone: 'done',
          // The outcome stands even if it could not be recorded; the task index heals from the log.
          onError: 'done',
        },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => context.outcome!,
  });
}
