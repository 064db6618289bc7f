import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import { datastoresMachine, datastoreSystemId } from '../../machines/datastores.machine.ts';
import type { DatastoreInput } from '../../machines/datastore.types.ts';

const policy = { maxRestarts: 3, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 30_000 };
const store = (name: string): DatastoreInput => ({ name, path: `/s/${name}`, mode: 'online' });

/** A datastore stand-in that crashes when it receives CRASH and counts its starts. */
function crashable() {
  const starts: Record<string, number> = {};
  const logic = fromCallback<{ type: string }, DatastoreInput>(({ input, receive }) => {
    starts[input.name] = (starts[input.name] ?? 0) + 1;
    receive((e) => { if (e.type === 'CRASH') throw new Error(`${input.name} fell over`); });
  });
  return { starts, logic };
}

function start(names: string[]) {
  const clock = new SimulatedClock();
  const { starts, logic } = crashable();
  const machine = datastoresMachine.provide({ actors: { datastore: logic as never } });
  const actor = createActor(machine, { clock, input: { stores: names.map(store), restartPolicy: policy } });
  const errors: unknown[] = [];
  actor.subscribe({ error: (e) => errors.push(e) });
  actor.start();
  const crash = (name: string) => actor.system.get(datastoreSystemId(name))!.send({ type: 'CRASH' });
  return { actor, clock, starts, errors, crash };
}

test('a crashed store is restarted after a back-off that doubles, and its sibling keeps running', () => {
  const { actor, clock, starts, crash } = start(['a', 'b']);
  const bRef = actor.system.get(datastoreSystemId('b'));
  crash('a');
  assert.equal(actor.system.get(datastoreSystemId('a')), undefined, 'the crashed actor is gone until restarted');
  clock.increment(999);
  assert.equal(starts.a, 1, 'waits the first back-off (1 s)');
  clock.increment(1);
  assert.equal(starts.a, 2);
  assert.equal(actor.system.get(datastoreSystemId('a'))?.getSnapshot().status, 'active');
  crash('a');
  clock.increment(1999);
  assert.equal(starts.a, 2, 'second back-off is 2 s');
  clock.increment(1);
  assert.equal(starts.a, 3);
  assert.equal(actor.system.get(datastoreSystemId('b')), bRef, 'sibling untouched');
  assert.equal(bRef?.getSnapshot().status, 'active');
  assert.equal(starts.b, 1);
  assert.equal(actor.getSnapshot().status, 'active');
});

test('crashes older than the window no longer count', () => {
  const { actor, clock, starts, crash, errors } = start(['a']);
  for (let i = 0; i < 3; i++) {
    crash('a');
    clock.increment(30_000);
    clock.increment(60_000); // past the window: the crash expires
  }
  assert.equal(starts.a, 4);
  assert.deepEqual(actor.getSnapshot().context.crashes, {});
  crash('a');
  clock.increment(1000);
  assert.equal(starts.a, 5, 'first back-off again after the window emptied');
  assert.equal(errors.length, 0);
});

test('one crash more than the policy allows within the window escalates: the supervisor fails with BULWARK_ESCALATED', () => {
  const { actor, clock, crash, errors } = start(['a', 'b']);
  for (let i = 0; i < 3; i++) {
    crash('a');
    clock.increment(10_000);
  }
  assert.equal(errors.length, 0);
  crash('a');
  assert.equal(actor.getSnapshot().status, 'error');
  assert.equal((errors[0] as { code?: string }).code, 'BULWARK_ESCALATED');
  assert.match((errors[0] as Error).message, /datastore a crashed 4 times/);
});

test('a store removed while waiting to restart stays gone', () => {
  const { actor, clock, starts, crash } = start(['a']);
  crash('a');
  actor.send({ type: 'STORE_REMOVED', name: 'a' });
  clock.increment(5000);
  assert.equal(starts.a, 1);
  assert.equal(actor.system.get(datastoreSystemId('a')), undefined);
});
