/**
 * A WebSocket client (RFC 6455, binary messages, no extensions) that reads
 * a large message straight into shared memory: TLS decrypts each record
 * into the slot of a ChunkArena that will hold the message (Node's `onread`
 * with a buffer chosen per read), so a restored chunk is neither copied out
 * of socket buffers nor reassembled, and slots are reused instead of fresh
 * memory being faulted in for every message. The reader session uses it;
 * a message's slot belongs to whoever takes the message (payload-source.ts
 * releases a chunk's once it is decoded; others are left to the garbage
 * collector, never reused).
 *
 * Small messages (below DIRECT_MIN) and control frames go through a scratch
 * buffer and are copied. The client masks its frames with a zero key (see
 * connection.ts). The upgrade is a plain HTTP/1.1 request on the same TLS
 * socket; a refusal rejects with the server's error code and message.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { bulwarkError } from '../errors.ts';
import type { ChunkArena } from './chunk-arena.ts';
import type { FrameSocket } from './frame-socket.ts';
import { refusedUpgrade } from './remote-error.ts';

/** Messages at least this big are read into an arena slot. */
export const DIRECT_MIN = 256 * 1024;
const SCRATCH = 64 * 1024;
const MAX_HEAD = 64 * 1024;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const OP_CONTINUATION = 0;
const OP_BINARY = 2;
const OP_CLOSE = 8;
const OP_PING = 9;
const OP_PONG = 10;

export interface DirectWebSocketOptions {
  readonly host: string;
  readonly port: number;
  /** Path and query. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly tls: ConnectionOptions;
  readonly arena?: ChunkArena;
  /** Largest message accepted. */
  readonly maxMessage: number;
}

/** Where the payload of the frame being read goes. */
interface Target {
  /** The message so far (fragments before this frame included). */
  readonly buf: Buffer;
  /** Bytes of `buf` filled. */
  filled: number;
  /** Bytes of `buf` this frame fills up to. */
  readonly end: number;
  /** Read straight into `buf` (else through the scratch buffer). */
  readonly direct: boolean;
}

export class DirectWebSocket implements FrameSocket {
  readonly #socket: TLSSocket;
  readonly #opts: DirectWebSocketOptions;
  readonly #key = randomBytes(16).toString('base64');
  readonly #scratch = Buffer.allocUnsafe(SCRATCH);
  #onMessage: (message: Buffer) => void = () => undefined;
  #onClose: (code: number, reason: string) => void = () => undefined;
  #state: 'head' | 'frames' | 'closed' = 'head';
  #head = '';
  /** Bytes of a frame header read so far. */
  #pendingHeader = Buffer.alloc(0);
  #target: Target | undefined;
  #frameOp = 0;
  #frameFin = false;
  /** Opcode of the fragmented message being assembled, or -1. */
  #messageOp = -1;
  /** Fragments read before the current frame, copied out. */
  #fragments: Buffer[] = [];
  #fragmentBytes = 0;
  #closeSent = false;
  #closeCode = 1006;
  #closeReason = '';
  #opened: { resolve: () => void; reject: (e: Error) => void } | undefined;
  /** A refused upgrade: status, expected body length, body so far. */
  #refusal: { status: number; length: number; body: Buffer[] } | undefined;

  private constructor(opts: DirectWebSocketOptions) {
    this.#opts = opts;
    this.#socket = connect({
      ...opts.tls,
      host: opts.host,
      port: opts.port,
      onread: { buffer: () => this.#readBuffer(), callback: (n: number, buf: Uint8Array) => this.#onRead(n, buf) },
    } as ConnectionOptions);
    this.#socket.setNoDelay(true);
    this.#socket.once('secureConnect', () => this.#socket.write(this.#request()));
    this.#socket.on('error', (err) => this.#fail(bulwarkError('BULWARK_IO', `${opts.host}:${opts.port}`, err.message, { cause: err })));
    this.#socket.on('close', () => this.#closed());
  }

  /** Connects and upgrades; rejects with the server's error when it refuses. */
  static open(opts: DirectWebSocketOptions): Promise<DirectWebSocket> {
    const ws = new DirectWebSocket(opts);
    return new Promise((resolve, reject) => {
      ws.#opened = { resolve: () => resolve(ws), reject };
    });
  }

  onMessage(cb: (message: Buffer) => void): void {
    this.#onMessage = cb;
  }

  onClose(cb: (code: number, reason: string) => void): void {
    this.#onClose = cb;
  }

  get isClosed(): boolean {
    return this.#state === 'closed';
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  send(message: Uint8Array): void {
    if (this.#state !== 'frames' || this.#closeSent) return;
    this.#writeFrame(OP_BINARY, message);
  }

  /** Starts the closing handshake; the socket closes once the server answers. */
  close(code = 1000): void {
    if (this.#state !== 'frames') {
      this.terminate();
      return;
    }
    if (this.#closeSent) return;
    const body = Buffer.alloc(2);
    body.writeUInt16BE(code);
    this.#writeFrame(OP_CLOSE, body);
    this.#closeSent = true;
  }

  terminate(): void {
    this.#socket.destroy();
  }

  #request(): string {
    const lines = [
      `GET ${this.#opts.path} HTTP/1.1`,
      `Host: ${this.#opts.host.includes(':') ? `[${this.#opts.host}]` : this.#opts.host}:${this.#opts.port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${this.#key}`,
      'Sec-WebSocket-Version: 13',
      ...Object.entries(this.#opts.headers).map(([k, v]) => `${k}: ${v}`),
    ];
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  #writeFrame(op: number, payload: Uint8Array): void {
    const len = payload.length;
    const size = len < 126 ? 2 : len < 65536 ? 4 : 10;
    const header = Buffer.alloc(size + 4); // + the zero masking key
    header[0] = 0x80 | op;
    if (len < 126) {
      header[1] = 0x80 | len;
    } else if (len < 65536) {
      header[1] = 0x80 | 126;
      header.writeUInt16BE(len, 2);
    } else {
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(len), 2);
    }
    // A zero key leaves the payload as it is: it goes out unmasked and uncopied.
    this.#socket.cork();
    this.#socket.write(header);
    if (len > 0) this.#socket.write(payload);
    this.#socket.uncork();
  }

  /** The memory the next TLS read goes into. */
  #readBuffer(): Uint8Array {
    const t = this.#target;
    return t?.direct ? t.buf.subarray(t.filled, t.end) : this.#scratch;
  }

  #onRead(n: number, buf: Uint8Array): boolean {
    try {
      const t = this.#target;
      if (t?.direct && buf.buffer === t.buf.buffer) {
        t.filled += n;
        if (t.filled === t.end) this.#frameDone();
        return true;
      }
      this.#consume(Buffer.from(buf.buffer, buf.byteOffset, n));
    } catch (err) {
      this.#fail(err as Error);
    }
    return true;
  }

  #consume(data: Buffer): void {
    if (this.#state === 'head') {
      const rest = this.#readHead(data);
      if (rest === undefined) return;
      data = rest;
    }
    while (data.length > 0 && this.#state === 'frames') {
      const t = this.#target;
      if (t) {
        const take = Math.min(data.length, t.end - t.filled);
        data.copy(t.buf, t.filled, 0, take);
        t.filled += take;
        data = data.subarray(take);
        if (t.filled === t.end) this.#frameDone();
      } else {
        data = this.#readFrameHeader(data);
      }
    }
  }

  /** HTTP response head (and a refusal's body); returns what follows the head once upgraded. */
  #readHead(data: Buffer): Buffer | undefined {
    if (this.#refusal) {
      this.#refusal.body.push(Buffer.from(data));
      this.#refused();
      return undefined;
    }
    this.#head += data.toString('latin1');
    const end = this.#head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.#head.length > MAX_HEAD) throw bulwarkError('BULWARK_PROTOCOL', 'the server sent an HTTP head of more than 64 KiB');
      return undefined;
    }
    const rest = Buffer.from(this.#head.slice(end + 4), 'latin1');
    const [statusLine, ...fields] = this.#head.slice(0, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
    const headers = new Map(fields.map((f) => {
      const i = f.indexOf(':');
      return [f.slice(0, i).trim().toLowerCase(), f.slice(i + 1).trim()] as const;
    }));
    if (status !== 101) {
      this.#refusal = { status, length: Number(headers.get('content-length') ?? -1), body: [rest] };
      this.#refused();
      return undefined;
    }
    const accept = createHash('sha1').update(this.#key + GUID).digest('base64');
    if (headers.get('sec-websocket-accept') !== accept) throw bulwarkError('BULWARK_PROTOCOL', 'the server answered the upgrade with a wrong Sec-WebSocket-Accept');
    this.#state = 'frames';
    this.#opened?.resolve();
    this.#opened = undefined;
    return rest;
  }

  /** Rejects the upgrade with the server's error once its whole body is in (or the socket ended). */
  #refused(final = false): void {
    const r = this.#refusal!;
    const body = Buffer.concat(r.body);
    if (!final && (r.length < 0 || body.length < r.length)) return;
    this.#fail(refusedUpgrade(r.status, body));
  }

  /** Parses a frame header from `data` (it may come in pieces); returns the bytes after it. */
  #readFrameHeader(data: Buffer): Buffer {
    const h = this.#pendingHeader.length > 0 ? Buffer.concat([this.#pendingHeader, data]) : data;
    if (h.length < 2) {
      this.#pendingHeader = Buffer.from(h);
      return Buffer.alloc(0);
    }
    const b0 = h[0]!;
    const b1 = h[1]!;
    let len = b1 & 0x7f;
    let size = 2;
    if (len === 126) size = 4;
    else if (len === 127) size = 10;
    if (h.length < size) {
      this.#pendingHeader = Buffer.from(h);
      return Buffer.alloc(0);
    }
    if (len === 126) len = h.readUInt16BE(2);
    else if (len === 127) len = Number(h.readBigUInt64BE(2));
    this.#pendingHeader = Buffer.alloc(0);
    if (b1 & 0x80) throw bulwarkError('BULWARK_PROTOCOL', 'the server sent a masked frame');
    if (b0 & 0x70) throw bulwarkError('BULWARK_PROTOCOL', 'the server sent a frame with reserved bits set');
    const op = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    this.#startFrame(op, fin, len);
    return h.subarray(size);
  }

  #startFrame(op: number, fin: boolean, len: number): void {
    this.#frameOp = op;
    this.#frameFin = fin;
    if (op >= OP_CLOSE) {
      if (len > 125 || !fin) throw bulwarkError('BULWARK_PROTOCOL', 'the server sent a malformed control frame');
      this.#target = { buf: Buffer.allocUnsafe(len), filled: 0, end: len, direct: false };
    } else {
      if (op === OP_CONTINUATION ? this.#messageOp < 0 : this.#messageOp >= 0) throw bulwarkError('BULWARK_PROTOCOL', 'the server interleaved or misnumbered message fragments');
      if (op !== OP_CONTINUATION && op !== OP_BINARY) throw bulwarkError('BULWARK_PROTOCOL', op === 1 ? 'the server sent a text frame' : `the server sent a frame with the reserved opcode ${op}`);
      if (op === OP_BINARY) this.#messageOp = op;
      const total = this.#fragmentBytes + len;
      if (total > this.#opts.maxMessage) throw bulwarkError('BULWARK_PROTOCOL', `the server sent a message of more than ${this.#opts.maxMessage} bytes`);
      if (fin && total >= DIRECT_MIN && this.#opts.arena) {
        // The last (usually the only) frame of a large message: into a slot,
        // the fragments before it copied in front.
        const slot = this.#opts.arena.acquire(total);
        const buf = Buffer.from(slot.sab, 0, total);
        let at = 0;
        for (const f of this.#fragments) at += f.copy(buf, at);
        this.#fragments = [];
        this.#target = { buf, filled: at, end: total, direct: true };
      } else {
        this.#target = { buf: Buffer.allocUnsafe(len), filled: 0, end: len, direct: false };
      }
    }
    if (len === 0) this.#frameDone();
  }

  #frameDone(): void {
    const t = this.#target!;
    this.#target = undefined;
    const op = this.#frameOp;
    if (op === OP_PING) {
      if (!this.#closeSent) this.#writeFrame(OP_PONG, t.buf);
      return;
    }
    if (op === OP_PONG) return;
    if (op === OP_CLOSE) {
      this.#closeCode = t.buf.length >= 2 ? t.buf.readUInt16BE(0) : 1005;
      this.#closeReason = t.buf.subarray(2).toString('utf8');
      if (!this.#closeSent) {
        this.#writeFrame(OP_CLOSE, t.buf.subarray(0, 2));
        this.#closeSent = true;
      }
      this.#socket.end();
      return;
    }
    if (!this.#frameFin) {
      this.#fragments.push(t.buf);
      this.#fragmentBytes += t.buf.length;
      return;
    }
    const message = t.direct ? t.buf : this.#fragments.length > 0 ? Buffer.concat([...this.#fragments, t.buf]) : t.buf;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#messageOp = -1;
    this.#onMessage(message);
  }

  #fail(err: Error): void {
    this.#closeReason ||= err.message;
    if (this.#opened) {
      this.#opened.reject(err);
      this.#opened = undefined;
    }
    this.#socket.destroy();
  }

  #closed(): void {
    if (this.#state === 'closed') return;
    if (this.#refusal && this.#opened) this.#refused(true);
    if (this.#opened) this.#fail(bulwarkError('BULWARK_IO', `${this.#opts.host}:${this.#opts.port}`, 'the connection closed during the WebSocket upgrade'));
    this.#state = 'closed';
    this.#onClose(this.#closeCode, this.#closeReason);
  }
}
