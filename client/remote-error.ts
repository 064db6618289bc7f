/** Errors the server reported, re-created on the client with their code. */
import { BulwarkError, ERROR_TABLE, type ErrorCode } from '../errors.ts';

/** Re-creates a server error locally, keeping its code when we know it. */
export function remoteError(code: string | undefined, message: string): BulwarkError {
  const known = code !== undefined && Object.hasOwn(ERROR_TABLE, code);
  return new BulwarkError(known ? (code as ErrorCode) : 'BULWARK_INTERNAL', message);
}
