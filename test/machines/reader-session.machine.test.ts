import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { readerSessionMachine } from '../../machines/reader-session.machine.ts';
import type { ServerFrame, SessionLimits } from '../../machines/backup-session.types.ts';
import type { ReadInput, ReaderRequest } from '../../machines/reader-session.types.ts';

type Ok = Readonly<Record<string, unknown>>;

function harness(opts: { limits?: Partial<SessionLimits>; open?: () => Promise<unknown> } = {}) {
  const clock = new SimulatedClock();
  const frames: ServerFrame[] = [];
  const started: number[] = [];
  const closed: unknown[] = [];
  const pending = new Map<number, { resolve(v: Ok): void; reject(e: unknown): void }>();
  let socketCloses = 0;
  const op = fromPromise<Ok, ReadInput<ReaderRequest>>(({ input }) => {
    assert.equal(input.reader, 'R');
    started.push(input.request.id);
    return new Promise<Ok>((resolve, reject) => pending.set(input.request.id, { resolve, reject }));
  });
  const machine = readerSessionMachine.provide({
    actors: {
      openReader: fromPromise(async () => (opts.open ? opts.open() : 'R')),
      closeReader: fromPromise(async ({ input }: { input: { reader: unknown } }) => { closed.push(input.reader); }) as never,
      readManifest: op as never,
      readIndex: op as never,
      readBlob: op as never,
      readChunk: op as never,
    },
    actions: {
      send: (_, params) => { frames.push(params.frame); },
      closeSocket: () => { socketCloses++; },
    },
  });
  const limits: SessionLimits = { credit: 0, maxChunkSize: 0, concurrency: 4, idleTimeoutMs: 1000, ...opts.limits };
  const actor = createActor(machine, {
    clock,
    input: { sessionId: 'session:2', limits, port: { send() {}, close() {} }, target: { store: 's', storePath: '/s', ns: '', type: 'host', id: 'a', backupTime: 1 } },
  });
  actor.start();
  const req = (request: ReaderRequest) => actor.send({ type: 'REQUEST', request });
  const answer = async (id: number, v: Ok | Error) => {
    const d = pending.get(id)!;
    pending.delete(id);
    if (v instanceof Error) d.reject(v);
    else d.resolve(v);
    await tick();
  };
  return { actor, clock, frames, started, closed, req, answer, socketCloses: () => socketCloses };
}

const tick = () => new Promise<void>((r) => setImmediate(r));
const chunk = (id: number): ReaderRequest => ({ id, op: 'chunk', digest: new Uint8Array(32).fill(id) });

async function connected(h: ReturnType<typeof harness>) {
  await tick();
  assert.equal(h.actor.getSnapshot().value, 'ready');
  h.actor.send({ type: 'CONNECTED' });
  assert.deepEqual(h.frames.shift(), { op: 'hello' });
}

test('requests are served concurrently up to the limit; replies come in completion order', async () => {
  const h = harness({ limits: { concurrency: 2 } });
  await connected(h);
  h.req({ id: 1, op: 'manifest' });
  h.req({ id: 2, op: 'index', name: 'root.pxar.didx' });
  h.req(chunk(3));
  await tick();
  assert.deepEqual(h.started, [1, 2]);
  await h.answer(2, { data: 'i' });
  assert.deepEqual(h.started, [1, 2, 3]);
  await h.answer(3, { data: 'c' });
  await h.answer(1, { data: 'm' });
  assert.deepEqual(h.frames, [{ id: 2, ok: { data: 'i' } }, { id: 3, ok: { data: 'c' } }, { id: 1, ok: { data: 'm' } }]);
  h.actor.stop();
});

test('a failed read answers with its error and the session goes on', async () => {
  const h = harness();
  await connected(h);
  h.req(chunk(1));
  await tick();
  const err = Object.assign(new Error('no'), { code: 'BULWARK_NOT_FOUND' });
  await h.answer(1, err);
  assert.deepEqual(h.frames, [{ id: 1, error: { thrown: err } }]);
  assert.deepEqual(h.actor.getSnapshot().value, { active: 'listening' });
  h.actor.stop();
});

test('PAUSE holds new chunk reads (not other reads) until RESUME', async () => {
  const h = harness();
  await connected(h);
  h.actor.send({ type: 'PAUSE' });
  h.req(chunk(1));
  h.req({ id: 2, op: 'blob', name: 'catalog.blob' });
  await tick();
  assert.deepEqual(h.started, [2]);
  h.actor.send({ type: 'RESUME' });
  await tick();
  assert.deepEqual(h.started, [2, 1]);
  h.actor.stop();
});

test('DISCONNECTED closes the reader once and stops the reads in flight', async () => {
  const h = harness();
  await connected(h);
  h.req(chunk(1));
  await tick();
  h.actor.send({ type: 'DISCONNECTED' });
  await tick();
  assert.equal(h.actor.getSnapshot().value, 'closed');
  assert.deepEqual(h.closed, ['R']);
  await h.answer(1, { data: 'late' });
  assert.deepEqual(h.frames, [], 'nothing is sent to a closed socket');
});

test('a malformed frame or a duplicate id ends the session with an abort notice', async () => {
  const bad = new Error('bad frame');
  for (const act of [
    (h: ReturnType<typeof harness>) => h.actor.send({ type: 'FRAME_ERROR', error: bad }),
    (h: ReturnType<typeof harness>) => { h.req(chunk(1)); h.req(chunk(1)); },
  ]) {
    const h = harness();
    await connected(h);
    act(h);
    await tick();
    assert.equal(h.actor.getSnapshot().value, 'closed');
    assert.equal((h.frames.at(-1) as { op: string }).op, 'abort');
    assert.equal(h.socketCloses(), 1);
    assert.deepEqual(h.closed, ['R']);
  }
});

test('an idle reader is closed after idleTimeoutMs', async () => {
  const h = harness({ limits: { idleTimeoutMs: 1000 } });
  await connected(h);
  h.clock.increment(999);
  assert.deepEqual(h.actor.getSnapshot().value, { active: 'listening' });
  h.clock.increment(1);
  await tick();
  assert.equal(h.actor.getSnapshot().value, 'closed');
  assert.deepEqual(h.frames.at(-1), { op: 'abort', error: { code: 'BULWARK_SESSION_ABORTED', args: ['no frame for 1 s'] } });
});

test('a snapshot that cannot be opened fails before the upgrade', async () => {
  const err = Object.assign(new Error('gone'), { code: 'BULWARK_NOT_FOUND' });
  const h = harness({ open: async () => { throw err; } });
  await tick();
  assert.equal(h.actor.getSnapshot().value, 'failed');
  assert.deepEqual(h.actor.getSnapshot().context.fault, { thrown: err });
  assert.deepEqual(h.closed, []);
});
