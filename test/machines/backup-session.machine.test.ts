import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { backupSessionMachine } from '../../machines/backup-session.machine.ts';
import type { BackupRequest, Fault, ServerFrame, SessionLimits } from '../../machines/backup-session.types.ts';

type Ok = Readonly<Record<string, unknown>>;
type OpName = 'readPrevious' | 'readPreviousManifest' | 'readResumeDigests' | 'createIndex' | 'uploadChunk' | 'appendIndex' | 'closeIndex' | 'uploadBlob';
type Key = number | 'finish';

interface Deferred { resolve(v?: Ok): void; reject(e: unknown): void }

/** A session over fakes: every op waits until the test settles it (or answers at once with `auto`). */
function harness(opts: { limits?: Partial<SessionLimits>; auto?: boolean; start?: () => Promise<unknown> } = {}) {
  const clock = new SimulatedClock();
  const frames: ServerFrame[] = [];
  const log: string[] = [];
  const aborts: { fault: Fault }[] = [];
  const pending = new Map<Key, Deferred>();
  let closes = 0;
  const op = (name: OpName | 'finishWriter') =>
    fromPromise<Ok, { writer: unknown; request?: BackupRequest }>(({ input }) => {
      assert.equal(input.writer, 'W');
      const id: Key = input.request?.id ?? 'finish';
      log.push(`start ${name} ${id}`);
      if (opts.auto ?? false) return Promise.resolve(name === 'createIndex' ? { wid: 1 } : {});
      return new Promise<Ok>((resolve, reject) => pending.set(id, {
        resolve: (v = {}) => { log.push(`end ${id}`); resolve(v); },
        reject,
      }));
    });
  const names: (OpName | 'finishWriter')[] = ['readPrevious', 'readPreviousManifest', 'readResumeDigests', 'createIndex', 'uploadChunk', 'appendIndex', 'closeIndex', 'uploadBlob', 'finishWriter'];
  const machine = backupSessionMachine.provide({
    actors: {
      ...Object.fromEntries(names.map((n) => [n, op(n)])),
      startWriter: fromPromise(async () => (opts.start ? opts.start() : { writer: 'W', previousBackupTime: 1700000000 })) as never,
      abortWriter: fromPromise(async ({ input }: { input: { fault: Fault } }) => { aborts.push(input); }) as never,
    },
    actions: {
      send: (_, params) => { frames.push(params.frame); },
      closeSocket: () => { closes++; },
    },
  });
  const limits: SessionLimits = { credit: 1000, maxChunkSize: 16 << 20, concurrency: 8, idleTimeoutMs: 600_000, ...opts.limits };
  const actor = createActor(machine, {
    clock,
    input: { sessionId: 'session:1', limits, port: { send() {}, close() {} }, target: { store: 's', storePath: '/s', ns: '', type: 'host', id: 'a', backupTime: 1, owner: 'u@pbs' } },
  });
  actor.start();
  const req = (request: BackupRequest) => actor.send({ type: 'REQUEST', request });
  const settle = async (id: Key, value?: Ok) => { pending.get(id)!.resolve(value); pending.delete(id); await tick(); };
  const fail = async (id: Key, err: unknown) => { pending.get(id)!.reject(err); pending.delete(id); await tick(); };
  return { actor, clock, frames, log, aborts, pending, req, settle, fail, closes: () => closes };
}

/** Lets resolved promise actors report back (no timers involved). */
const tick = () => new Promise<void>((r) => setImmediate(r));
const state = (h: ReturnType<typeof harness>) => JSON.stringify(h.actor.getSnapshot().value);
const chunk = (id: number, bytes = 10): BackupRequest => ({ id, op: 'chunk', wid: 1, digest: new Uint8Array(32), size: bytes, data: new Uint8Array(bytes) });
const replies = (frames: ServerFrame[]) => frames.filter((f): f is Extract<ServerFrame, { id: number }> => 'id' in f);

async function connected(h: ReturnType<typeof harness>) {
  await tick();
  assert.equal(h.actor.getSnapshot().value, 'ready');
  h.actor.send({ type: 'CONNECTED' });
  const credits = h.actor.getSnapshot().context.limits.credit;
  assert.deepEqual(h.frames.shift(), { op: 'hello', credits, 'max-chunk-size': 16 << 20, previous: { 'backup-time': 1700000000 } });
}

test('happy path: index operations run in arrival order, chunks in parallel, finish last', async () => {
  const h = harness();
  await connected(h);
  h.req({ id: 1, op: 'create-index', kind: 'dynamic', name: 'root.pxar.didx' });
  for (const id of [2, 3, 4]) h.req(chunk(id));
  h.req({ id: 5, op: 'append', wid: 1, digests: new Uint8Array(96), offsets: [10, 20, 30] });
  h.req({ id: 6, op: 'close-index', wid: 1, count: 3, size: 30, csum: new Uint8Array(32) });
  h.req({ id: 7, op: 'blob', name: 'catalog.blob', data: new Uint8Array(5) });
  h.req({ id: 8, op: 'finish' });
  await tick();
  assert.deepEqual(h.log, ['start createIndex 1'], 'chunks wait for the index they go to');
  await h.settle(1, { wid: 1 });
  assert.deepEqual(h.log.slice(1), ['end 1', 'start uploadChunk 2', 'start uploadChunk 3', 'start uploadChunk 4']);
  await h.settle(3);
  await h.settle(2);
  assert.ok(!h.log.includes('start appendIndex 5'), 'append waits for every earlier chunk');
  await h.settle(4);
  assert.equal(h.log.at(-1), 'start appendIndex 5');
  await h.settle(5);
  await h.settle(6);
  await h.settle(7);
  assert.equal(h.log.at(-1), 'start finishWriter finish');
  assert.equal(state(h), '"finishing"');
  await h.settle('finish');
  assert.equal(h.actor.getSnapshot().status, 'done');
  assert.equal(h.actor.getSnapshot().value, 'done');
  assert.deepEqual(replies(h.frames).map((f) => f.id), [1, 3, 2, 4, 5, 6, 7, 8], 'replies in completion order');
  assert.deepEqual(h.frames.filter((f) => 'op' in f && f.op === 'credit').map((f) => (f as { bytes: number }).bytes), [10, 10, 10, 5]);
  assert.equal(h.closes(), 1);
  assert.equal(h.aborts.length, 0);
});

test('chunk uploads are pipelined up to the concurrency limit and overtake a waiting append', async () => {
  const h = harness({ limits: { concurrency: 2 } });
  await connected(h);
  for (const id of [1, 2, 3]) h.req(chunk(id));
  h.req({ id: 4, op: 'append', wid: 1, digests: new Uint8Array(32), offsets: [10] });
  h.req(chunk(5));
  await tick();
  assert.deepEqual(h.log, ['start uploadChunk 1', 'start uploadChunk 2']);
  await h.settle(2);
  assert.equal(h.log.at(-1), 'start uploadChunk 3');
  await h.settle(1);
  assert.equal(h.log.at(-1), 'start uploadChunk 5', 'a later chunk does not wait for the append');
  await h.settle(3);
  assert.equal(h.log.at(-1), 'start appendIndex 4', 'the append starts once every earlier chunk is stored');
  assert.equal(h.actor.getSnapshot().context.credit, 1000 - 10, 'credit comes back as each chunk is stored');
  h.actor.stop();
});

test('credit overrun aborts the session with BULWARK_CREDIT_OVERRUN and aborts the writer once', async () => {
  const h = harness({ limits: { credit: 100 } });
  await connected(h);
  h.req(chunk(1, 60));
  h.req(chunk(2, 60));
  await tick();
  assert.equal(h.actor.getSnapshot().value, 'aborted');
  assert.deepEqual(h.frames.at(-1), { op: 'abort', error: { code: 'BULWARK_CREDIT_OVERRUN', args: [60, 40] } });
  assert.equal(h.aborts.length, 1);
  assert.equal(h.closes(), 1);
  h.actor.send({ type: 'DISCONNECTED' }); // the close handler reports the closed socket afterwards
  assert.equal(h.aborts.length, 1);
});

test('credit granted back lets the client send more than the initial credit in total', async () => {
  const h = harness({ limits: { credit: 100 } });
  await connected(h);
  h.req(chunk(1, 60));
  await h.settle(1);
  h.req(chunk(2, 60));
  await tick();
  assert.equal(state(h), '{"active":"listening"}');
  h.actor.stop();
});

test('an append of an unknown chunk answers its request, aborts the whole session and calls abortWriter once', async () => {
  const h = harness();
  await connected(h);
  h.req(chunk(1));
  h.req({ id: 2, op: 'append', wid: 1, digests: new Uint8Array(32), offsets: [10] });
  h.req(chunk(3));
  await h.settle(1);
  const err = Object.assign(new Error('unknown'), { code: 'BULWARK_UNKNOWN_CHUNK' });
  await h.fail(2, err);
  assert.equal(h.actor.getSnapshot().value, 'aborted');
  assert.deepEqual(h.frames.slice(-2), [{ id: 2, error: { thrown: err } }, { op: 'abort', error: { thrown: err } }]);
  assert.equal(h.aborts.length, 1);
  assert.equal((h.aborts[0]!.fault as { thrown: unknown }).thrown, err);
  await h.settle(3); // the stopped upload's late completion changes nothing
  assert.equal(h.aborts.length, 1);
  assert.equal(h.closes(), 1);
});

test('a failed read (no previous snapshot) is an answer, not an abort', async () => {
  const h = harness();
  await connected(h);
  h.req({ id: 1, op: 'previous', name: 'root.pxar.didx' });
  await tick();
  const err = Object.assign(new Error('none'), { code: 'BULWARK_NOT_FOUND' });
  await h.fail(1, err);
  assert.deepEqual(h.frames, [{ id: 1, error: { thrown: err } }]);
  assert.equal(state(h), '{"active":"listening"}');
  h.actor.stop();
});

test('a disconnect before finish aborts without sending anything', async () => {
  const h = harness();
  await connected(h);
  h.req(chunk(1));
  h.actor.send({ type: 'DISCONNECTED' });
  await tick();
  assert.equal(h.actor.getSnapshot().value, 'aborted');
  assert.deepEqual(h.frames, []);
  assert.equal(h.aborts.length, 1);
  assert.deepEqual(h.aborts[0]!.fault, { code: 'BULWARK_SESSION_ABORTED', args: ['client disconnected before finish'] });
});

test('an idle session is aborted after idleTimeoutMs without frames; each frame restarts the timer', async () => {
  const h = harness({ limits: { idleTimeoutMs: 1000 } });
  await connected(h);
  h.clock.increment(999);
  h.req({ id: 1, op: 'resume' });
  h.clock.increment(999);
  assert.equal(state(h), '{"active":"listening"}');
  await h.settle(1);
  h.clock.increment(999);
  assert.equal(state(h), '{"active":"listening"}', 'a completion restarts the timer too');
  h.clock.increment(1);
  await tick();
  assert.equal(h.actor.getSnapshot().value, 'aborted');
  assert.deepEqual(h.frames.at(-1), { op: 'abort', error: { code: 'BULWARK_SESSION_ABORTED', args: ['no frame for 1 s'] } });
  assert.equal(h.aborts.length, 1);
});

test('finish waits for every upload before it commits', async () => {
  const h = harness();
  await connected(h);
  h.req(chunk(1));
  h.req(chunk(2));
  h.req({ id: 3, op: 'finish' });
  await h.settle(2);
  assert.ok(!h.log.some((l) => l.startsWith('start finishWriter')));
  await h.settle(1);
  assert.equal(h.log.at(-1), 'start finishWriter finish');
  h.req(chunk(4));
  assert.deepEqual(h.frames.at(-1), { id: 4, error: { code: 'BULWARK_PROTOCOL', args: ["'chunk' after 'finish'"] } });
  await h.settle('finish');
  assert.equal(h.actor.getSnapshot().value, 'done');
});

test('protocol violations abort: a malformed frame, a duplicate request id, a request after finish', async () => {
  const bad = new Error('malformed');
  const cases: [string, (h: ReturnType<typeof harness>) => void, Fault][] = [
    ['frame', (h) => h.actor.send({ type: 'FRAME_ERROR', error: bad }), { thrown: bad }],
    ['duplicate', (h) => { h.req(chunk(1)); h.req(chunk(1)); }, { code: 'BULWARK_PROTOCOL', args: ['request id 1 is already in flight'] }],
    ['after finish', (h) => { h.req(chunk(1)); h.req({ id: 2, op: 'finish' }); h.req(chunk(3)); }, { code: 'BULWARK_PROTOCOL', args: ["'chunk' after 'finish'"] }],
  ];
  for (const [name, act, fault] of cases) {
    const h = harness();
    await connected(h);
    act(h);
    await tick();
    assert.equal(h.actor.getSnapshot().value, 'aborted', name);
    assert.deepEqual(h.frames.at(-1), { op: 'abort', error: fault }, name);
    assert.equal(h.aborts.length, 1, name);
  }
});

test('a writer that cannot start fails the session before the upgrade; nothing to abort', async () => {
  const err = Object.assign(new Error('locked'), { code: 'BULWARK_LOCKED' });
  const h = harness({ start: async () => { throw err; } });
  await tick();
  const snap = h.actor.getSnapshot();
  assert.equal(snap.value, 'failed');
  assert.deepEqual(snap.context.fault, { thrown: err });
  assert.equal(h.aborts.length, 0);
  assert.equal(h.closes(), 0);
});

test('a client that goes away while the writer starts gets its snapshot aborted', async () => {
  const h = harness();
  h.actor.send({ type: 'DISCONNECTED' });
  await tick();
  assert.equal(h.actor.getSnapshot().value, 'aborted');
  assert.equal(h.aborts.length, 1);
  assert.deepEqual(h.frames, []);
});
