import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isBulwarkError } from '../../../errors.ts';
import { INDEX_DIR, TaskStore } from '../../../actors/tasks/task-store.ts';
import { ABORT_MESSAGE, taskLogPath } from '../../../actors/tasks/task-log.ts';
import { formatUpid, parseUpid } from '../../../actors/tasks/upid.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const hasCode = (code: string) => (err: unknown) => isBulwarkError(err) && err.code === code;
const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
let dirSeq = 0;

/** A store on a fresh directory with a clock the test moves. */
async function freshStore(): Promise<{ store: TaskStore; dir: string; clock: { t: number }; reopen: () => Promise<TaskStore> }> {
  const dir = path.join(tmp, `tasks-${dirSeq++}`);
  const clock = { t: T0 };
  const open = () => TaskStore.open({ dir, node: 'pbs1', now: () => clock.t });
  return { store: await open(), dir, clock, reopen: open };
}

/** Six finished tasks a minute apart, oldest first. */
async function fillSix(store: TaskStore, clock: { t: number }): Promise<string[]> {
  const specs = [
    { type: 'garbage_collection', id: 'store1', user: 'root@pam', end: { state: 'ok' as const } },
    { type: 'verify', id: 'store1', user: 'admin@pbs', warn: 1, end: { state: 'ok' as const } },
    { type: 'backup', id: 'store1:vm/100', user: 'backup@pbs!client', end: { state: 'error' as const, message: 'connection lost' } },
    { type: 'prune', id: 'store2', user: 'admin@pbs', end: { state: 'ok' as const } },
    { type: 'verify', id: 'store2', user: 'root@pam', end: { state: 'aborted' as const } },
    { type: 'garbage_collection', id: 'store2', user: 'root@pam', end: { state: 'ok' as const } },
  ];
  const upids: string[] = [];
  for (const s of specs) {
    clock.t += 60_000;
    const h = await store.start(s);
    h.log(`${s.type} started`);
    if (s.warn) h.warn('a chunk was slow');
    clock.t += 5_000;
    await h.finish(s.end);
    upids.push(h.upid);
  }
  return upids;
}

describe('TaskStore', () => {
  test('start writes the log and a running entry; finish records the end in both', async () => {
    const { store, clock } = await freshStore();
    assert.deepEqual(store.openReport, { settled: 0, tasks: 0 }, 'a new directory is no rebuild');
    const h = await store.start({ type: 'verify', id: 'store1:vm/100', user: 'root@pam' });
    const u = parseUpid(h.upid);
    assert.equal(u.workerId, 'store1:vm/100');
    assert.equal(u.startTime, T0 / 1000);
    assert.equal(h.logPath, taskLogPath(store.dir, u));
    assert.ok(fs.existsSync(h.logPath));
    h.log('checking 10 chunks');
    let status = await store.status(h.upid);
    assert.equal(status.status, 'running');
    assert.equal(status.exitstatus, undefined);
    assert.deepEqual((await store.list({ running: true })).tasks.map((t) => t.upid), [h.upid]);

    clock.t += 90_000;
    const entry = await h.finish({ state: 'ok' });
    assert.deepEqual(entry, {
      upid: h.upid, node: 'pbs1', type: 'verify', id: 'store1:vm/100', user: 'root@pam',
      starttime: T0 / 1000, endtime: T0 / 1000 + 90, status: 'ok', exitstatus: 'OK',
    });
    status = await store.status(h.upid);
    assert.deepEqual(status, {
      upid: h.upid, node: 'pbs1', pid: process.pid, pstart: u.pstart, starttime: T0 / 1000,
      type: 'verify', id: 'store1:vm/100', user: 'root@pam', status: 'stopped', exitstatus: 'OK',
    });
    const log = await store.readLog(h.upid);
    assert.deepEqual(log.lines.map((l) => l.t), ['2024-05-01T12:00:00Z: checking 10 chunks', '2024-05-01T12:01:30Z: TASK OK']);
    await assert.rejects(h.finish({ state: 'ok' }), hasCode('BULWARK_INTERNAL'));
    await store.close();
  });

  test('list: newest first, filters, limit and paging', async () => {
    const { store, clock } = await freshStore();
    const upids = await fillSix(store, clock);
    const newestFirst = [...upids].reverse();
    const all = await store.list({ limit: 0 });
    assert.deepEqual(all.tasks.map((t) => t.upid), newestFirst);
    assert.equal(all.total, 6);
    assert.deepEqual(all.tasks.map((t) => [t.status, t.exitstatus]), [
      ['ok', 'OK'], ['aborted', ABORT_MESSAGE], ['ok', 'OK'], ['error', 'connection lost'], ['warning', 'WARNINGS: 1'], ['ok', 'OK'],
    ]);

    const page1 = await store.list({ limit: 2 });
    assert.deepEqual(page1.tasks.map((t) => t.upid), newestFirst.slice(0, 2));
    assert.equal(page1.total, 3, 'one "virtual" entry past the page while more follow');
    const page3 = await store.list({ start: 4, limit: 2 });
    assert.deepEqual(page3.tasks.map((t) => t.upid), newestFirst.slice(4));
    assert.equal(page3.total, 6);

    const pick = async (f: Parameters<TaskStore['list']>[0]) => (await store.list(f)).tasks.map((t) => upids.indexOf(t.upid));
    assert.deepEqual(await pick({ type: 'garbage' }), [5, 0]);
    assert.deepEqual(await pick({ user: 'admin@pbs' }), [3, 1]);
    assert.deepEqual(await pick({ user: '!client' }), [2]);
    assert.deepEqual(await pick({ errors: true }), [4, 2, 1]);
    assert.deepEqual(await pick({ status: ['error', 'aborted'] }), [4, 2]);
    const start2 = parseUpid(upids[1]!).startTime;
    const start4 = parseUpid(upids[4]!).startTime;
    assert.deepEqual(await pick({ since: start2, until: start4 }), [4, 3, 2, 1]);
    assert.deepEqual(await pick({ since: start4 + 1 }), [5]);
    assert.deepEqual(await pick({ until: start2 - 1 }), [0]);
    assert.deepEqual(await pick({ running: true }), []);
    await assert.rejects(store.list({ limit: -1 }), hasCode('BULWARK_INVALID_ARGUMENT'));
    await assert.rejects(store.list({ since: 1.5 }), hasCode('BULWARK_INVALID_ARGUMENT'));
    await store.close();
  });

  test('requestAbort fires the running task\'s signal once; finished and unknown tasks give false', async () => {
    const { store } = await freshStore();
    const h = await store.start({ type: 'verify', id: 'store1', user: 'admin@pbs!ops' });
    let fired = 0;
    h.abortSignal.addEventListener('abort', () => { fired += 1; });
    assert.equal(store.requestAbort(h.upid), true);
    assert.equal(store.requestAbort(h.upid), true);
    assert.equal(fired, 1);
    assert.ok(h.abortSignal.aborted);
    assert.ok(isBulwarkError(h.abortSignal.reason, 'BULWARK_ABORTED'));
    const entry = await h.finish({ state: 'aborted' });
    assert.equal(entry.status, 'aborted');
    assert.equal(entry.exitstatus, ABORT_MESSAGE);
    const status = await store.status(h.upid);
    assert.equal(status.user, 'admin@pbs');
    assert.equal(status.tokenid, 'ops');
    assert.equal(status.exitstatus, ABORT_MESSAGE);
    const texts = (await store.readLog(h.upid)).lines.map((l) => l.t.slice(22));
    assert.deepEqual(texts, ['received abort request ...', `TASK ERROR: ${ABORT_MESSAGE}`]);

    assert.equal(store.requestAbort(h.upid), false);
    const other = formatUpid({ ...parseUpid(h.upid), taskId: 999_999 });
    assert.equal(store.requestAbort(other), false);
    assert.throws(() => store.requestAbort('UPID:nope'), hasCode('BULWARK_BAD_UPID'));
    await assert.rejects(store.status(other), hasCode('BULWARK_NOT_FOUND'));
    await assert.rejects(store.readLog(other), hasCode('BULWARK_NOT_FOUND'));
    await assert.rejects(store.status('garbage'), hasCode('BULWARK_BAD_UPID'));
    await store.close();
  });

  test('a second store on the same directory is refused while the first is open', async () => {
    const { store, reopen } = await freshStore();
    await assert.rejects(reopen(), hasCode('BULWARK_LOCKED'));
    await store.close();
  });
});

describe('TaskStore recovery', () => {
  test('a deleted index is rebuilt from the logs with the same list', async () => {
    const { store, dir, clock, reopen } = await freshStore();
    await fillSix(store, clock);
    const before = await store.list({ limit: 0 });
    await store.close();

    const again = await reopen();
    assert.equal(again.openReport.rebuilt, undefined, 'an intact index is kept');
    await again.close();

    fs.rmSync(path.join(dir, INDEX_DIR), { recursive: true });
    const rebuilt = await reopen();
    assert.match(rebuilt.openReport.rebuilt ?? '', /missing/);
    assert.deepEqual(await rebuilt.list({ limit: 0 }), before);
    await rebuilt.close();
  });

  test('a corrupted index (garbage in its files) is wiped and rebuilt', async () => {
    const { store, dir, clock, reopen } = await freshStore();
    await fillSix(store, clock);
    const before = await store.list({ limit: 0 });
    await store.close();
    const indexDir = path.join(dir, INDEX_DIR);
    for (const f of fs.readdirSync(indexDir)) {
      const size = Math.max(fs.statSync(path.join(indexDir, f)).size, 64);
      fs.writeFileSync(path.join(indexDir, f), Buffer.alloc(size, 0x5a));
    }
    const rebuilt = await reopen();
    assert.ok(rebuilt.openReport.rebuilt, 'rebuilt');
    assert.deepEqual(await rebuilt.list({ limit: 0 }), before);
    await rebuilt.close();
  });

  test('a task left without an end line reads as stopped with exitstatus unknown after reopen', async () => {
    const { store, clock, reopen } = await freshStore();
    const h = await store.start({ type: 'backup', id: 'store1:host/web', user: 'root@pam' });
    clock.t += 30_000;
    h.log('uploading');
    await store.close(); // the process "dies": no end line
    assert.ok(h.abortSignal.aborted);

    const after = await reopen();
    assert.equal(after.openReport.rebuilt, undefined);
    assert.equal(after.openReport.settled, 1);
    const status = await after.status(h.upid);
    assert.equal(status.status, 'stopped');
    assert.equal(status.exitstatus, 'unknown');
    const [entry] = (await after.list()).tasks;
    assert.equal(entry!.status, 'error');
    assert.equal(entry!.endtime, T0 / 1000 + 30, 'ends at its last log line, as PBS reads it');
    await after.close();
  });

  test('a log of a dead process that the index never saw is indexed as stopped on reopen', async () => {
    const { store, dir, reopen } = await freshStore();
    await store.close();
    // A foreign process (pid that cannot exist) crashed right after creating its log.
    const upid = formatUpid({ node: 'pbs1', pid: 0x7fff_fff0, pstart: 0x1234, taskId: 7, startTime: T0 / 1000 - 3600, workerType: 'sync', workerId: 'remote1', authId: 'root@pam' });
    const logPath = taskLogPath(dir, parseUpid(upid));
    fs.mkdirSync(path.dirname(logPath), { recursive: true });
    fs.writeFileSync(logPath, '2024-05-01T11:00:00Z: starting sync\n2024-05-01T11:00:09Z: pulling group vm/100\n');

    const after = await reopen();
    assert.match(after.openReport.rebuilt ?? '', /1 logs exist/);
    const status = await after.status(upid);
    assert.equal(status.status, 'stopped');
    assert.equal(status.exitstatus, 'unknown');
    const [entry] = (await after.list({ errors: true })).tasks;
    assert.equal(entry!.upid, upid);
    assert.equal(entry!.endtime, T0 / 1000 - 3600 + 9);
    await after.close();
  });
});
