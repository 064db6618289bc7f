/** Requests, input and context of the reader session (machines/reader-session.machine.ts). */
import type { Fault, Pending, SessionLimits, SessionPort } from './backup-session.types.ts';

export type ReaderRequest =
  | { readonly id: number; readonly op: 'manifest' }
  | { readonly id: number; readonly op: 'index'; readonly name: string }
  | { readonly id: number; readonly op: 'blob'; readonly name: string }
  | { readonly id: number; readonly op: 'chunk'; readonly digest: Uint8Array };

export type ReaderOp = ReaderRequest['op'];

/** Input of every per-request actor. */
export interface ReadInput<R> {
  readonly reader: unknown;
  readonly request: R;
}

/** The snapshot a reader session serves, as parsed from the upgrade query. */
export interface ReaderTarget {
  readonly store: string;
  readonly storePath: string;
  readonly ns: string;
  readonly type: string;
  readonly id: string;
  readonly backupTime: number;
  /** Who reads: the user of the session's task. */
  readonly authid?: string;
  /**
   * Set when the caller may read only because it may back up this group
   * (Datastore.Backup without Datastore.Read): the group must be owned by it.
   */
  readonly requireOwner?: string;
}

export interface ReaderSessionInput {
  readonly sessionId: string;
  readonly target: ReaderTarget;
  /** `credit` and `maxChunkSize` are unused by readers. */
  readonly limits: SessionLimits;
  readonly port: SessionPort;
}

export type ReaderSessionEvent =
  | { type: 'CONNECTED' }
  | { type: 'REQUEST'; request: ReaderRequest }
  | { type: 'FRAME_ERROR'; error: unknown }
  /** Stop the session from the server side (its task was aborted). */
  | { type: 'STOP'; reason: string }
  /** The socket's send buffer is full: start no more chunk reads until RESUME. */
  | { type: 'PAUSE' }
  | { type: 'RESUME' }
  | { type: 'DISCONNECTED' };

export interface ReaderSessionContext {
  readonly sessionId: string;
  readonly target: ReaderTarget;
  readonly limits: SessionLimits;
  readonly port: SessionPort;
  /** Opaque to the machine; only actors/ knows what it is. */
  readonly reader?: unknown;
  readonly seq: number;
  readonly queue: readonly Pending<ReaderRequest>[];
  readonly running: readonly Pending<ReaderRequest>[];
  readonly paused: boolean;
  readonly fault?: Fault;
  readonly disconnected: boolean;
}
