/**
 * One datastore: opens its directory, then serves as online, read-only or
 * offline (PBS's maintenance modes). Tags tell other actors what is allowed:
 * `readable` (restores, verify), `writable` (backups, prune, GC).
 * A store that fails to open becomes `unavailable` and retries with back-off;
 * it never brings down its siblings. Alongside, once per start, `recoverStore`
 * removes what a crashed process left behind (unfinished snapshots nobody
 * holds, partial chunk files); its outcome lands in `context.recovery`.
 */
import { assign, fromPromise, setup } from 'xstate';
import { notProvided } from './not-provided.ts';
import type { DatastoreContext, DatastoreEvent, DatastoreInput, DatastoreMode, RecoveryOutcome } from './datastore.types.ts';

export const datastoreMachine = setup({
  types: {
    context: {} as DatastoreContext,
    events: {} as DatastoreEvent,
    input: {} as DatastoreInput,
  },
  actors: {
    openStore: fromPromise<void, { name: string; path: string }>(async () => notProvided('openStore')),
    recoverStore: fromPromise<RecoveryOutcome, { name: string; path: string }>(async () => notProvided('recoverStore')),
  },
  delays: {
    // 1 s, 2 s, 4 s … capped at 60 s.
    retryDelay: ({ context }) => Math.min(60_000, 1000 * 2 ** Math.max(0, context.openAttempts - 1)),
  },
  guards: {
    modeIs: ({ context }, mode: DatastoreMode) => context.mode === mode,
  },
}).createMachine({
  id: 'datastore',
  context: ({ input }) => ({ ...input, openAttempts: 0 }),
  initial: 'opening',
  invoke: {
    src: 'recoverStore',
    input: ({ context }) => ({ name: context.name, path: context.path }),
    onDone: { actions: assign({ recovery: ({ event }) => event.output }) },
    onError: { actions: assign({ recovery: ({ event }) => ({ state: 'failed' as const, message: String((event.error as Error)?.message ?? event.error) }) }) },
  },
  on: {
    SET_MAINTENANCE: { actions: assign({ mode: ({ event }) => event.mode }), target: '.routing' },
  },
  states: {
    opening: {
      entry: assign({ openAttempts: ({ context }) => context.openAttempts + 1 }),
      invoke: {
        src: 'openStore',
        input: ({ context }) => ({ name: context.name, path: context.path }),
        onDone: { target: 'routing', actions: assign({ error: undefined, openAttempts: 0 }) },
        onError: {
          target: 'unavailable',
          actions: assign({
            error: ({ event }) => {
              const err = event.error as { code?: unknown; message?: unknown };
              return { code: typeof err?.code === 'string' ? err.code : 'BULWARK_IO', message: String(err?.message ?? err) };
            },
          }),
        },
      },
    },
    // Transient: picks the mode state once the store is open (or reopened).
    routing: {
      always: [
        { guard: ({ context }) => context.error !== undefined || context.openAttempts > 0, target: 'opening' },
        { guard: { type: 'modeIs', params: 'offline' }, target: 'offline' },
        { guard: { type: 'modeIs', params: 'read-only' }, target: 'readOnly' },
        { target: 'online' },
      ],
    },
    online: { tags: ['readable', 'writable'] },
    readOnly: { tags: ['readable'] },
    offline: {},
    unavailable: {
      after: { retryDelay: 'opening' },
      on: { RETRY: 'opening' },
    },
  },
});
