/**
 * The root supervisor: owns the long-lived children of the server (config
 * store, datastores, sessions and jobs supervisors, scheduler), each
 * registered under its systemId so any actor can reach it with
 * `system.get('config')`, `system.get('datastores')`… It stops them all on
 * SHUTDOWN.
 *
 * A child that crashes (a supervisor that escalated, say) is restarted with
 * back-off like any other (supervision.ts). If one keeps crashing the root
 * gives up: it ends in `failed` and `escalated` tells the process, whose
 * service manager restarts the server from its files.
 */
import { enqueueActions, fromCallback, setup, type ErrorActorEvent } from 'xstate';
import { datastoresMachine } from './datastores.machine.ts';
import type { DatastoresInput } from './datastores.machine.ts';
import { jobsMachine } from './jobs.machine.ts';
import { notProvided } from './not-provided.ts';
import { schedulerMachine } from './scheduler.machine.ts';
import { sessionsMachine } from './sessions.machine.ts';
import { countCrash, decideRestart, DEFAULT_RESTART_POLICY, expireCrash, type CrashCounts, type RestartPolicy } from './supervision.ts';

export interface RootInput {
  /** Input of the config store (its initial configuration). */
  readonly config: unknown;
  readonly datastores: DatastoresInput;
  readonly restartPolicy?: RestartPolicy;
}

export interface RootContext extends RootInput {
  readonly restartPolicy: RestartPolicy;
  readonly crashes: CrashCounts;
}

export const ROOT_CHILDREN = ['config', 'datastores', 'sessions', 'jobs', 'scheduler'] as const;
export type RootChild = (typeof ROOT_CHILDREN)[number];

export type RootEvent =
  | { type: 'SHUTDOWN' }
  | { type: 'RESTART_CHILD'; child: RootChild }
  | { type: 'CRASH_EXPIRED'; child: RootChild };

const isRootChild = (id: string): id is RootChild => (ROOT_CHILDREN as readonly string[]).includes(id);

export const rootMachine = setup({
  types: {
    input: {} as RootInput,
    context: {} as RootContext,
    events: {} as RootEvent | ErrorActorEvent,
  },
  actors: {
    // The config store is @xstate/store logic built in actors/ from config/.
    config: fromCallback(() => notProvided('configStore')),
    datastores: datastoresMachine,
    sessions: sessionsMachine,
    jobs: jobsMachine,
    scheduler: schedulerMachine,
  },
  actions: {
    startChild: enqueueActions(({ enqueue, context }, child: RootChild) => {
      const input = child === 'config' ? context.config : child === 'datastores' ? { ...context.datastores, restartPolicy: context.restartPolicy } : child === 'jobs' ? { restartPolicy: context.restartPolicy } : undefined;
      enqueue.spawnChild(child, { id: child, systemId: child, input: input as never });
    }),
    childRestarting: (_, _params: { child: RootChild; error: unknown; crashes: number; delayMs: number }) => notProvided('childRestarting'),
    escalated: (_, _params: { child: string; error: unknown; crashes: number }) => notProvided('escalated'),
  },
}).createMachine({
  id: 'root',
  context: ({ input }) => ({ ...input, restartPolicy: input.restartPolicy ?? DEFAULT_RESTART_POLICY, crashes: {} }),
  initial: 'running',
  states: {
    running: {
      entry: ROOT_CHILDREN.map((child) => ({ type: 'startChild' as const, params: child })),
      on: {
        SHUTDOWN: 'stopped',
        'xstate.error.actor.*': [
          {
            guard: ({ context, event }) => isRootChild(event.actorId) && decideRestart(context.crashes, event.actorId, context.restartPolicy).action === 'escalate',
            target: 'failed',
            actions: { type: 'escalated', params: ({ context, event }) => ({ child: event.actorId, error: event.error, crashes: (context.crashes[event.actorId] ?? 0) + 1 }) },
          },
          {
            guard: ({ event }) => isRootChild(event.actorId),
            actions: enqueueActions(({ enqueue, context, event }) => {
              const child = event.actorId as RootChild;
              const decision = decideRestart(context.crashes, child, context.restartPolicy);
              if (decision.action !== 'restart') return;
              enqueue.assign({ crashes: countCrash(context.crashes, child) });
              enqueue({ type: 'childRestarting', params: { child, error: event.error, crashes: decision.crashes, delayMs: decision.delayMs } });
              enqueue.raise({ type: 'RESTART_CHILD', child }, { delay: decision.delayMs });
              enqueue.raise({ type: 'CRASH_EXPIRED', child }, { delay: context.restartPolicy.windowMs });
            }),
          },
        ],
        RESTART_CHILD: { actions: { type: 'startChild', params: ({ event }) => event.child } },
        CRASH_EXPIRED: { actions: enqueueActions(({ enqueue, context, event }) => enqueue.assign({ crashes: expireCrash(context.crashes, event.child) })) },
      },
    },
    failed: { type: 'final' },
    stopped: { type: 'final' },
  },
});
