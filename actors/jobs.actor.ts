/** The jobs supervisor bound to the job service: each job kind gets its work, and task ends go through JobService.finish. */
import { fromPromise } from 'xstate';
import type { Logger } from 'pino';
import { gcJobMachine } from '../machines/gc-job.machine.ts';
import type { JobOutcome } from '../machines/job.types.ts';
import { jobsMachine } from '../machines/jobs.machine.ts';
import { pruneJobMachine } from '../machines/prune-job.machine.ts';
import { describeError } from '../machines/supervision.ts';
import { verifyJobMachine } from '../machines/verify-job.machine.ts';
import type { JobService } from './job-service.ts';
import { gcWork, pruneWork, verifyWork, type WorkOptions } from './job-work.ts';

export function jobsActorLogic(service: JobService, log: Logger, opts: WorkOptions = {}) {
  const common = {
    finishTask: fromPromise<void, { upid: string; outcome: JobOutcome }>(({ input }) => service.finish(input.upid, input.outcome)),
  };
  const actions = { requestAbort: (_: unknown, { upid }: { upid: string }) => void service.tasks.requestAbort(upid) };
  return jobsMachine.provide({
    actors: {
      gc: gcJobMachine.provide({ actors: { ...common, work: gcWork(service, opts) }, actions }),
      prune: pruneJobMachine.provide({ actors: { ...common, work: pruneWork(service) }, actions }),
      verify: verifyJobMachine.provide({ actors: { ...common, work: verifyWork(service) }, actions }),
    },
    actions: {
      jobRestarting: (_, { upid, error, crashes, delayMs }) => {
        log.error({ upid, err: error, crashes }, 'job crashed; restarting');
        if (service.isRunning(upid)) service.taskLog(upid).warn(`crashed: ${describeError(error)}; restarting in ${delayMs / 1000} s (${crashes})`);
      },
      jobGaveUp: (_, { upid, error, crashes, aborted }) => {
        const outcome: JobOutcome = aborted
          ? { state: 'aborted', message: 'task aborted' }
          : { state: 'error', message: `crashed ${crashes} times, giving up: ${describeError(error)}` };
        if (!aborted) log.error({ upid, err: error, crashes }, 'job keeps crashing; giving up');
        service.finish(upid, outcome).catch((err: unknown) => log.error({ err, upid }, 'could not record the end of a task'));
      },
    },
  });
}
