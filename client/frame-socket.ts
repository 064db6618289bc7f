/**
 * What a protocol session (rpc.ts) needs of its WebSocket: whole binary
 * messages in, messages out, the close with its code and reason. Two
 * implementations: the `ws` package (backup sessions) and
 * direct-websocket.ts (reader sessions, large messages read into shared
 * memory).
 */
import type { IncomingMessage } from 'node:http';
import type WebSocket from 'ws';

export interface FrameSocket {
  onMessage(cb: (message: Buffer) => void): void;
  /** Once: the close code (1006 for a dropped connection) and the reason, or the socket error that ended it. */
  onClose(cb: (code: number, reason: string) => void): void;
  send(message: Uint8Array): void;
  /** Bytes queued for sending and not yet written to the socket. */
  readonly bufferedAmount: number;
  readonly isClosed: boolean;
  /** Starts the closing handshake. */
  close(): void;
  /** Drops the connection at once. */
  terminate(): void;
}

/** A `ws` WebSocket as a FrameSocket; wrap it before it opens, so no early frame is missed. */
export function wsFrameSocket(ws: WebSocket): FrameSocket {
  // ws reports a socket error only as close code 1006: keep it, to say why the connection dropped.
  let socketError: Error | undefined;
  ws.once('upgrade', (res: IncomingMessage) => res.socket.once('error', (err) => { socketError = err; }));
  ws.on('error', (err) => { socketError ??= err; });
  return {
    onMessage: (cb) => ws.on('message', (data: Buffer) => cb(data)),
    onClose: (cb) => ws.once('close', (code: number, reason: Buffer) => cb(code, reason.length > 0 ? reason.toString('utf8') : socketError?.message ?? '')),
    send: (message) => ws.send(message),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    get isClosed() {
      return ws.readyState === ws.CLOSED;
    },
    close: () => ws.close(),
    terminate: () => ws.terminate(),
  };
}
