/**
 * A minimal client of the WebSocket backup and reader protocols for tests,
 * over the `ws` package (Node 20 has no global WebSocket): connects with
 * the given headers (self-signed certificate accepted), waits for `hello`,
 * matches replies to requests by id and keeps the notices. A refused
 * upgrade (an HTTP error) and a session that did not start (an `abort`
 * before `hello`) both reject with UpgradeRefused.
 */
import WebSocket from 'ws';
import { decodeFrame, encodeFrame } from '../../transport/frame-codec.ts';

type Frame = Record<string, unknown> & { id?: number; op?: string };
export type Reply = { id: number; ok?: Record<string, unknown>; error?: { code: string; message: string } };

export class UpgradeRefused extends Error {
  constructor(readonly status: number, readonly body: { code?: string; message?: string }) {
    super(`upgrade refused with ${status}: ${body.code} ${body.message}`);
  }
}

export interface SessionClient {
  readonly hello: Frame;
  /** Notices after `hello` (credit, abort), in arrival order. */
  readonly notices: Frame[];
  request(frame: Frame): Promise<Reply>;
  sendRaw(bytes: Uint8Array): void;
  /** The `abort` notice, once the server has sent it and closed the socket. */
  aborted(): Promise<{ code: string; message: string }>;
  /** Resolves with the close code once the socket is closed (by either side). */
  readonly closed: Promise<number>;
  close(): void;
}

export function connectSession(port: number, path: string, query: Record<string, string | number>, headers: Record<string, string>): Promise<SessionClient> {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
  const ws = new WebSocket(`wss://127.0.0.1:${port}${path}?${qs}`, { headers, rejectUnauthorized: false, perMessageDeflate: false, maxPayload: 64 << 20 });
  ws.binaryType = 'nodebuffer';
  const pending = new Map<number, (r: Reply) => void>();
  const notices: Frame[] = [];
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, JSON.parse(Buffer.concat(parts).toString('utf8')) as UpgradeRefused['body'])));
    });
    ws.once('error', reject);
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data) as Frame;
      if (frame.op === 'hello') {
        resolve(client(frame));
      } else if (frame.op === 'abort' && typeof frame.status === 'number') {
        // The session did not start: refused with the status an HTTP refusal would carry.
        reject(new UpgradeRefused(frame.status, frame.error as UpgradeRefused['body']));
      } else if (typeof frame.id === 'number' && pending.has(frame.id)) {
        pending.get(frame.id)!(frame as Reply);
        pending.delete(frame.id);
      } else {
        notices.push(frame);
      }
    });
  });

  function client(hello: Frame): SessionClient {
    return {
      hello,
      notices,
      closed,
      request: (frame) => new Promise<Reply>((res, rej) => {
        pending.set(frame.id!, res);
        ws.send(encodeFrame(frame), (err) => err && rej(err));
        void closed.then(() => rej(new Error(`socket closed before the reply to request ${frame.id}`)));
      }),
      sendRaw: (bytes) => ws.send(bytes),
      aborted: async () => {
        await closed;
        const abort = notices.find((n) => n.op === 'abort');
        if (!abort) throw new Error('socket closed without an abort notice');
        return abort.error as { code: string; message: string };
      },
      close: () => ws.close(),
    };
  }
}
