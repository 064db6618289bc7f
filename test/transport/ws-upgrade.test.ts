import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import WebSocket from 'ws';
import { createActor, createMachine, type AnyActorRef } from 'xstate';
import { ensureSelfSignedCertificate } from '../../config/tls.ts';
import { decodeFrame, encodeFrame } from '../../transport/frame-codec.ts';
import { loadUws, type us_listen_socket } from '../../transport/uws.ts';
import { sessionRoute } from '../../transport/ws-upgrade.ts';
import type { WsPort } from '../../transport/ws-port.ts';

/** A session that stays `starting` until GO, then answers every request with `{ echo }`. */
function echoSession(port: WsPort): AnyActorRef {
  const machine = createMachine({
    initial: 'starting',
    states: {
      starting: { on: { GO: 'ready' } },
      ready: {
        on: {
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

// The session becomes ready inside another request's handler; Node runs the
// upgrade's continuation as a microtask right after that handler, while uWS
// is still parsing the other socket. Upgrading there used to make uWS read
// the other socket's bytes as this one's and drop the WebSocket (or abort
// the process): the upgrade must wait for a macrotask.
test('a session that becomes ready inside another request handler still upgrades and answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ws-upgrade-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tls = { keyFile: join(dir, 'key.pem'), certFile: join(dir, 'cert.pem') };
  await ensureSelfSignedCertificate(tls);
  const { uws } = loadUws();
  const app = uws.SSLApp({ key_file_name: tls.keyFile, cert_file_name: tls.certFile });
  let session: AnyActorRef | undefined;
  let opened!: () => void;
  const sessionOpened = new Promise<void>((resolve) => { opened = resolve; });
  sessionRoute(app, '/ws', pino({ level: 'silent' }), {
    open: (_upgrade, port) => {
      session = echoSession(port);
      opened();
      return session;
    },
    parse: (value) => value,
  });
  app.get('/go', (res) => {
    session!.send({ type: 'GO' });
    res.end('went');
  });
  const listen = await new Promise<us_listen_socket | false>((resolve) => app.listen('127.0.0.1', 0, resolve));
  assert.ok(listen);
  t.after(() => uws.us_listen_socket_close(listen));
  const port = uws.us_socket_local_port(listen as never);

  const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, { rejectUnauthorized: false });
  const open = new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const closed = new Promise<string>((resolve) => ws.once('close', (code) => resolve(`closed with ${code}`)));
  await sessionOpened; // the upgrade waits on the session
  assert.equal(await get(port, '/go'), 'went');
  await open;
  const reply = new Promise<unknown>((resolve) => ws.once('message', (data: Buffer) => resolve(decodeFrame(data))));
  ws.send(encodeFrame({ ping: 1 }), { binary: true });
  assert.deepEqual(await Promise.race([reply, closed]), { id: 1, ok: { echo: { ping: 1 } } });
  ws.close();
  await closed;
});
