/**
 * The datastores supervisor: one datastore actor per configured store,
 * registered as `datastore:<name>` in the actor system so others find it
 * with `system.get`. Stores come and go with the configuration
 * (STORE_ADDED / STORE_REMOVED); maintenance changes are forwarded.
 */
import { enqueueActions, setup, type ActorRefFrom } from 'xstate';
import { datastoreMachine } from './datastore.machine.ts';
import type { DatastoreInput, DatastoreMode } from './datastore.types.ts';

export interface DatastoresInput {
  readonly stores: readonly DatastoreInput[];
}

export type DatastoresEvent =
  | { type: 'STORE_ADDED'; store: DatastoreInput }
  | { type: 'STORE_REMOVED'; name: string }
  | { type: 'SET_MAINTENANCE'; name: string; mode: DatastoreMode };

export const datastoreSystemId = (name: string): string => `datastore:${name}`;

export const datastoresMachine = setup({
  types: {
    input: {} as DatastoresInput,
    context: {} as { stores: readonly DatastoreInput[] },
    events: {} as DatastoresEvent,
  },
  actors: { datastore: datastoreMachine },
}).createMachine({
  id: 'datastores',
  context: ({ input }) => ({ stores: input.stores }),
  entry: enqueueActions(({ enqueue, context }) => {
    for (const store of context.stores) {
      enqueue.spawnChild('datastore', { id: datastoreSystemId(store.name), systemId: datastoreSystemId(store.name), input: store });
    }
  }),
  on: {
    STORE_ADDED: {
      guard: ({ context, event }) => !context.stores.some((s) => s.name === event.store.name),
      actions: enqueueActions(({ enqueue, context, event }) => {
        const id = datastoreSystemId(event.store.name);
        enqueue.spawnChild('datastore', { id, systemId: id, input: event.store });
        enqueue.assign({ stores: [...context.stores, event.store] });
      }),
    },
    STORE_REMOVED: {
      actions: enqueueActions(({ enqueue, context, event }) => {
        enqueue.stopChild(datastoreSystemId(event.name));
        enqueue.assign({ stores: context.stores.filter((s) => s.name !== event.name) });
      }),
    },
    SET_MAINTENANCE: {
      actions: enqueueActions(({ enqueue, system, event }) => {
        const ref = system.get(datastoreSystemId(event.name)) as ActorRefFrom<typeof datastoreMachine> | undefined;
        if (ref) enqueue.sendTo(ref, { type: 'SET_MAINTENANCE', mode: event.mode });
      }),
    },
  },
});
