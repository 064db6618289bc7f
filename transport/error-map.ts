/**
 * The single place that turns thrown errors into wire replies. Known
 * BulwarkErrors keep their code, message and HTTP status; anything else is
 * an internal error whose details go to the log, never to the client.
 */
import { isBulwarkError, type ErrorCode } from '../errors.ts';

export interface WireError {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
}

export function toWireError(err: unknown): WireError {
  if (isBulwarkError(err)) {
    const status = err.http >= 400 && err.http < 600 ? err.http : 500;
    return { status, code: err.code, message: err.message };
  }
  return { status: 500, code: 'BULWARK_INTERNAL', message: 'internal error (see the server log)' };
}

/** Reply body for the /api2/json API: PBS's envelope with our code added. */
export function httpErrorBody(wire: WireError): string {
  return JSON.stringify({ data: null, message: wire.message, code: wire.code });
}

/** Reply frame for the WebSocket protocols. */
export function wsErrorFrame(id: number | null, wire: WireError): { id: number | null; error: { code: string; message: string } } {
  return { id, error: { code: wire.code, message: wire.message } };
}

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export const statusLine = (status: number): string => STATUS_TEXT[status] ?? `${status} Error`;
