/**
 * Starts the actor system: the root supervisor with real implementations
 * provided for every side effect its machines name. The only `createActor`
 * of the server; `inspect` (for the visualiser) is attached here and nowhere
 * else, and the root is observed for errors so none reaches xstate's
 * process-level rethrow.
 */
import { createActor, fromCallback, fromPromise, type ActorRefFrom, type InspectionEvent } from 'xstate';
import { schedulerMachine, type SchedulerCheckInput, type SchedulerCheckResult } from '../machines/scheduler.machine.ts';
import type { Logger } from 'pino';
import { configStoreLogic, type ConfigSnapshot } from '../config/config-store.ts';
import type { DatastoreConfig } from '../config/datastore-config.ts';
import type { ConfigPaths } from '../config/paths.ts';
import { datastoresMachine } from '../machines/datastores.machine.ts';
import type { DatastoreInput } from '../machines/datastore.types.ts';
import { rootMachine } from '../machines/root.machine.ts';
import { sessionsMachine } from '../machines/sessions.machine.ts';
import type { RestartPolicy } from '../machines/supervision.ts';
import { describeError } from '../machines/supervision.ts';
import type { SafetyParameters } from '../datastore/safety.ts';
import { backupSessionLogic } from './backup-session.actor.ts';
import { datastoreActorLogic } from './datastore.actor.ts';
import type { JobService } from './job-service.ts';
import { jobsActorLogic } from './jobs.actor.ts';
import { readerSessionLogic } from './reader-session.actor.ts';
import { schedulerActorLogic } from './scheduler.actor.ts';
import { SessionResources } from './session-resources.ts';

export type RootActor = ActorRefFrom<typeof rootMachine>;

export function datastoreInput(cfg: DatastoreConfig): DatastoreInput {
  return { name: cfg.name, path: cfg.path, mode: cfg['maintenance-mode'] ?? 'online' };
}

export interface SystemOptions {
  readonly config: ConfigSnapshot;
  readonly log: Logger;
  /** Starts and ends maintenance tasks; the jobs supervisor and the scheduler work through it. */
  readonly jobs: JobService;
  /** Where the scheduler reads job schedules from (the config files). */
  readonly paths: Pick<ConfigPaths, 'datastoreConfig' | 'pruneJobs' | 'verifyJobs'>;
  readonly inspect?: (event: InspectionEvent) => void;
  /** Backup-time skew, resume TTL, GC cutoff… (default SAFETY_FULL). */
  readonly safety?: SafetyParameters;
  readonly restartPolicy?: RestartPolicy;
  /** Clock for the scheduler (default Date.now). */
  readonly now?: () => number;
  /**
   * false: the scheduler starts nothing by itself (no minute ticks, no
   * catch-up at start), for tests that drive startDueJobs with their own clock.
   */
  readonly autoSchedule?: boolean;
  /** Called when the root gives up on a child: the process should exit so its service manager restarts it. */
  readonly onEscalated?: (child: string, error: unknown) => void;
}

export function startActorSystem(options: SystemOptions): RootActor {
  const { log } = options;
  const sessionResources = new SessionResources({ log, safety: options.safety, tasks: options.jobs.tasks });
  const machine = rootMachine.provide({
    actors: {
      config: configStoreLogic as never,
      datastores: datastoresMachine.provide({ actors: { datastore: datastoreActorLogic(log) } }),
      sessions: sessionsMachine.provide({
        actors: { backupSession: backupSessionLogic(sessionResources), readerSession: readerSessionLogic(sessionResources) },
        actions: { sessionCrashed: (_, { sessionId, error }) => void sessionResources.releaseCrashed(sessionId, error) },
      }),
      jobs: jobsActorLogic(options.jobs, log.child({ actor: 'jobs' }), { ...(options.safety && { safety: options.safety }) }),
      scheduler: options.autoSchedule === false
        ? schedulerMachine.provide({ actors: { ticker: fromCallback(() => undefined), runDueJobs: fromPromise<SchedulerCheckResult, SchedulerCheckInput>(async () => ({ started: [] })) } })
        : schedulerActorLogic(options.jobs, options.paths, log.child({ actor: 'scheduler' }), options.now),
    },
    actions: {
      childRestarting: (_, { child, error, crashes, delayMs }) => log.error({ child, err: error, crashes, delayMs }, 'supervisor child crashed; restarting'),
      escalated: (_, { child, error, crashes }) => {
        log.fatal({ child, err: error, crashes }, `${child} keeps crashing: ${describeError(error)}`);
        options.onEscalated?.(child, error);
      },
    },
  });
  const root = createActor(machine, {
    systemId: 'root',
    input: {
      config: options.config,
      datastores: { stores: Object.values(options.config.datastores).map(datastoreInput) },
      ...(options.restartPolicy && { restartPolicy: options.restartPolicy }),
    },
    ...(options.inspect && { inspect: options.inspect }),
  });
  root.subscribe({
    error: (err) => log.fatal({ err }, 'root supervisor failed'),
  });
  root.start();
  return root;
}
