import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import WebSocket from 'ws';
import { assign, createActor, createMachine, type AnyActorRef } from 'xstate';
import { bulwarkError } from '../../errors.ts';
import { ensureSelfSignedCertificate } from '../../config/tls.ts';
import { decodeFrame, encodeFrame } from '../../transport/frame-codec.ts';
import { loadUws, type us_listen_socket } from '../../transport/uws.ts';
import { sessionRoute } from '../../transport/ws-upgrade.ts';
import type { WsPort } from '../../transport/ws-port.ts';

/** A session that stays `starting` until GO (or fails on FAIL), then answers every request with `{ echo }`. */
function echoSession(port: WsPort): AnyActorRef {
  const machine = createMachine({
    initial: 'starting',
    context: { fault: undefined as unknown },
    states: {
      starting: {
        on: {
          GO: 'ready',
          FAIL: { target: 'failed', actions: assign({ fault: () => ({ thrown: bulwarkError('BULWARK_LOCKED', 'group host/x', 'another backup is running') }) }) },
        },
      },
      failed: { type: 'final' },
      ready: {
        on: {
          FRAME_ERROR: { actions: ({ event }) => port.send({ op: 'abort', error: { code: 'BULWARK_PROTOCOL', args: [(event as unknown as { error: Error }).error.message] } }) },
          REQUEST: {
            actions: ({ event }) => port.send({ id: 1, ok: { echo: (event as unknown as { request: unknown }).request } }),
          },
        },
      },
    },
  });
  return createActor(machine).start();
}

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, rejectUnauthorized: false, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
}

interface EchoServer {
  readonly port: number;
  /** Resolves with the session once the upgrade request has opened it. */
  readonly session: Promise<AnyActorRef>;
  /** Resolves once the server has received `n` frames. */
  received(n: number): Promise<void>;
}

/** A uWS app with the session route on /ws and GET /go, /fail that move the session on from another socket. */
async function startEchoServer(t: { after(fn: () => void): void }): Promise<EchoServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ws-upgrade-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tls = { keyFile: join(dir, 'key.pem'), certFile: join(dir, 'cert.pem') };
  await ensureSelfSignedCertificate(tls);
  const { uws } = loadUws();
  const app = uws.SSLApp({ key_file_name: tls.keyFile, cert_file_name: tls.certFile });
  let opened!: (ref: AnyActorRef) => void;
  const session = new Promise<AnyActorRef>((resolve) => { opened = resolve; });
  sessionRoute(app, '/ws', pino({ level: 'silent' }), {
    open: (_upgrade, port) => {
      const ref = echoSession(port);
      opened(ref);
      return ref;
    },
    parse: (value) => {
      parsed++;
      for (const w of waiters.filter((x) => x.n <= parsed)) w.resolve();
      return value;
    },
  });
  let parsed = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  for (const [path, type] of [['/go', 'GO'], ['/fail', 'FAIL']] as const) {
    app.get(path, (res) => {
      void session.then((ref) => ref.send({ type }));
      res.end(type);
    });
  }
  const listen = await new Promise<us_listen_socket | false>((resolve) => app.listen('127.0.0.1', 0, resolve));
  assert.ok(listen);
  t.after(() => uws.us_listen_socket_close(listen));
  const received = (n: number) => (parsed >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })));
  return { port: uws.us_socket_local_port(listen as never), session, received };
}

/** A client socket on the echo server's /ws; every frame it receives is decoded into `frames`. */
function connect(port: number) {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, { rejectUnauthorized: false });
  const frames: unknown[] = [];
  ws.on('message', (data: Buffer) => frames.push(decodeFrame(data)));
  const open = new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  return { ws, frames, open, closed };
}

// The socket is upgraded at once and the session starts behind it. Here it
// becomes ready while uWS runs another request's handler: the session is
// told it is connected there, and its socket works. (Upgrading only once
// the session was ready, from a promise or a timer, lost sockets: uWS either
// read another socket's bytes as this one's or, through HttpResponse.cork,
// closed a socket it had just upgraded in place.)
test('a session that becomes ready inside another request handler is connected and answers', async (t) => {
  const server = await startEchoServer(t);
  const { ws, open, closed } = connect(server.port);
  await open;
  await server.session;
  assert.equal(await get(server.port, '/go'), 'GO');
  const reply = new Promise<unknown>((resolve) => ws.once('message', (data: Buffer) => resolve(decodeFrame(data))));
  ws.send(encodeFrame({ ping: 1 }), { binary: true });
  assert.deepEqual(await Promise.race([reply, closed.then((code) => `closed with ${code}`)]), { id: 1, ok: { echo: { ping: 1 } } });
  ws.close();
  await closed;
});

test('a session that fails to start is refused with an abort frame carrying the HTTP status, then closed', async (t) => {
  const server = await startEchoServer(t);
  const { frames, open, closed } = connect(server.port);
  await open;
  await server.session;
  assert.equal(await get(server.port, '/fail'), 'FAIL');
  assert.equal(await closed, 1000);
  assert.deepEqual(frames, [{
    op: 'abort', status: 409, error: { code: 'BULWARK_LOCKED', message: (await server.session).getSnapshot().context.fault.thrown.message },
  }]);
});

test('requests sent before hello are answered once the session has started, in order; too many are a protocol error', async (t) => {
  const server = await startEchoServer(t);
  const { ws, frames, open } = connect(server.port);
  await open;
  await server.session;
  for (let i = 0; i < 4; i++) ws.send(encodeFrame({ n: i }), { binary: true });
  await server.received(4); // before the session is told to start
  assert.equal(await get(server.port, '/go'), 'GO');
  while (frames.length < 4) await new Promise((resolve) => ws.once('message', resolve));
  assert.deepEqual(frames, [0, 1, 2, 3].map((n) => ({ id: 1, ok: { echo: { n } } })));
  ws.close();

  const flood = await startEchoServer(t);
  const { ws: ws2, frames: frames2, open: open2 } = connect(flood.port);
  await open2;
  await flood.session;
  for (let i = 0; i < 65; i++) ws2.send(encodeFrame({ n: i }), { binary: true });
  await flood.received(65);
  assert.equal(await get(flood.port, '/go'), 'GO');
  while (frames2.length < 1) await new Promise((resolve) => ws2.once('message', resolve));
  assert.equal(frames2.length, 1);
  assert.match(JSON.stringify(frames2[0]), /"op":"abort".*BULWARK_PROTOCOL.*more than 64 frames before hello/);
  ws2.close();
});
