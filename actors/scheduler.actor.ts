/** The scheduler bound to node-cron (a tick at every minute) and the job configuration files. */
import cron from 'node-cron';
import { fromCallback, fromPromise } from 'xstate';
import type { Logger } from 'pino';
import type { ConfigPaths } from '../config/paths.ts';
import { schedulerMachine, type SchedulerCheckInput, type SchedulerCheckResult, type SchedulerEvent } from '../machines/scheduler.machine.ts';
import type { JobService } from './job-service.ts';
import { configuredJobs, startDueJobs } from './scheduled-jobs.ts';

export function schedulerActorLogic(service: JobService, paths: Pick<ConfigPaths, 'datastoreConfig' | 'pruneJobs' | 'verifyJobs'>, log: Logger, now: () => number = Date.now) {
  return schedulerMachine.provide({
    actors: {
      ticker: fromCallback<SchedulerEvent>(({ sendBack }) => {
        const task = cron.schedule('* * * * *', () => sendBack({ type: 'TICK' }), { noOverlap: true });
        return () => void task.destroy();
      }),
      runDueJobs: fromPromise<SchedulerCheckResult, SchedulerCheckInput>(async ({ input }) => {
        const check = await startDueJobs(service, configuredJobs(paths), now());
        for (const { job, error } of check.failed) log.warn({ err: error, kind: job.kind, store: job.store, jobId: job.jobId }, 'scheduled job could not start');
        if (check.started.length > 0) log.info({ started: check.started, catchUp: input.catchUp }, 'scheduled jobs started');
        return { started: check.started };
      }),
    },
  });
}
