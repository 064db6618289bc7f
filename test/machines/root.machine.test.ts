import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import { ROOT_CHILDREN, rootMachine } from '../../machines/root.machine.ts';

const policy = { maxRestarts: 2, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 30_000 };

function start() {
  const clock = new SimulatedClock();
  const starts: Record<string, number> = {};
  const child = (name: string) => fromCallback<{ type: string }>(({ receive }) => {
    starts[name] = (starts[name] ?? 0) + 1;
    receive((e) => { if (e.type === 'CRASH') throw new Error(`${name} broke`); });
  });
  const escalated: { child: string; crashes: number }[] = [];
  const restarting: { child: string; delayMs: number }[] = [];
  const machine = rootMachine.provide({
    actors: Object.fromEntries(ROOT_CHILDREN.map((c) => [c, child(c)])) as never,
    actions: {
      escalated: (_, p) => { escalated.push({ child: p.child, crashes: p.crashes }); },
      childRestarting: (_, p) => { restarting.push({ child: p.child, delayMs: p.delayMs }); },
    },
  });
  const actor = createActor(machine, { clock, input: { config: {}, datastores: { stores: [] }, restartPolicy: policy } });
  actor.start();
  const crash = (c: string) => actor.system.get(c)!.send({ type: 'CRASH' });
  return { actor, clock, starts, escalated, restarting, crash };
}

test('the root starts every child under its systemId', () => {
  const { actor, starts } = start();
  for (const c of ROOT_CHILDREN) {
    assert.equal(starts[c], 1);
    assert.ok(actor.system.get(c));
  }
});

test('a crashed child is restarted alone after its back-off', () => {
  const { actor, clock, starts, restarting, crash } = start();
  const sessions = actor.system.get('sessions');
  crash('jobs');
  assert.deepEqual(restarting, [{ child: 'jobs', delayMs: 1000 }]);
  clock.increment(1000);
  assert.equal(starts.jobs, 2);
  assert.ok(actor.system.get('jobs'));
  assert.equal(actor.system.get('sessions'), sessions, 'siblings untouched');
  assert.equal(actor.getSnapshot().value, 'running');
});

test('a child that keeps crashing makes the root give up: failed, and escalated is called', () => {
  const { actor, clock, escalated, crash } = start();
  crash('datastores');
  clock.increment(1000);
  crash('datastores');
  clock.increment(2000);
  assert.equal(escalated.length, 0);
  crash('datastores');
  assert.deepEqual(escalated, [{ child: 'datastores', crashes: 3 }]);
  assert.equal(actor.getSnapshot().value, 'failed');
  assert.equal(actor.getSnapshot().status, 'done');
});

test('SHUTDOWN stops the root and its children', () => {
  const { actor } = start();
  actor.send({ type: 'SHUTDOWN' });
  assert.equal(actor.getSnapshot().status, 'done');
  assert.equal(actor.system.get('jobs'), undefined);
});
