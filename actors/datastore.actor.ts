/** The datastore machine bound to the filesystem: opening checks the layout, recovery cleans up after a crash. */
import { fromPromise } from 'xstate';
import type { Logger } from 'pino';
import { checkDatastore } from '../datastore/create.ts';
import { recoverDatastore } from '../datastore/recovery.ts';
import type { RecoveryOutcome } from '../machines/datastore.types.ts';
import { datastoreMachine } from '../machines/datastore.machine.ts';

export function datastoreActorLogic(log: Logger) {
  return datastoreMachine.provide({
    actors: {
      openStore: fromPromise<void, { name: string; path: string }>(async ({ input }) => {
        const storeLog = log.child({ actor: 'datastore', store: input.name });
        try {
          checkDatastore(input.path);
          storeLog.info({ path: input.path }, 'datastore opened');
        } catch (err) {
          storeLog.error({ err, path: input.path }, 'datastore unavailable');
          throw err;
        }
      }),
      recoverStore: fromPromise<RecoveryOutcome, { name: string; path: string }>(async ({ input, signal }) => {
        const storeLog = log.child({ actor: 'datastore', store: input.name });
        try {
          checkDatastore(input.path);
          const report = await recoverDatastore(input.path, signal);
          storeLog.info({ removedSnapshots: report.removedSnapshots, removedTempFiles: report.removedTempFiles }, 'recovery finished');
          return { state: 'done', removedSnapshots: report.removedSnapshots.length, removedTempFiles: report.removedTempFiles };
        } catch (err) {
          storeLog.warn({ err }, 'recovery failed');
          throw err;
        }
      }),
    },
  });
}
