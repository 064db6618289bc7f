/**
 * The datastores supervisor: one datastore actor per configured store,
 * registered as `datastore:<name>` in the actor system so others find it
 * with `system.get`. Stores come and go with the configuration
 * (STORE_ADDED / STORE_REMOVED); maintenance changes are forwarded.
 *
 * A crashed datastore actor is restarted with back-off (supervision.ts);
 * its siblings never notice. A store that keeps crashing past the policy
 * escalates: this supervisor crashes with BULWARK_ESCALATED and the root
 * decides.
 */
import { enqueueActions, setup, type ActorRefFrom, type ErrorActorEvent } from 'xstate';
import { datastoreMachine } from './datastore.machine.ts';
import type { DatastoreInput, DatastoreMode } from './datastore.types.ts';
import { countCrash, decideRestart, DEFAULT_RESTART_POLICY, escalation, expireCrash, type CrashCounts, type RestartPolicy } from './supervision.ts';

export interface DatastoresInput {
  readonly stores: readonly DatastoreInput[];
  readonly restartPolicy?: RestartPolicy;
}

export interface DatastoresContext {
  readonly stores: readonly DatastoreInput[];
  readonly restartPolicy: RestartPolicy;
  /** Crashes per store still inside the restart window. */
  readonly crashes: CrashCounts;
  /** Stores waiting for their back-off to end. */
  readonly restarting: readonly string[];
}

export type DatastoresEvent =
  | { type: 'STORE_ADDED'; store: DatastoreInput }
  | { type: 'STORE_REMOVED'; name: string }
  | { type: 'SET_MAINTENANCE'; name: string; mode: DatastoreMode }
  | { type: 'RESTART_STORE'; name: string }
  | { type: 'CRASH_EXPIRED'; name: string };

export const datastoreSystemId = (name: string): string => `datastore:${name}`;
const storeOfActor = (actorId: string): string => actorId.slice('datastore:'.length);

export const datastoresMachine = setup({
  types: {
    input: {} as DatastoresInput,
    context: {} as DatastoresContext,
    events: {} as DatastoresEvent | ErrorActorEvent,
  },
  actors: { datastore: datastoreMachine },
}).createMachine({
  id: 'datastores',
  context: ({ input }) => ({ stores: input.stores, restartPolicy: input.restartPolicy ?? DEFAULT_RESTART_POLICY, crashes: {}, restarting: [] }),
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
        enqueue.assign({
          stores: context.stores.filter((s) => s.name !== event.name),
          restarting: context.restarting.filter((n) => n !== event.name),
        });
      }),
    },
    SET_MAINTENANCE: {
      actions: enqueueActions(({ enqueue, system, event, context }) => {
        const ref = system.get(datastoreSystemId(event.name)) as ActorRefFrom<typeof datastoreMachine> | undefined;
        if (ref) enqueue.sendTo(ref, { type: 'SET_MAINTENANCE', mode: event.mode });
        // A store waiting to restart comes back in the new mode.
        enqueue.assign({ stores: context.stores.map((s) => (s.name === event.name ? { ...s, mode: event.mode } : s)) });
      }),
    },
    'xstate.error.actor.*': {
      actions: enqueueActions(({ enqueue, context, event }) => {
        const name = storeOfActor(event.actorId);
        if (!context.stores.some((s) => s.name === name)) return;
        const decision = decideRestart(context.crashes, name, context.restartPolicy);
        if (decision.action === 'escalate') throw escalation(`datastore ${name}`, decision.crashes, event.error);
        enqueue.assign({ crashes: countCrash(context.crashes, name), restarting: [...context.restarting, name] });
        enqueue.raise({ type: 'RESTART_STORE', name }, { delay: decision.delayMs });
        enqueue.raise({ type: 'CRASH_EXPIRED', name }, { delay: context.restartPolicy.windowMs });
      }),
    },
    RESTART_STORE: {
      guard: ({ context, event }) => context.restarting.includes(event.name),
      actions: enqueueActions(({ enqueue, context, event }) => {
        const store = context.stores.find((s) => s.name === event.name);
        enqueue.assign({ restarting: context.restarting.filter((n) => n !== event.name) });
        if (store) enqueue.spawnChild('datastore', { id: datastoreSystemId(store.name), systemId: datastoreSystemId(store.name), input: store });
      }),
    },
    CRASH_EXPIRED: {
      actions: enqueueActions(({ enqueue, context, event }) => enqueue.assign({ crashes: expireCrash(context.crashes, event.name) })),
    },
  },
});
