/**
 * Request/reply over a protocol WebSocket (docs/protocol.md): numbered
 * requests, replies matched by id and arriving in any order, server notices
 * (`hello`, `credit`, `abort`). Upload credit is tracked here: `request`
 * with a `data` payload waits until the server has granted enough bytes, so
 * the client never overruns and the server's memory stays bounded.
 */
// msgpackr's plain entry point: the same Packr, without loading the msgpackr-extract addon, whose
// native string extraction costs an addon load at start and an N-API call per frame for frames
// whose only strings are a few short keys.
import { Packr } from 'msgpackr/pack';
import { bulwarkError } from '../errors.ts';
import type { FrameSocket } from './frame-socket.ts';
import { remoteError } from './remote-error.ts';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

interface Pending {
  resolve(value: Record<string, unknown>): void;
  reject(err: Error): void;
}

export class RpcSession {
  readonly #ws: FrameSocket;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #credit = 0;
  #creditWaiters: Array<() => void> = [];
  #closedError: Error | undefined;
  readonly hello: Promise<Record<string, unknown>>;

  readonly #closed: Promise<void>;

  constructor(ws: FrameSocket) {
    this.#ws = ws;
    let gotHello!: (h: Record<string, unknown>) => void;
    let noHello!: (e: Error) => void;
    this.hello = new Promise((resolve, reject) => { gotHello = resolve; noHello = reject; });
    this.hello.catch(() => undefined);
    ws.onMessage((raw: Buffer) => {
      let frame: Record<string, unknown>;
      try {
        frame = packr.unpack(raw) as Record<string, unknown>;
      } catch {
        this.#fail(bulwarkError('BULWARK_PROTOCOL', 'server sent a frame that is not msgpack'));
        return;
      }
      if (typeof frame.id === 'number') {
        const p = this.#pending.get(frame.id);
        if (!p) return;
        this.#pending.delete(frame.id);
        const error = frame.error as { code?: string; message?: string } | undefined;
        if (error) p.reject(remoteError(error.code, error.message ?? 'request failed'));
        else p.resolve((frame.ok ?? {}) as Record<string, unknown>);
        return;
      }
      switch (frame.op) {
        case 'hello':
          this.#grant(Number(frame.credits ?? 0));
          gotHello(frame);
          break;
        case 'credit':
          this.#grant(Number(frame.bytes ?? 0));
          break;
        case 'abort': {
          const error = frame.error as { code?: string; message?: string } | undefined;
          this.#fail(remoteError(error?.code, error?.message ?? 'session aborted by the server'));
          break;
        }
        default:
          break;
      }
    });
    this.#closed = new Promise((resolve) => {
      ws.onClose((code, reason) => {
        // The close code tells a server close (1000/1001) from a dropped connection (1006) or an oversized frame (1009).
        this.#fail(bulwarkError('BULWARK_SESSION_ABORTED', `connection closed (code ${code}${reason ? `, ${reason}` : ''})`));
        noHello(this.#closedError!);
        resolve();
      });
    });
  }

  #grant(bytes: number): void {
    this.#credit += bytes;
    const waiters = this.#creditWaiters;
    this.#creditWaiters = [];
    for (const w of waiters) w();
  }

  #fail(err: Error): void {
    if (this.#closedError) return;
    this.#closedError = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#grant(0);
  }

  /** Sends a request; payload bytes (`data`) spend credit, waiting for grants as needed. */
  async request(op: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const data = params.data;
    const cost = data instanceof Uint8Array ? data.length : 0;
    await this.waitForCredit(cost);
    this.#credit -= cost;
    const id = this.#nextId++;
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#ws.send(packr.pack({ id, op, ...params }));
    return reply;
  }

  /**
   * Resolves once `bytes` of upload credit are available. Producers await
   * this before preparing more data, which bounds the client's memory.
   */
  async waitForCredit(bytes: number): Promise<void> {
    while (bytes > 0 && this.#credit < bytes && !this.#closedError) {
      await new Promise<void>((resolve) => this.#creditWaiters.push(resolve));
    }
    if (this.#closedError) throw this.#closedError;
  }

  /** Bytes the socket has queued but not yet sent (for back-pressure). */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  close(): void {
    this.#ws.close();
  }

  /**
   * Closes and resolves once the connection is closed. The closing
   * handshake follows the frames still queued, so chunks already sent are
   * stored (and offered to the next run as resumable); past `timeoutMs` the
   * connection is dropped instead. Either way the server has seen the
   * session end when this resolves, so a re-run does not find the group
   * still locked by this one.
   */
  async closeAndWait(timeoutMs = 10_000): Promise<void> {
    if (this.#ws.isClosed) return;
    this.#ws.close();
    const timer = setTimeout(() => this.#ws.terminate(), timeoutMs);
    try {
      await this.#closed;
    } finally {
      clearTimeout(timer);
    }
  }
}
