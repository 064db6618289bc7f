/**
 * The socket side of a session (SessionPort): encodes the session's frames
 * onto its uWS WebSocket and closes it. uWS throws on a closed socket, and a
 * session may still send after its client left (a late reply), so every
 * call is a no-op once the socket is closed or not yet open.
 *
 * A reply's data read into a pooled buffer (datastore/read-buffer-pool.ts)
 * is sent as one frame with its header written in front of it, and goes
 * back to the pool once sent: uWS has copied whatever it did not write to
 * the socket at once.
 *
 * Backpressure: past HIGH_WATER bytes buffered in uWS the port reports
 * `onPressure(true)` (the reader pauses chunk reads); once `drain` finds the
 * buffer below LOW_WATER it reports `onPressure(false)`.
 */
import type { Logger } from 'pino';
import type { ServerFrame, SessionPort } from '../machines/backup-session.types.ts';
import { replyBuffers } from '../datastore/read-buffer-pool.ts';
import type { WireError } from './error-map.ts';
import { encodeFrame, encodeReplyParts, toWireFrame } from './frame-codec.ts';
import type { WebSocket } from './uws.ts';

export const HIGH_WATER = 8 * 1024 * 1024;
export const LOW_WATER = 1024 * 1024;

export class WsPort implements SessionPort {
  #ws: WebSocket<unknown> | undefined;
  #closed = false;
  #paused = false;
  /** Set by routes that throttle on backpressure. */
  onPressure: ((paused: boolean) => void) | undefined;

  constructor(private readonly log: Logger) {}

  /** The upgrade completed; a session that already closed its port gets the socket closed at once. */
  attach(ws: WebSocket<unknown>): void {
    if (this.#closed) {
      ws.end(1000, 'session ended');
      return;
    }
    this.#ws = ws;
  }

  /** uWS reported the socket closed: nothing may touch it any more. */
  detach(): void {
    this.#closed = true;
    this.#ws = undefined;
  }

  send(frame: ServerFrame): void {
    const ws = this.#ws;
    if (ws === undefined || this.#closed) return;
    const wire = toWireFrame(frame, (err) => this.log.error({ err }, 'session request failed'));
    const parts = encodeReplyParts(wire);
    const whole = parts && replyBuffers.withHead(parts[1], parts[0]);
    if (whole) {
      // A chunk read with room for its frame header: one frame, nothing copied.
      ws.cork(() => ws.send(whole, true, false));
    } else if (parts) {
      // A chunk goes out as it was read, after a small header: no frame-sized copy.
      ws.cork(() => {
        ws.sendFirstFragment(parts[0], true, false);
        ws.sendLastFragment(parts[1], false);
      });
    } else {
      const bytes = encodeFrame(wire);
      ws.cork(() => ws.send(bytes, true, false));
    }
    const data = (wire.ok as { data?: unknown } | undefined)?.data;
    if (data instanceof Uint8Array) replyBuffers.give(data);
    if (this.onPressure && !this.#paused && ws.getBufferedAmount() > HIGH_WATER) {
      this.#paused = true;
      this.onPressure(true);
    }
  }

  /** The session could not start: an `abort` frame with the status an HTTP refusal would have had, then the close. */
  refuse(wire: WireError): void {
    const ws = this.#ws;
    if (ws === undefined || this.#closed) return;
    const bytes = encodeFrame({ op: 'abort', status: wire.status, error: { code: wire.code, message: wire.message } });
    ws.cork(() => ws.send(bytes, true, false));
    this.close();
  }

  close(): void {
    const ws = this.#ws;
    this.#closed = true;
    this.#ws = undefined;
    ws?.end(1000, 'session ended'); // queued frames go out first
  }

  drain(): void {
    const ws = this.#ws;
    if (this.#paused && ws !== undefined && ws.getBufferedAmount() < LOW_WATER) {
      this.#paused = false;
      this.onPressure?.(false);
    }
  }
}
