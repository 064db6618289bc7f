import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import { schedulerMachine, type SchedulerCheckInput, type SchedulerCheckResult } from '../../machines/scheduler.machine.ts';

const tick = () => new Promise<void>((r) => setImmediate(r));

function start() {
  const checks: { catchUp: boolean; settle(r: SchedulerCheckResult | Error): void }[] = [];
  let sendTick!: () => void;
  const machine = schedulerMachine.provide({
    actors: {
      ticker: fromCallback(({ sendBack }) => { sendTick = () => sendBack({ type: 'TICK' }); }),
      runDueJobs: fromPromise<SchedulerCheckResult, SchedulerCheckInput>(({ input }) => new Promise((resolve, reject) => {
        checks.push({ catchUp: input.catchUp, settle: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
      })),
    },
  });
  const actor = createActor(machine, { clock: new SimulatedClock() });
  actor.start();
  return { actor, checks, tick: () => sendTick() };
}

test('the first check catches up missed runs, later ticks check normally', async () => {
  const { actor, checks, tick: sendTick } = start();
  await tick();
  assert.equal(actor.getSnapshot().value, 'catchingUp');
  assert.deepEqual(checks.map((c) => c.catchUp), [true]);
  checks[0]!.settle({ started: ['U1'] });
  await tick();
  assert.equal(actor.getSnapshot().value, 'idle');
  assert.deepEqual(actor.getSnapshot().context.lastStarted, ['U1']);
  sendTick();
  await tick();
  assert.deepEqual(checks.map((c) => c.catchUp), [true, false]);
});

test('a tick during a running check is dropped, so checks never overlap', async () => {
  const { actor, checks, tick: sendTick } = start();
  await tick();
  sendTick();
  await tick();
  assert.equal(checks.length, 1, 'ticks while catching up are dropped');
  checks[0]!.settle({ started: [] });
  await tick();
  sendTick();
  await tick();
  sendTick();
  await tick();
  assert.equal(checks.length, 2);
  assert.equal(actor.getSnapshot().value, 'checking');
});

test('a failed check is recorded and the next tick tries again', async () => {
  const { actor, checks, tick: sendTick } = start();
  await tick();
  checks[0]!.settle(new Error('job config unreadable'));
  await tick();
  assert.equal(actor.getSnapshot().value, 'idle');
  assert.equal(actor.getSnapshot().context.lastError, 'job config unreadable');
  sendTick();
  await tick();
  checks[1]!.settle({ started: [] });
  await tick();
  assert.equal(actor.getSnapshot().context.lastError, undefined);
  assert.equal(actor.getSnapshot().context.checks, 2);
});
