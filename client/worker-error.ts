/**
 * Errors across a worker thread boundary: postMessage keeps only plain
 * data, so a failure travels as its message plus the fields callers branch
 * on (a Bulwark code, or Node's fs `code`, `errno`, `syscall`, `path`) and
 * is rebuilt on the other side: a BulwarkError for a known code, else an
 * Error shaped like Node's fs errors.
 */
import { BulwarkError, ERROR_TABLE, type ErrorCode } from '../errors.ts';

export interface SerializedError {
  readonly message: string;
  readonly code?: string;
  readonly errno?: number;
  readonly syscall?: string;
  readonly path?: string;
}

export function serializeError(err: unknown): SerializedError {
  const e = err as { code?: unknown; errno?: unknown; syscall?: unknown; path?: unknown } | null;
  return {
    message: err instanceof Error ? err.message : String(err),
    ...(typeof e?.code === 'string' && { code: e.code }),
    ...(typeof e?.errno === 'number' && { errno: e.errno }),
    ...(typeof e?.syscall === 'string' && { syscall: e.syscall }),
    ...(typeof e?.path === 'string' && { path: e.path }),
  };
}

export function deserializeError(s: SerializedError): Error {
  const { message, ...fields } = s;
  if (s.code !== undefined && Object.hasOwn(ERROR_TABLE, s.code)) return new BulwarkError(s.code as ErrorCode, message);
  return Object.assign(new Error(message), fields);
}
