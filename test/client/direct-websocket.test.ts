import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChunkArena } from '../../client/chunk-arena.ts';
import { DIRECT_MIN, DirectWebSocket } from '../../client/direct-websocket.ts';
import { ensureSelfSignedCertificate } from '../../config/tls.ts';
import { loadUws, type us_listen_socket } from '../../transport/uws.ts';

// A uWS server whose WebSocket does what each text-free command message asks.
type Command = { cmd: 'echo' | 'big' | 'frag' | 'ping' | 'close' | 'text' | 'huge'; size?: number };

let dir: string;
let port: number;
let listen: us_listen_socket;
const payload = randomBytes(3 * 1024 * 1024 + 17);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'direct-ws-'));
  const tls = { keyFile: join(dir, 'key.pem'), certFile: join(dir, 'cert.pem') };
  await ensureSelfSignedCertificate(tls);
  const { uws } = loadUws();
  const app = uws.SSLApp({ key_file_name: tls.keyFile, cert_file_name: tls.certFile });
  app.ws('/ws', {
    idleTimeout: 0,
    maxPayloadLength: 1024 * 1024,
    message: (ws, message) => {
      const c = JSON.parse(Buffer.from(message).toString('utf8')) as Command;
      const size = c.size ?? payload.length;
      if (c.cmd === 'echo') ws.send(message, true);
      else if (c.cmd === 'big' || c.cmd === 'huge') ws.send(payload.subarray(0, size), true);
      else if (c.cmd === 'frag') {
        ws.cork(() => {
          ws.sendFirstFragment(payload.subarray(0, 100), true);
          ws.sendFragment(payload.subarray(100, 1000), true);
          ws.sendLastFragment(payload.subarray(1000, size), true);
        });
      } else if (c.cmd === 'ping') {
        ws.ping('are you there');
        ws.send(Buffer.from('after ping'), true);
      } else if (c.cmd === 'close') ws.end(4000, 'bye now');
      else if (c.cmd === 'text') ws.send('text', false);
    },
  });
  app.get('/refused', (res) => {
    res.cork(() => res.writeStatus('409 Conflict').writeHeader('Content-Type', 'application/json').end(JSON.stringify({ data: null, code: 'BULWARK_LOCKED', message: 'group host/x is locked' })));
  });
  listen = (await new Promise<us_listen_socket | false>((resolve) => app.listen('127.0.0.1', 0, resolve))) as us_listen_socket;
  assert.ok(listen);
  port = uws.us_socket_local_port(listen as never);
});

after(() => {
  loadUws().uws.us_listen_socket_close(listen);
  rmSync(dir, { recursive: true, force: true });
});

const open = (arena?: ChunkArena, path = '/ws', maxMessage = 64 * 1024 * 1024) =>
  DirectWebSocket.open({ host: '127.0.0.1', port, path, headers: {}, tls: { rejectUnauthorized: false }, maxMessage, ...(arena && { arena }) });

/** The socket's messages, in order, one `next()` at a time (rejects once the socket closed). */
function inbox(ws: DirectWebSocket) {
  const queued: Buffer[] = [];
  const waiting: { resolve: (m: Buffer) => void; reject: (e: Error) => void }[] = [];
  let closed: Error | undefined;
  ws.onMessage((m) => (waiting.length > 0 ? waiting.shift()!.resolve(m) : queued.push(m)));
  ws.onClose((code, reason) => {
    closed = new Error(`closed ${code} ${reason}`);
    for (const w of waiting.splice(0)) w.reject(closed);
  });
  const next = (): Promise<Buffer> => {
    if (queued.length > 0) return Promise.resolve(queued.shift()!);
    if (closed) return Promise.reject(closed);
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  };
  return {
    next,
    /** Sends a command and resolves with the next message. */
    ask: (c: Command) => {
      ws.send(Buffer.from(JSON.stringify(c)));
      return next();
    },
  };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('a large message lands in an arena slot, intact; a small one in a buffer of its own', async () => {
  const arena = new ChunkArena();
  const ws = await open(arena);
  const box = inbox(ws);
  const big = await box.ask({ cmd: 'big' });
  assert.equal(sha(big), sha(payload));
  assert.ok(big.buffer instanceof SharedArrayBuffer);
  assert.ok(arena.slotOf(big), 'the message is an arena slot, held for its taker');
  const small = await box.ask({ cmd: 'big', size: DIRECT_MIN - 1 });
  assert.ok(small.equals(payload.subarray(0, DIRECT_MIN - 1)));
  assert.ok(small.buffer instanceof ArrayBuffer);
  const echo = await box.ask({ cmd: 'echo' });
  assert.deepEqual(JSON.parse(echo.toString()), { cmd: 'echo' });
  ws.close();
});

test('without an arena a large message is an ordinary buffer', async () => {
  const ws = await open();
  const box = inbox(ws);
  const big = await box.ask({ cmd: 'big' });
  assert.equal(sha(big), sha(payload));
  assert.ok(big.buffer instanceof ArrayBuffer);
  ws.close();
});

test('a fragmented message is reassembled (its last, large fragment straight into the slot)', async () => {
  const arena = new ChunkArena();
  const ws = await open(arena);
  const box = inbox(ws);
  const m = await box.ask({ cmd: 'frag' });
  assert.equal(sha(m), sha(payload));
  assert.ok(arena.slotOf(m));
  const small = await box.ask({ cmd: 'frag', size: 5000 });
  assert.ok(small.equals(payload.subarray(0, 5000)));
  ws.close();
});

test('a ping is answered and does not disturb the messages; a close frame gives its code and reason', async () => {
  const ws = await open();
  const box = inbox(ws);
  const closed = new Promise<[number, string]>((resolve) => ws.onClose((code, reason) => resolve([code, reason])));
  assert.equal((await box.ask({ cmd: 'ping' })).toString(), 'after ping');
  ws.send(Buffer.from(JSON.stringify({ cmd: 'close' })));
  assert.deepEqual(await closed, [4000, 'bye now']);
  assert.ok(ws.isClosed);
});

test('a refused upgrade rejects with the server\'s code and message', async () => {
  await assert.rejects(open(undefined, '/refused'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'BULWARK_LOCKED');
    assert.match(err.message, /group host\/x is locked/);
    return true;
  });
});

test('a text frame or a message over the limit ends the connection with a protocol error', async () => {
  for (const [cmd, limit] of [['text', 1 << 20], ['huge', 1 << 20]] as const) {
    const ws = await open(new ChunkArena(), '/ws', limit);
    const closed = new Promise<[number, string]>((resolve) => ws.onClose((code, reason) => resolve([code, reason])));
    ws.send(Buffer.from(JSON.stringify({ cmd })));
    const [code, reason] = await closed;
    assert.equal(code, 1006);
    assert.match(reason, cmd === 'text' ? /text frame/ : /more than 1048576 bytes/);
  }
});
