/**
 * The running server below the transport: the task store and job state
 * (RocksDB, under the data dir), the job service, and the actor system that
 * uses them. One call opens them in order and close() shuts them down in
 * reverse, so running tasks end as aborted rather than as unknown.
 */
import type { InspectionEvent } from 'xstate';
import type { Logger } from 'pino';
import type { ConfigSnapshot } from '../config/config-store.ts';
import type { ConfigPaths } from '../config/paths.ts';
import type { SafetyParameters } from '../datastore/safety.ts';
import type { RestartPolicy } from '../machines/supervision.ts';
import { JobService, type JobSystem } from './job-service.ts';
import { JobStateStore } from './job-state.ts';
import { startActorSystem, type RootActor } from './system.ts';
import { defaultNodeName } from './tasks/upid.ts';
import { TaskStore } from './tasks/task-store.ts';

export interface ServerSystemOptions {
  readonly paths: ConfigPaths;
  readonly config: ConfigSnapshot;
  readonly log: Logger;
  readonly node?: string;
  readonly safety?: SafetyParameters;
  readonly restartPolicy?: RestartPolicy;
  readonly inspect?: (event: InspectionEvent) => void;
  readonly onEscalated?: (child: string, error: unknown) => void;
  readonly now?: () => number;
  /** false: no automatic scheduling (see SystemOptions.autoSchedule). */
  readonly autoSchedule?: boolean;
}

export interface ServerSystem {
  readonly root: RootActor;
  readonly jobs: JobService;
  readonly tasks: TaskStore;
  /** Aborts running jobs and waits for them to record it, then stops the actors and closes the databases. */
  close(opts?: { abortTimeoutMs?: number }): Promise<void>;
}

export async function startServerSystem(options: ServerSystemOptions): Promise<ServerSystem> {
  const { log, paths } = options;
  const tasks = await TaskStore.open({ dir: paths.tasksDir, node: options.node ?? defaultNodeName(), ...(options.now && { now: options.now }) });
  if (tasks.openReport.rebuilt) log.warn({ reason: tasks.openReport.rebuilt, tasks: tasks.openReport.tasks }, 'task index rebuilt from the task logs');
  const state = await JobStateStore.open(paths.jobStateDb);
  if (state.reset) log.warn({ reason: state.reset }, 'job state was unreadable and starts empty');
  let root: RootActor | undefined;
  const jobs = new JobService({ tasks, state, system: () => root!.system as unknown as JobSystem, log: log.child({ component: 'jobs' }), ...(options.now && { now: options.now }) });
  root = startActorSystem({
    config: options.config, log, jobs, paths,
    ...(options.safety && { safety: options.safety }),
    ...(options.restartPolicy && { restartPolicy: options.restartPolicy }),
    ...(options.inspect && { inspect: options.inspect }),
    ...(options.onEscalated && { onEscalated: options.onEscalated }),
    ...(options.now && { now: options.now }),
    ...(options.autoSchedule !== undefined && { autoSchedule: options.autoSchedule }),
  });
  let closed = false;
  return {
    root, jobs, tasks,
    async close({ abortTimeoutMs = 8000 } = {}) {
      if (closed) return;
      closed = true;
      await jobs.abortAll(abortTimeoutMs);
      root!.stop();
      await tasks.close();
      await state.close();
    },
  };
}
