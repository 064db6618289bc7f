import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { waitFor, type AnyActorRef } from 'xstate';
import { startServerSystem, type ServerSystem } from '../../actors/server-system.ts';
import { gcStatusKey } from '../../actors/job-service.ts';
import { configPaths } from '../../config/paths.ts';
import { SAFETY_NONE } from '../../datastore/safety.ts';
import { toDigestHex } from '../../datastore/digest.ts';
import { backupStore, dynamicPlan, writeArchive, NOW_S, type BackupStoreFixture } from '../helpers/backup-fixtures.ts';
import { makeChunk, removeDir, tempDir } from '../helpers/chunk-fixtures.ts';

const dir = tempDir('bulwark-jobs-');
const chunkPath = (storePath: string, hex: string) => join(storePath, '.chunks', hex.slice(0, 4), hex);
let store: BackupStoreFixture;
let system: ServerSystem;
const snapshots = [NOW_S - 3 * 86400, NOW_S - 2 * 86400, NOW_S - 86400];

/** Resolves when the jobs supervisor no longer runs `upid`: its end has been recorded by then. */
async function ended(upid: string) {
  const jobs = system.root.system.get('jobs') as AnyActorRef;
  await waitFor(jobs, (s) => s.context.jobs[upid] === undefined);
  return system.tasks.status(upid);
}

async function logText(upid: string): Promise<string> {
  return (await system.tasks.readLog(upid, { limit: 0 })).lines.map((l) => l.t).join('\n');
}

before(async () => {
  store = backupStore(dir);
  for (const [i, time] of snapshots.entries()) {
    const w = await store.start(time);
    await writeArchive(w, 'root.pxar.didx', dynamicPlan([1, 2, 10 + i]));
    await w.finish();
  }
  // A chunk no index references, old by the store's clock: GC removes it.
  const orphan = makeChunk(999);
  await store.chunkStore.insertChunk(orphan.digest, orphan.blob);
  system = await startServerSystem({
    paths: configPaths(join(dir, 'data')),
    log: pino({ level: 'silent' }),
    safety: SAFETY_NONE,
    config: {
      datastoresDigest: 'x',
      datastores: {
        store1: { name: 'store1', path: store.path },
        ro: { name: 'ro', path: store.path, 'maintenance-mode': 'read-only' },
        off: { name: 'off', path: store.path, 'maintenance-mode': 'offline' },
      },
    },
  });
  for (const name of ['store1', 'ro', 'off']) await waitFor(system.root.system.get(`datastore:${name}`) as AnyActorRef, (s) => s.value !== 'opening');
});

after(async () => {
  await system?.close();
  removeDir(dir);
});

describe('maintenance jobs on a running system', () => {
  test('GC runs as a task: marking, sweeping, statistics in the log and the job state, orphan removed', async () => {
    const orphan = toDigestHex(makeChunk(999).digest);
    assert.ok(existsSync(chunkPath(store.path, orphan)));
    const upid = await system.jobs.start({ kind: 'gc', store: 'store1', user: 'admin@pbs' });
    assert.match(upid, /^UPID:[^:]+:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:garbage_collection:store1:admin@pbs:$/);
    const status = await ended(upid);
    assert.equal(status.status, 'stopped');
    assert.equal(status.exitstatus, 'OK');
    assert.equal(existsSync(chunkPath(store.path, orphan)), false, 'unreferenced chunk swept');
    const referenced = dynamicPlan([1, 2, 10]).chunks.map((c) => toDigestHex(c.digest));
    for (const hex of referenced) assert.ok(existsSync(chunkPath(store.path, hex)), 'referenced chunk kept');
    const log = await logText(upid);
    assert.match(log, /starting garbage collection on store store1/);
    assert.equal(log.match(/starting garbage collection/g)?.length, 1, 'start line logged once');
    assert.equal(log.match(/Removed chunks:/g)?.length, 1, 'summary logged once');
    assert.match(log, /TASK OK$/);
    const saved = await system.jobs.state.get<{ upid: string; removedChunks: number }>(gcStatusKey('store1'));
    assert.equal(saved?.upid, upid);
    assert.equal(saved?.removedChunks, 1);
    const run = await system.jobs.state.jobRun('garbage_collection', 'store1');
    assert.equal(run?.state, 'finished');
    assert.equal(run?.status, 'OK');
  });

  test('GC and prune refuse a read-only or offline store, verify refuses only offline', async () => {
    for (const [kind, store, ok] of [['gc', 'ro', false], ['gc', 'off', false], ['prune', 'ro', false], ['verify', 'ro', true], ['verify', 'off', false]] as const) {
      const p = system.jobs.start({ kind, store, user: 'admin@pbs' });
      if (ok) {
        assert.equal((await ended(await p)).exitstatus, 'OK');
      } else {
        await assert.rejects(p, (e: { code?: string; message: string }) => e.code === 'BULWARK_DATASTORE_UNAVAILABLE' && /maintenance mode: maintenance jobs are not possible/.test(e.message));
      }
    }
  });

  test('an aborted GC ends as aborted and a re-run finishes it', async () => {
    const upid = await system.jobs.start({ kind: 'gc', store: 'store1', user: 'admin@pbs' });
    assert.equal(system.jobs.abort(upid), true);
    const status = await ended(upid);
    assert.match(status.exitstatus!, /abort/);
    const again = await system.jobs.start({ kind: 'gc', store: 'store1', user: 'admin@pbs' });
    assert.equal((await ended(again)).exitstatus, 'OK');
  });

  test('verify finds a flipped byte: the task fails, the chunk is renamed .bad, the manifest records it', async () => {
    const victim = toDigestHex(dynamicPlan([1, 2, 12]).chunks[2]!.digest);
    const path = chunkPath(store.path, victim);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1]! ^= 0x01;
    writeFileSync(path, bytes);
    const upid = await system.jobs.start({ kind: 'verify', store: 'store1', user: 'admin@pbs' });
    const status = await ended(upid);
    assert.match(status.exitstatus!, /verification failed for 1 snapshot/);
    assert.equal(existsSync(path), false);
    assert.ok(readdirSync(join(path, '..')).some((n) => n.startsWith(`${victim}.`) && n.endsWith('.bad')));
    const log = await logText(upid);
    assert.match(log, /TASK ERROR: verification failed/);
  });

  test('prune keep-last 1 removes the two older snapshots as a task, and a dry run removes nothing', async () => {
    const dry = await system.jobs.start({ kind: 'prune', store: 'store1', user: 'admin@pbs', params: { 'keep-last': 1, 'dry-run': true } });
    assert.equal((await ended(dry)).exitstatus, 'OK');
    assert.equal(readdirSync(join(store.path, 'host', 'web1')).filter((n) => /^\d{4}-/.test(n)).length, 3);
    const upid = await system.jobs.start({ kind: 'prune', store: 'store1', user: 'admin@pbs', params: { 'keep-last': 1 } });
    assert.equal((await ended(upid)).exitstatus, 'OK');
    assert.equal(readdirSync(join(store.path, 'host', 'web1')).filter((n) => /^\d{4}-/.test(n)).length, 1);
    assert.match(await logText(upid), /kept 1, removed 2/);
  });

  test('a prune with a bad parameter fails its task with the parameter named', async () => {
    const upid = await system.jobs.start({ kind: 'prune', store: 'store1', user: 'admin@pbs', params: { 'keep-last': -1 } });
    const status = await ended(upid);
    assert.match(status.exitstatus!, /keep-last/);
  });
});
