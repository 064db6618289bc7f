import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromPromise, SimulatedClock, toPromise } from 'xstate';
import { bulwarkError } from '../../errors.ts';
import { gcJobMachine } from '../../machines/gc-job.machine.ts';
import type { JobOutcome, WorkInput, WorkResult } from '../../machines/job.types.ts';

const input = { upid: 'UPID:test', workerType: 'garbage_collection' as const, store: 's1', storePath: '/s/s1', params: {} };

/** Work whose steps the test drives by hand. */
function manualWork() {
  let job: WorkInput['job'] | undefined;
  let settle!: { resolve(r: WorkResult): void; reject(e: unknown): void };
  const logic = fromPromise<WorkResult, WorkInput>(({ input }) => new Promise((resolve, reject) => {
    job = input.job;
    settle = { resolve, reject };
  }));
  return { logic, report: (e: { type: 'PHASE'; phase: string }) => job!.send(e), settle: () => settle };
}

function start(work: ReturnType<typeof fromPromise<WorkResult, WorkInput>>) {
  const finished: JobOutcome[] = [];
  const aborts: string[] = [];
  const machine = gcJobMachine.provide({
    actors: { work, finishTask: fromPromise<void, { upid: string; outcome: JobOutcome }>(async ({ input: i }) => { finished.push(i.outcome); }) },
    actions: { requestAbort: (_, p) => { aborts.push(p.upid); } },
  });
  const actor = createActor(machine, { input, clock: new SimulatedClock() });
  actor.start();
  return { actor, finished, aborts };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

test('a GC job walks marking → sweeping → done and records ok with its statistics', async () => {
  const w = manualWork();
  const { actor, finished } = start(w.logic);
  await tick();
  assert.deepEqual(actor.getSnapshot().value, { running: 'marking' });
  w.report({ type: 'PHASE', phase: 'sweeping' });
  assert.deepEqual(actor.getSnapshot().value, { running: 'sweeping' });
  assert.equal(actor.getSnapshot().context.phase, 'sweeping');
  w.report({ type: 'PHASE', phase: 'no-such-phase' });
  assert.deepEqual(actor.getSnapshot().value, { running: 'sweeping' });
  w.settle().resolve({ result: { removedChunks: 3 }, warnings: 0 });
  const out = await toPromise(actor);
  assert.deepEqual(out, { state: 'ok', result: { removedChunks: 3 } });
  assert.deepEqual(finished, [out]);
});

test('warnings logged by the work end the task in warnings with their count', async () => {
  const { actor } = start(fromPromise<WorkResult, WorkInput>(async () => ({ result: null, warnings: 2 })));
  assert.deepEqual(await toPromise(actor), { state: 'warnings', warnings: 2, result: null });
});

test('a typed error ends the task in error with its message', async () => {
  const { actor, finished } = start(fromPromise<WorkResult, WorkInput>(async () => { throw bulwarkError('BULWARK_LOCKED', 'gc', 'already running'); }));
  const out = await toPromise(actor);
  assert.equal(out.state, 'error');
  assert.match(out.message!, /already running/);
  assert.deepEqual(finished, [out]);
});

test('ABORT asks the work to stop and waits in aborting until it has', async () => {
  const w = manualWork();
  const { actor, aborts, finished } = start(w.logic);
  await tick();
  actor.send({ type: 'ABORT' });
  assert.deepEqual(actor.getSnapshot().value, { running: 'aborting' });
  assert.deepEqual(aborts, ['UPID:test']);
  w.report({ type: 'PHASE', phase: 'sweeping' });
  assert.deepEqual(actor.getSnapshot().value, { running: 'aborting' }, 'phase reports no longer move it');
  assert.equal(finished.length, 0, 'nothing recorded before the work has stopped');
  w.settle().reject(bulwarkError('BULWARK_ABORTED', 'garbage collection', 'by request'));
  assert.deepEqual(await toPromise(actor), { state: 'aborted', message: 'task aborted' });
});

test('an untyped error is a crash: the job actor fails and records nothing', async () => {
  const { actor, finished } = start(fromPromise<WorkResult, WorkInput>(async () => { throw new TypeError('x is undefined'); }));
  await assert.rejects(toPromise(actor), /x is undefined/);
  assert.equal(actor.getSnapshot().status, 'error');
  assert.equal(finished.length, 0);
});
