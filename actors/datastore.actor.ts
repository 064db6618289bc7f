/** The datastore machine bound to the filesystem: opening checks the layout. */
import { fromPromise } from 'xstate';
import type { Logger } from 'pino';
import { checkDatastore } from '../datastore/create.ts';
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
    },
  });
}
