import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { replyBuffers } from '../../datastore/read-buffer-pool.ts';
import { decodeFrame } from '../../transport/frame-codec.ts';
import type { WebSocket } from '../../transport/uws.ts';
import { HIGH_WATER, LOW_WATER, WsPort } from '../../transport/ws-port.ts';

/** The few uWS WebSocket calls the port makes, recorded; `buffered` plays getBufferedAmount. */
function fakeSocket() {
  const sent: unknown[] = [];
  const ends: number[] = [];
  /** How each message went out: 'whole' or 'fragments'. */
  const how: string[] = [];
  let first: Buffer | undefined;
  const ws = {
    buffered: 0,
    cork(cb: () => void) { cb(); return ws; },
    send(bytes: Uint8Array) { sent.push(decodeFrame(bytes)); how.push('whole'); return 1; },
    // uWS copies what it sends: so does this fake.
    sendFirstFragment(bytes: Uint8Array) { first = Buffer.from(bytes); return 1; },
    sendLastFragment(bytes: Uint8Array) { sent.push(decodeFrame(Buffer.concat([first!, bytes]))); how.push('fragments'); return 1; },
    getBufferedAmount() { return ws.buffered; },
    end(code: number) { ends.push(code); },
  };
  return { ws, sent, ends, how, socket: ws as unknown as WebSocket<unknown> };
}

const log = pino({ level: 'silent' });

test('frames are encoded for the wire, faults as { code, message }', () => {
  const f = fakeSocket();
  const port = new WsPort(log);
  port.attach(f.socket);
  port.send({ id: 1, error: { code: 'BULWARK_PROTOCOL', args: ['x'] } });
  assert.deepEqual(f.sent, [{ id: 1, error: { code: 'BULWARK_PROTOCOL', message: 'protocol error: x' } }]);
});

test('nothing touches the socket before it opens or after it closed', () => {
  const f = fakeSocket();
  const port = new WsPort(log);
  port.send({ op: 'credit', bytes: 1 }); // not attached yet: dropped
  port.attach(f.socket);
  port.detach(); // uWS reported the close
  port.send({ op: 'credit', bytes: 2 });
  port.close();
  assert.deepEqual([f.sent, f.ends], [[], []]);
});

test('a session that closed before the upgrade completed gets its socket closed at once', () => {
  const f = fakeSocket();
  const port = new WsPort(log);
  port.close();
  port.attach(f.socket);
  assert.deepEqual(f.ends, [1000]);
  port.send({ op: 'credit', bytes: 1 });
  assert.deepEqual(f.sent, []);
});

test('backpressure: pause above the high-water mark, resume on drain below the low one', () => {
  const f = fakeSocket();
  const port = new WsPort(log);
  const pressure: boolean[] = [];
  port.onPressure = (p) => pressure.push(p);
  port.attach(f.socket);
  f.ws.buffered = HIGH_WATER + 1;
  port.send({ op: 'credit', bytes: 1 });
  port.send({ op: 'credit', bytes: 1 });
  assert.deepEqual(pressure, [true], 'reported once');
  f.ws.buffered = LOW_WATER;
  port.drain();
  assert.deepEqual(pressure, [true], 'not yet below the low-water mark');
  f.ws.buffered = LOW_WATER - 1;
  port.drain();
  assert.deepEqual(pressure, [true, false]);
});

test('a chunk read into a pooled buffer goes out as one frame, and its buffer back to the pool', () => {
  const f = fakeSocket();
  const port = new WsPort(log);
  port.attach(f.socket);
  const data = replyBuffers.take(200 * 1024);
  data.fill(5);
  port.send({ id: 7, ok: { data } });
  const other = Buffer.alloc(200 * 1024, 6);
  port.send({ id: 8, ok: { data: other } });
  assert.deepEqual(f.how, ['whole', 'fragments']);
  assert.deepEqual(f.sent, [{ id: 7, ok: { data: Buffer.alloc(200 * 1024, 5) } }, { id: 8, ok: { data: other } }]);
  assert.equal(replyBuffers.take(200 * 1024).buffer, data.buffer, 'reused once sent');
});

test('a reply that is never sent keeps its buffer out of the pool', () => {
  const f = fakeSocket();
  const port = new WsPort(log);
  port.attach(f.socket);
  port.detach();
  const data = replyBuffers.take(300 * 1024);
  port.send({ id: 1, ok: { data } });
  assert.notEqual(replyBuffers.take(300 * 1024).buffer, data.buffer);
});
