import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromPromise, SimulatedClock, waitFor } from 'xstate';
import { datastoreMachine } from '../../machines/datastore.machine.ts';
import type { DatastoreMode, RecoveryOutcome } from '../../machines/datastore.types.ts';

const noRecovery = async (): Promise<RecoveryOutcome> => ({ state: 'done', removedSnapshots: 0, removedTempFiles: 0 });

function start(mode: DatastoreMode, open: () => Promise<void>, recover: () => Promise<RecoveryOutcome> = noRecovery) {
  const clock = new SimulatedClock();
  const machine = datastoreMachine.provide({ actors: { openStore: fromPromise(open), recoverStore: fromPromise(recover) } });
  const actor = createActor(machine, { clock, input: { name: 's1', path: '/x', mode } });
  actor.start();
  return { actor, clock };
}

test('opens into the configured mode with the matching tags', async () => {
  for (const [mode, state, tags] of [
    ['online', 'online', ['readable', 'writable']],
    ['read-only', 'readOnly', ['readable']],
    ['offline', 'offline', []],
  ] as const) {
    const { actor } = start(mode, async () => undefined);
    const snap = await waitFor(actor, (s) => s.value !== 'opening');
    assert.equal(snap.value, state);
    assert.deepEqual([...snap.tags].sort(), [...tags]);
    actor.stop();
  }
});

test('SET_MAINTENANCE moves between modes without reopening', async () => {
  let opens = 0;
  const { actor } = start('online', async () => { opens++; });
  await waitFor(actor, (s) => s.matches('online'));
  actor.send({ type: 'SET_MAINTENANCE', mode: 'read-only' });
  assert.equal(actor.getSnapshot().value, 'readOnly');
  assert.equal(actor.getSnapshot().hasTag('writable'), false);
  actor.send({ type: 'SET_MAINTENANCE', mode: 'offline' });
  assert.equal(actor.getSnapshot().value, 'offline');
  actor.send({ type: 'SET_MAINTENANCE', mode: 'online' });
  assert.equal(actor.getSnapshot().value, 'online');
  assert.equal(opens, 1);
  actor.stop();
});

test('a store that fails to open is unavailable, keeps the error code, and retries with back-off', async () => {
  let attempts = 0;
  const { actor, clock } = start('online', async () => {
    attempts++;
    if (attempts < 3) throw Object.assign(new Error('no such dir'), { code: 'BULWARK_NOT_FOUND' });
  });
  let snap = await waitFor(actor, (s) => s.matches('unavailable'));
  assert.equal(snap.context.error?.code, 'BULWARK_NOT_FOUND');
  clock.increment(999);
  assert.equal(attempts, 1, 'first retry waits 1 s');
  clock.increment(1);
  snap = await waitFor(actor, (s) => s.matches('unavailable') && attempts === 2);
  clock.increment(1999);
  assert.equal(attempts, 2, 'second retry waits 2 s');
  clock.increment(1);
  snap = await waitFor(actor, (s) => s.matches('online'));
  assert.equal(snap.context.error, undefined);
  assert.equal(attempts, 3);
  actor.stop();
});

test('an error without a code is reported as BULWARK_IO', async () => {
  const { actor } = start('online', async () => { throw new Error('boom'); });
  const snap = await waitFor(actor, (s) => s.matches('unavailable'));
  assert.deepEqual(snap.context.error, { code: 'BULWARK_IO', message: 'boom' });
  actor.stop();
});

test('crash recovery runs once at start; its outcome or failure is kept in context without affecting the mode', async () => {
  let runs = 0;
  const ok = start('online', async () => undefined, async () => {
    runs++;
    return { state: 'done', removedSnapshots: 2, removedTempFiles: 3 };
  });
  const snap = await waitFor(ok.actor, (s) => s.context.recovery !== undefined && s.matches('online'));
  assert.deepEqual(snap.context.recovery, { state: 'done', removedSnapshots: 2, removedTempFiles: 3 });
  ok.actor.send({ type: 'SET_MAINTENANCE', mode: 'read-only' });
  assert.equal(runs, 1);
  ok.actor.stop();

  const failing = start('online', async () => undefined, async () => { throw new Error('disk on fire'); });
  const after = await waitFor(failing.actor, (s) => s.context.recovery !== undefined && s.matches('online'));
  assert.deepEqual(after.context.recovery, { state: 'failed', message: 'disk on fire' });
  failing.actor.stop();
});
