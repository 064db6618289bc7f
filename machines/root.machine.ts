/**
 * The root supervisor: owns the long-lived children of the server (config
 * store, datastores supervisor, sessions supervisor; jobs, scheduler, tape
 * and metrics supervisors join as they are built) and stops them all, in reverse order,
 * on SHUTDOWN. Each child is registered under a systemId so any actor can
 * reach it with `system.get('config')`, `system.get('datastores')`.
 */
import { fromCallback, setup } from 'xstate';
import { datastoresMachine } from './datastores.machine.ts';
import { notProvided } from './not-provided.ts';
import type { DatastoresInput } from './datastores.machine.ts';
import { sessionsMachine } from './sessions.machine.ts';

export interface RootInput {
  /** Input of the config store (its initial configuration). */
  readonly config: unknown;
  readonly datastores: DatastoresInput;
}

export type RootEvent = { type: 'SHUTDOWN' };

export const rootMachine = setup({
  types: {
    input: {} as RootInput,
    context: {} as RootInput,
    events: {} as RootEvent,
  },
  actors: {
    // The config store is @xstate/store logic built in actors/ from config/.
    configStore: fromCallback(() => notProvided('configStore')),
    datastores: datastoresMachine,
    sessions: sessionsMachine,
  },
}).createMachine({
  id: 'root',
  context: ({ input }) => input,
  initial: 'running',
  states: {
    running: {
      invoke: [
        { id: 'config', systemId: 'config', src: 'configStore', input: ({ context }) => context.config },
        { id: 'datastores', systemId: 'datastores', src: 'datastores', input: ({ context }) => context.datastores },
        { id: 'sessions', systemId: 'sessions', src: 'sessions' },
      ],
      on: { SHUTDOWN: 'stopped' },
    },
    stopped: { type: 'final' },
  },
});
