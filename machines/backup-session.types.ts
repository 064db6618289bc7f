/**
 * Types shared by the backup and reader session machines and the transport
 * that feeds them: decoded requests (docs/protocol.md), the frames a session
 * sends back, and the opaque handles its side effects work on.
 *
 * A machine never builds error messages (that needs errors.ts, and
 * transport/error-map.ts is the one place errors become wire replies): it
 * sends a `Fault`, either an error some side effect threw or an error code
 * with its message arguments, and the transport turns it into
 * `{ code, message }`.
 */

export type Fault =
  | { readonly thrown: unknown }
  | { readonly code: FaultCode; readonly args: readonly unknown[] };

/** The codes a session machine raises itself (all defined in errors.ts). */
export type FaultCode = 'BULWARK_PROTOCOL' | 'BULWARK_CREDIT_OVERRUN' | 'BULWARK_SESSION_ABORTED';

/** Server → client frames, wire-shaped except for faults (see transport/frame-codec.ts). */
export type ServerFrame =
  | { readonly id: number; readonly ok: Readonly<Record<string, unknown>> }
  | { readonly id: number; readonly error: Fault }
  | {
      readonly op: 'hello';
      readonly credits?: number;
      readonly 'max-chunk-size'?: number;
      readonly previous?: { readonly 'backup-time': number } | null;
    }
  | { readonly op: 'credit'; readonly bytes: number }
  | { readonly op: 'abort'; readonly error: Fault };

/**
 * The connection a session talks through, implemented by the transport.
 * Both calls are no-ops once the socket is gone.
 */
export interface SessionPort {
  send(frame: ServerFrame): void;
  close(): void;
}

// ── backup protocol requests ──────────────────────────────────────────────

export type BackupRequest =
  | { readonly id: number; readonly op: 'previous'; readonly name: string }
  | { readonly id: number; readonly op: 'previous-manifest' }
  | { readonly id: number; readonly op: 'resume' }
  | {
      readonly id: number;
      readonly op: 'create-index';
      readonly kind: 'fixed' | 'dynamic';
      readonly name: string;
      readonly size?: number;
      readonly chunkSize?: number;
    }
  | { readonly id: number; readonly op: 'chunk'; readonly wid: number; readonly digest: Uint8Array; readonly size: number; readonly data: Uint8Array }
  | { readonly id: number; readonly op: 'append'; readonly wid: number; readonly digests: Uint8Array; readonly offsets: readonly number[] }
  | { readonly id: number; readonly op: 'close-index'; readonly wid: number; readonly count: number; readonly size: number; readonly csum: Uint8Array }
  | { readonly id: number; readonly op: 'blob'; readonly name: string; readonly data: Uint8Array }
  | { readonly id: number; readonly op: 'finish'; readonly manifest?: Uint8Array };

export type BackupOp = BackupRequest['op'];

/** What a backup session writes, as parsed from the upgrade query. */
export interface BackupTarget {
  readonly store: string;
  /** Absolute path of the datastore directory. */
  readonly storePath: string;
  /** `a/b/c`, `''` for the root namespace. */
  readonly ns: string;
  readonly type: string;
  readonly id: string;
  /** Epoch seconds. */
  readonly backupTime: number;
  /** Auth id that becomes (or must be) the group owner. */
  readonly owner: string;
}

export interface SessionLimits {
  /** Upload credit granted in `hello`, bytes. */
  readonly credit: number;
  /** Largest raw chunk, announced in `hello`. */
  readonly maxChunkSize: number;
  /** Requests of the concurrent kind (chunk uploads, reads) running at once. */
  readonly concurrency: number;
  /** The session is aborted after this long without a frame (ms). */
  readonly idleTimeoutMs: number;
}

export interface BackupSessionInput {
  /** `session:<n>`, the actor's systemId. */
  readonly sessionId: string;
  readonly target: BackupTarget;
  readonly limits: SessionLimits;
  readonly port: SessionPort;
}

/** Output of the `startWriter` actor. */
export interface StartedWriter {
  /** Opaque to the machine; only actors/ knows what it is. */
  readonly writer: unknown;
  /** Backup time (epoch s) of the group's last finished snapshot. */
  readonly previousBackupTime: number | null;
}

/** Input of every per-request actor. */
export interface OpInput<R> {
  readonly writer: unknown;
  readonly request: R;
}

export type OpInputOf<O extends BackupOp> = OpInput<Extract<BackupRequest, { op: O }>>;

/** Input of `finishWriter` and `abortWriter`. */
export interface WriterInput {
  readonly sessionId: string;
  readonly writer: unknown;
  /** For finishWriter: the client's manifest blob, when it signed one. */
  readonly manifest?: Uint8Array;
}

/** A request that has arrived, in arrival order. */
export interface Pending<R> {
  readonly seq: number;
  readonly request: R;
  /** Credit spent on it (its `data` length). */
  readonly bytes: number;
}

export type BackupSessionEvent =
  /** The WebSocket is open; the session may now send. */
  | { type: 'CONNECTED' }
  | { type: 'REQUEST'; request: BackupRequest }
  /** A frame the codec refused (the thrown error). */
  | { type: 'FRAME_ERROR'; error: unknown }
  /** Stop the session from the server side (its task was aborted): the snapshot is not finished. */
  | { type: 'STOP'; reason: string }
  | { type: 'DISCONNECTED' };

export interface BackupSessionContext {
  readonly sessionId: string;
  readonly target: BackupTarget;
  readonly limits: SessionLimits;
  readonly port: SessionPort;
  readonly writer?: unknown;
  readonly previousBackupTime: number | null;
  /** Credit left, bytes. */
  readonly credit: number;
  readonly seq: number;
  readonly queue: readonly Pending<BackupRequest>[];
  readonly running: readonly Pending<BackupRequest>[];
  /** Id of the `finish` request once it has arrived. */
  readonly finishId?: number;
  /** The client's own (signed) manifest blob sent with `finish`, if any. */
  readonly finishManifest?: Uint8Array;
  /** Why the session failed to start or was aborted. */
  readonly fault?: Fault;
  readonly disconnected: boolean;
}
