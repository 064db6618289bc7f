/** Errors the server reported, re-created on the client with their code. */
import { BulwarkError, ERROR_TABLE, type ErrorCode } from '../errors.ts';

/** Re-creates a server error locally, keeping its code when we know it. */
export function remoteError(code: string | undefined, message: string): BulwarkError {
  const known = code !== undefined && Object.hasOwn(ERROR_TABLE, code);
  return new BulwarkError(known ? (code as ErrorCode) : 'BULWARK_INTERNAL', message);
}

/** The error of a refused WebSocket upgrade: the server's code and message from its JSON body, else the HTTP status. */
export function refusedUpgrade(status: number | undefined, body: Buffer): BulwarkError {
  let parsed: { code?: string; message?: string } = {};
  try {
    parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
  } catch { /* not JSON */ }
  return remoteError(parsed.code, parsed.message ?? `upgrade refused with HTTP ${status}`);
}
