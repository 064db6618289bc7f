/** Events and context of the datastore actor (machines/datastore.machine.ts). */
export type DatastoreMode = 'online' | 'read-only' | 'offline';

export interface DatastoreInput {
  readonly name: string;
  readonly path: string;
  readonly mode: DatastoreMode;
}

export interface DatastoreContext extends DatastoreInput {
  /** Why the store could not be opened, when it is unavailable. */
  readonly error?: { readonly code: string; readonly message: string };
  readonly openAttempts: number;
  /** Outcome of the crash clean-up run at start (datastore/recovery.ts). */
  readonly recovery?: RecoveryOutcome;
}

export type RecoveryOutcome =
  | { readonly state: 'done'; readonly removedSnapshots: number; readonly removedTempFiles: number }
  | { readonly state: 'failed'; readonly message: string };

export type DatastoreEvent =
  | { type: 'SET_MAINTENANCE'; mode: DatastoreMode }
  | { type: 'RETRY' };
