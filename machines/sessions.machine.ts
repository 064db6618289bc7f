/**
 * The sessions supervisor: one backup or reader session actor per
 * WebSocket connection, each registered as `session:<n>` so the transport
 * can reach it with `system.get`. Sessions are never restarted (their
 * client is gone with them); a crashed one is reported to `sessionCrashed`,
 * which cleans up after it (its unfinished snapshot is aborted), and no
 * other session notices.
 *
 * The transport opens a session with OPEN_BACKUP / OPEN_READER and then
 * reads the new session's id from `context.lastId`: an event sent from
 * outside an actor is processed before `send` returns.
 */
import { enqueueActions, setup, type DoneActorEvent, type ErrorActorEvent } from 'xstate';
import { backupSessionMachine } from './backup-session.machine.ts';
import type { BackupSessionInput } from './backup-session.types.ts';
import { notProvided } from './not-provided.ts';
import { readerSessionMachine } from './reader-session.machine.ts';
import type { ReaderSessionInput } from './reader-session.types.ts';

export type SessionKind = 'backup' | 'reader';

export type SessionsEvent =
  | { type: 'OPEN_BACKUP'; input: Omit<BackupSessionInput, 'sessionId'> }
  | { type: 'OPEN_READER'; input: Omit<ReaderSessionInput, 'sessionId'> };

export interface SessionsContext {
  readonly nextId: number;
  /** systemId of the session opened last. */
  readonly lastId?: string;
  /** Running sessions by systemId. */
  readonly sessions: Readonly<Record<string, SessionKind>>;
}

export const sessionSystemId = (n: number): string => `session:${n}`;


export const sessionsMachine = setup({
  types: {
    context: {} as SessionsContext,
    // The done/error events of the sessions it spawns are part of its vocabulary.
    events: {} as SessionsEvent | DoneActorEvent | ErrorActorEvent,
  },
  actors: {
    backupSession: backupSessionMachine,
    readerSession: readerSessionMachine,
  },
  actions: {
    sessionCrashed: (_, _params: { sessionId: string; kind: SessionKind | undefined; error: unknown }) => notProvided('sessionCrashed'),
  },
}).createMachine({
  id: 'sessions',
  context: { nextId: 1, sessions: {} },
  on: {
    OPEN_BACKUP: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const id = sessionSystemId(context.nextId);
        enqueue.spawnChild('backupSession', { id, systemId: id, input: { ...event.input, sessionId: id } });
        enqueue.assign({ nextId: context.nextId + 1, lastId: id, sessions: { ...context.sessions, [id]: 'backup' } });
      }),
    },
    OPEN_READER: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const id = sessionSystemId(context.nextId);
        enqueue.spawnChild('readerSession', { id, systemId: id, input: { ...event.input, sessionId: id } });
        enqueue.assign({ nextId: context.nextId + 1, lastId: id, sessions: { ...context.sessions, [id]: 'reader' } });
      }),
    },
    'xstate.done.actor.*': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const { [event.actorId]: _gone, ...rest } = context.sessions;
        enqueue.assign({ sessions: rest });
      }),
    },
    // Handling the error event here is what keeps a crash from reaching the root.
    'xstate.error.actor.*': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const sessionId = event.actorId;
        const { [sessionId]: kind, ...rest } = context.sessions;
        enqueue({ type: 'sessionCrashed', params: { sessionId, kind, error: event.error } });
        enqueue.assign({ sessions: rest });
      }),
    },
  },
});
