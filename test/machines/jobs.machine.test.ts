import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { gcJobMachine } from '../../machines/gc-job.machine.ts';
import type { JobInput, JobOutcome, WorkInput, WorkResult } from '../../machines/job.types.ts';
import { jobsMachine, jobSystemId } from '../../machines/jobs.machine.ts';
import { verifyJobMachine } from '../../machines/verify-job.machine.ts';

const policy = { maxRestarts: 2, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 30_000 };
const tick = () => new Promise<void>((r) => setImmediate(r));
const jobInput = (upid: string): JobInput => ({ upid, workerType: 'garbage_collection', store: 's1', storePath: '/s/s1', params: {} });

/** Work per UPID: the test resolves it, rejects it, or makes it crash. */
function controllableWork() {
  const runs: Record<string, number> = {};
  const pending = new Map<string, { resolve(r: WorkResult): void; reject(e: unknown): void }>();
  const logic = fromPromise<WorkResult, WorkInput>(({ input }) => new Promise((resolve, reject) => {
    runs[input.upid] = (runs[input.upid] ?? 0) + 1;
    pending.set(input.upid, { resolve, reject });
  }));
  return { logic, runs, pending };
}

function start() {
  const clock = new SimulatedClock();
  const work = controllableWork();
  const finished: Record<string, string> = {};
  const gaveUp: { upid: string; crashes: number; aborted?: boolean }[] = [];
  const restarting: { upid: string; crashes: number; delayMs: number }[] = [];
  const jobLogic = (m: typeof gcJobMachine) => m.provide({
    actors: { work: work.logic, finishTask: fromPromise<void, { upid: string; outcome: JobOutcome }>(async ({ input }) => { finished[input.upid] = input.outcome.state; }) },
    actions: { requestAbort: (_, { upid }) => work.pending.get(upid)?.reject(Object.assign(new Error('aborted'), { code: 'BULWARK_ABORTED' })) },
  });
  const machine = jobsMachine.provide({
    actors: { gc: jobLogic(gcJobMachine), verify: jobLogic(verifyJobMachine as typeof gcJobMachine) },
    actions: {
      jobRestarting: (_, p) => { restarting.push({ upid: p.upid, crashes: p.crashes, delayMs: p.delayMs }); },
      jobGaveUp: (_, p) => { gaveUp.push({ upid: p.upid, crashes: p.crashes, ...(p.aborted && { aborted: true }) }); },
    },
  });
  const actor = createActor(machine, { clock, input: { restartPolicy: policy } });
  const errors: unknown[] = [];
  actor.subscribe({ error: (e) => errors.push(e) });
  actor.start();
  return { actor, clock, work, finished, gaveUp, restarting, errors };
}

test('jobs run side by side under job:<upid> and leave the supervisor when done', async () => {
  const { actor, work, finished } = start();
  actor.send({ type: 'START_JOB', kind: 'gc', input: jobInput('U1') });
  actor.send({ type: 'START_JOB', kind: 'verify', input: { ...jobInput('U2'), workerType: 'verify' } });
  await tick();
  assert.ok(actor.system.get(jobSystemId('U1')));
  assert.deepEqual(Object.keys(actor.getSnapshot().context.jobs).sort(), ['U1', 'U2']);
  work.pending.get('U1')!.resolve({ result: 1, warnings: 0 });
  await tick();
  assert.deepEqual(finished, { U1: 'ok' });
  assert.deepEqual(Object.keys(actor.getSnapshot().context.jobs), ['U2']);
  assert.equal(actor.system.get(jobSystemId('U1')), undefined);
});

test('a crashed job restarts from the beginning with back-off while another job carries on', async () => {
  const { actor, clock, work, restarting, finished } = start();
  actor.send({ type: 'START_JOB', kind: 'gc', input: jobInput('U1') });
  actor.send({ type: 'START_JOB', kind: 'gc', input: jobInput('U2') });
  await tick();
  const other = actor.system.get(jobSystemId('U2'));
  work.pending.get('U1')!.reject(new TypeError('bug'));
  await tick();
  assert.deepEqual(restarting, [{ upid: 'U1', crashes: 1, delayMs: 1000 }]);
  assert.equal(work.runs.U1, 1);
  clock.increment(1000);
  await tick();
  assert.equal(work.runs.U1, 2, 'restarted after 1 s');
  assert.equal(actor.getSnapshot().context.jobs.U1?.input.restarts, 1);
  assert.equal(actor.system.get(jobSystemId('U2')), other, 'the other job was not touched');
  assert.equal(other?.getSnapshot().status, 'active');
  work.pending.get('U1')!.resolve({ result: null, warnings: 0 });
  work.pending.get('U2')!.resolve({ result: null, warnings: 0 });
  await tick();
  assert.deepEqual(finished, { U1: 'ok', U2: 'ok' });
});

test('past the restart policy the supervisor gives up on the job and stays up', async () => {
  const { actor, clock, work, gaveUp, errors } = start();
  actor.send({ type: 'START_JOB', kind: 'gc', input: jobInput('U1') });
  for (let i = 0; i < 3; i++) {
    await tick();
    work.pending.get('U1')!.reject(new TypeError(`bug ${i}`));
    await tick();
    clock.increment(10_000); // all three crashes fall inside the 60 s window
  }
  assert.equal(work.runs.U1, 3);
  assert.deepEqual(gaveUp, [{ upid: 'U1', crashes: 3 }]);
  assert.deepEqual(actor.getSnapshot().context.jobs, {});
  assert.equal(actor.getSnapshot().status, 'active');
  assert.equal(errors.length, 0);
});

test('ABORT_JOB aborts a running job, and ends one that is waiting to restart', async () => {
  const { actor, work, finished, gaveUp } = start();
  actor.send({ type: 'START_JOB', kind: 'gc', input: jobInput('U1') });
  actor.send({ type: 'START_JOB', kind: 'gc', input: jobInput('U2') });
  await tick();
  actor.send({ type: 'ABORT_JOB', upid: 'U1' });
  await tick();
  assert.equal(finished.U1, 'aborted');
  work.pending.get('U2')!.reject(new TypeError('bug'));
  await tick();
  actor.send({ type: 'ABORT_JOB', upid: 'U2' });
  assert.deepEqual(gaveUp, [{ upid: 'U2', crashes: 1, aborted: true }]);
  assert.deepEqual(actor.getSnapshot().context.jobs, {});
});

test('a second START_JOB with a running UPID is ignored', async () => {
  const { actor, work } = start();
  actor.send({ type: 'START_JOB', kind: 'gc', input: jobInput('U1') });
  actor.send({ type: 'START_JOB', kind: 'gc', input: jobInput('U1') });
  await tick();
  assert.equal(work.runs.U1, 1);
});
