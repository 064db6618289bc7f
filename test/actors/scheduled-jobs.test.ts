import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { waitFor, type AnyActorRef } from 'xstate';
import { configuredJobs, startDueJobs } from '../../actors/scheduled-jobs.ts';
import { startServerSystem, type ServerSystem } from '../../actors/server-system.ts';
import { saveDatastoreEntry } from '../../config/datastore-config.ts';
import { configPaths } from '../../config/paths.ts';
import { savePruneJob } from '../../config/prune-job-config.ts';
import { saveVerifyJob } from '../../config/verify-job-config.ts';
import { createDatastore } from '../../datastore/create.ts';
import { SAFETY_NONE } from '../../datastore/safety.ts';
import { removeDir, tempDir } from '../helpers/chunk-fixtures.ts';

const dir = tempDir('bulwark-sched-');
const paths = configPaths(join(dir, 'data'));
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0); // Monday 12:00 UTC
let clock = T0;
let system: ServerSystem;

before(async () => {
  const storePath = join(dir, 'store1');
  createDatastore(storePath);
  mkdirSync(paths.etcDir, { recursive: true });
  saveDatastoreEntry(paths.datastoreConfig, { name: 'store1', path: storePath, 'gc-schedule': 'daily' });
  savePruneJob(paths.pruneJobs, { id: 'p1', store: 'store1', schedule: 'mon..fri 02:00', 'keep-last': 3 });
  savePruneJob(paths.pruneJobs, { id: 'off', store: 'store1', schedule: 'hourly', disable: true });
  saveVerifyJob(paths.verifyJobs, { id: 'v1', store: 'store1', schedule: '*:0/15', 'outdated-after': 30 });
  saveVerifyJob(paths.verifyJobs, { id: 'manual', store: 'store1' });
  system = await startServerSystem({
    paths, log: pino({ level: 'silent' }), safety: SAFETY_NONE, now: () => clock,
    // The test drives startDueJobs itself; the server's own minute ticks would race it.
    autoSchedule: false,
    config: { datastoresDigest: 'x', datastores: { store1: { name: 'store1', path: storePath } } },
  });
  await waitFor(system.root.system.get('datastore:store1') as AnyActorRef, (s) => s.value === 'online');
});

after(async () => {
  await system?.close();
  removeDir(dir);
});

async function allEnded(upids: readonly string[]): Promise<string[]> {
  const jobs = system.root.system.get('jobs') as AnyActorRef;
  await waitFor(jobs, (s) => upids.every((u) => s.context.jobs[u] === undefined));
  return Promise.all(upids.map(async (u) => (await system.tasks.status(u)).type));
}

test('configured jobs: GC per store schedule, enabled prune jobs, verify jobs with a schedule', () => {
  const jobs = configuredJobs(paths);
  assert.deepEqual(jobs.map((j) => `${j.kind}:${j.jobId ?? j.store}:${j.schedule}`).sort(), ['gc:store1:daily', 'prune:p1:mon..fri 02:00', 'verify:v1:*:0/15']);
  assert.deepEqual(jobs.find((j) => j.kind === 'prune')!.params, { 'keep-last': 3 });
  assert.deepEqual(jobs.find((j) => j.kind === 'verify')!.params, { 'outdated-after': 30, 'ignore-verified': true });
});

test('a job first seen is not run at once; after downtime across several events it runs exactly once; then not again until its next event', async () => {
  const jobs = configuredJobs(paths);
  assert.deepEqual((await startDueJobs(system.jobs, jobs, clock)).started, [], 'first sight only records the baseline');

  // Down for three days: daily GC missed 3 events, the prune job 3 (Tue, Wed, Thu 02:00), verify hundreds.
  clock = T0 + 3 * 86_400_000;
  const first = await startDueJobs(system.jobs, jobs, clock);
  assert.deepEqual((await allEnded(first.started)).sort(), ['garbage_collection', 'prunejob', 'verificationjob']);

  const again = await startDueJobs(system.jobs, jobs, clock);
  assert.deepEqual(again.started, [], 'caught up once, not once per missed event');

  clock += 15 * 60_000; // the next quarter hour: only verify is due
  const next = await startDueJobs(system.jobs, jobs, clock);
  assert.deepEqual(await allEnded(next.started), ['verificationjob']);
  const run = await system.jobs.state.jobRun('verificationjob', 'v1');
  assert.equal(run?.state, 'finished');
  assert.equal(run?.status, 'OK');
  await startDueJobs(system.jobs, jobs, clock + 60_000);
  const gc = await system.jobs.state.jobRun('garbage_collection', 'store1');
  assert.equal(gc?.nextRun, Date.UTC(2026, 10, 27), 'next daily event after the last run, recorded by the check');
});

test('a run left "started" by a crashed server does not block the job: it runs at its next event', async () => {
  const jobs = configuredJobs(paths).filter((j) => j.kind === 'gc');
  const before = await system.jobs.state.jobRun('garbage_collection', 'store1');
  await system.jobs.state.recordStarted('garbage_collection', 'store1', 'UPID:gone:00000001:00000001:00000001:00000001:garbage_collection:store1:root@pam:', before!.startedAt);
  clock += 86_400_000;
  const due = await startDueJobs(system.jobs, jobs, clock);
  assert.deepEqual(await allEnded(due.started), ['garbage_collection']);
});
