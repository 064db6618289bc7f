/**
 * Every error Bulwark raises on purpose, as data: a stable code, a message
 * template (`%s` placeholders filled in order) and the HTTP status the
 * transport maps it to. Codes are API: clients branch on them, so never
 * rename one. `transport/error-map.ts` is the only place that turns these into
 * wire replies; everything else throws and branches on `code` or `instanceof`.
 *
 * This module imports nothing, so every layer (datastore/ included) may use it.
 */

export interface ErrorSpec {
  readonly message: string;
  readonly http: number;
}

const spec = (message: string, http = 500): ErrorSpec => ({ message, http });

export const ERROR_TABLE = {
  // ── general ────────────────────────────────────────────────────────────
  BULWARK_INTERNAL: spec('internal error: %s'),
  BULWARK_INVALID_ARGUMENT: spec('invalid value for %s: %s', 400),
  BULWARK_NOT_FOUND: spec('%s not found', 404),
  BULWARK_ALREADY_EXISTS: spec('%s already exists', 409),
  BULWARK_IO: spec('I/O error on %s: %s'),

  // ── names and layout ───────────────────────────────────────────────────
  BULWARK_INVALID_NAME: spec('invalid %s %s: %s', 400),
  BULWARK_INVALID_BACKUP_TIME: spec('invalid backup time %s: %s', 400),
  BULWARK_NAMESPACE_TOO_DEEP: spec('namespace %s is deeper than the maximum of %s levels', 400),
  BULWARK_NAMESPACE_NOT_EMPTY: spec('namespace %s is not empty: %s', 409),
  /** A group delete that had to leave protected snapshots behind (PBS: "only partially deleted"). */
  BULWARK_GROUP_NOT_EMPTY: spec('backup group %s was only partly deleted: %s', 409),
  BULWARK_SNAPSHOT_PROTECTED: spec('snapshot %s is protected; remove the protection first', 409),
  BULWARK_OWNER_MISMATCH: spec('group %s is owned by %s, not by %s', 403),

  // ── locks ──────────────────────────────────────────────────────────────
  BULWARK_LOCKED: spec('%s is locked: %s', 409),

  // ── blobs and chunks ───────────────────────────────────────────────────
  BULWARK_BAD_MAGIC: spec('%s has an unknown magic number', 400),
  BULWARK_BAD_CRC: spec('%s failed its CRC32 check (stored %s, computed %s)', 400),
  BULWARK_TRUNCATED: spec('%s is truncated: %s', 400),
  BULWARK_DIGEST_MISMATCH: spec('chunk digest mismatch: expected %s, computed %s', 400),
  BULWARK_CHUNK_TOO_LARGE: spec('chunk of %s bytes exceeds the maximum of %s bytes', 413),
  BULWARK_CHUNK_SIZE_MISMATCH: spec('chunk %s already stored with %s bytes; refusing %s bytes', 409),
  BULWARK_CHUNK_CRYPT_MISMATCH: spec('chunk %s already stored %s; refusing a %s copy', 409),
  BULWARK_DECRYPT_FAILED: spec('could not decrypt %s: wrong key or corrupted data', 400),
  BULWARK_KEY_REQUIRED: spec('%s is encrypted; a key is required to read it', 400),
  BULWARK_KEY_PASSWORD_REQUIRED: spec('%s is protected by a password: %s', 400),
  BULWARK_INVALID_KEY: spec('invalid encryption key: %s', 400),
  BULWARK_DECOMPRESS_FAILED: spec('could not decompress %s: %s', 400),

  // ── indexes and manifests ──────────────────────────────────────────────
  BULWARK_INDEX_CHECKSUM: spec('index %s has a wrong checksum (stored %s, computed %s)', 400),
  BULWARK_INDEX_CORRUPT: spec('index %s is corrupt: %s', 400),
  BULWARK_MANIFEST_INVALID: spec('manifest %s is invalid: %s', 400),
  BULWARK_MANIFEST_SIGNATURE: spec('manifest %s has a bad signature: %s', 400),
  BULWARK_ARCHIVE_CORRUPT: spec('archive %s is corrupt: %s', 400),

  // ── backup and reader protocol ─────────────────────────────────────────
  BULWARK_PROTOCOL: spec('protocol error: %s', 400),
  BULWARK_CREDIT_OVERRUN: spec('client sent %s bytes with only %s bytes of credit', 400),
  BULWARK_UNKNOWN_CHUNK: spec('chunk %s was neither uploaded in this session nor known from a previous snapshot', 400),
  BULWARK_BACKUP_TIME_FUTURE: spec('backup time %s is more than %s seconds ahead of the server clock', 400),
  BULWARK_BACKUP_TIME_OLD: spec('backup time %s is not newer than the last snapshot %s of this group', 400),
  BULWARK_SESSION_ABORTED: spec('session aborted: %s', 400),
  /** A job (prune, …) stopped on request through its AbortSignal. */
  BULWARK_ABORTED: spec('%s aborted: %s', 409),

  // ── access control ─────────────────────────────────────────────────────
  BULWARK_UNAUTHORIZED: spec('authentication failed: %s', 401),
  BULWARK_FORBIDDEN: spec('permission check failed: %s needs %s', 403),
  BULWARK_RATE_LIMITED: spec('too many failed logins for %s; retry in %s seconds', 429),

  // ── server and configuration ───────────────────────────────────────────
  BULWARK_CONFIG_INVALID: spec('configuration %s is invalid: %s', 400),
  BULWARK_CONFIG_DIGEST: spec('configuration %s was changed by someone else (digest mismatch); reload and retry', 409),
  BULWARK_BAD_SCHEDULE: spec("invalid schedule '%s': %s", 400),
  BULWARK_DATASTORE_UNAVAILABLE: spec('datastore %s is %s', 503),
  BULWARK_NATIVE_MISSING: spec('native module %s could not be loaded: %s'),
  BULWARK_USAGE: spec('%s', 2),
  BULWARK_VERIFY_FAILED: spec('verification failed for %s snapshot(s): %s; see the task log for details', 500),
  BULWARK_TASK_FAILED: spec('task %s failed: %s'),
  BULWARK_ESCALATED: spec('%s crashed %s times within its restart window; last error: %s'),

  // ── tasks ──────────────────────────────────────────────────────────────
  BULWARK_BAD_UPID: spec('unable to parse UPID %s: %s', 400),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export class BulwarkError extends Error {
  readonly code: ErrorCode;
  readonly http: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BulwarkError';
    this.code = code;
    this.http = ERROR_TABLE[code].http;
  }
}

function format(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : '%s'));
}

/**
 * Build an error from the table: `bulwarkError('BULWARK_DIGEST_MISMATCH', want, got)`.
 * Pass `{ cause }` as the last argument to keep the underlying error.
 */
export function bulwarkError(code: ErrorCode, ...args: unknown[]): BulwarkError {
  let cause: unknown;
  const last = args[args.length - 1];
  if (last !== null && typeof last === 'object' && 'cause' in last && Object.keys(last).length === 1) {
    cause = (last as { cause: unknown }).cause;
    args = args.slice(0, -1);
  }
  return new BulwarkError(code, format(ERROR_TABLE[code].message, args), cause === undefined ? undefined : { cause });
}

export function isBulwarkError(err: unknown, code?: ErrorCode): err is BulwarkError {
  return err instanceof BulwarkError && (code === undefined || err.code === code);
}
