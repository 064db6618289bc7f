import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseGroupRef } from '../../datastore/backup-ref.ts';
import { groupLockPath, snapshotLockPath, writersDir } from '../../datastore/layout.ts';
import { lockGroup, lockSnapshot, lockStoreJob } from '../../datastore/locks.ts';
import { createSnapshotDir, ensureGroup, removeSnapshot } from '../../datastore/snapshots.ts';
import { listActiveWriters, oldestActiveWriterStart, registerWriter } from '../../datastore/writers.ts';
import { makeTempStore } from '../helpers/temp-store.ts';

const temp = makeTempStore();
after(() => temp.remove());
const store = temp.path;

const web1 = parseGroupRef('host/web1');
const web2 = parseGroupRef('host/web2');
const T1 = '2026-11-24T10:00:00Z';
const T2 = '2026-11-24T11:00:00Z';

describe('in-process locks', () => {
  test('two exclusive group locks conflict, even in one process; release frees', async () => {
    const a = await lockGroup(store, web1, { exclusive: true });
    assert.ok(existsSync(groupLockPath(store, web1)));
    await assert.rejects(lockGroup(store, web1), { code: 'BULWARK_LOCKED', message: /another backup is running in this group/ });
    const other = await lockGroup(store, web2); // other groups are independent
    a.release();
    a.release(); // idempotent
    assert.equal(a.held, false);
    const b = await lockGroup(store, web1);
    b.release();
    other.release();
  });

  test('snapshot locks: shared+shared ok, shared vs exclusive conflict both ways', async () => {
    const dir = web1.snapshot(T1);
    const r1 = await lockSnapshot(store, dir, { shared: true });
    const r2 = await lockSnapshot(store, dir, { shared: true });
    await assert.rejects(lockSnapshot(store, dir, { exclusive: true }), { code: 'BULWARK_LOCKED', message: /in use by a reader or backup/ });
    r1.release();
    await assert.rejects(lockSnapshot(store, dir, { exclusive: true }), { code: 'BULWARK_LOCKED' });
    r2.release();
    const w = await lockSnapshot(store, dir, { exclusive: true });
    await assert.rejects(lockSnapshot(store, dir, { shared: true }), { code: 'BULWARK_LOCKED', message: /being written or removed/ });
    await assert.rejects(lockSnapshot(store, dir, { exclusive: true }), { code: 'BULWARK_LOCKED' });
    // the group lock and other snapshots are unaffected
    const g = await lockGroup(store, web1);
    const s2 = await lockSnapshot(store, web1.snapshot(T2), { exclusive: true });
    for (const l of [w, g, s2]) l.release();
  });

  test('lock mode must be explicit', async () => {
    const dir = web1.snapshot(T1);
    await assert.rejects(lockSnapshot(store, dir, {} as never), { code: 'BULWARK_INVALID_ARGUMENT' });
    await assert.rejects(lockSnapshot(store, dir, { shared: true, exclusive: true } as never), { code: 'BULWARK_INVALID_ARGUMENT' });
  });

  test('dispose releases', async () => {
    const l = await lockGroup(store, web1);
    l[Symbol.dispose]();
    (await lockGroup(store, web1)).release();
  });

  test('timeoutMs retries until the holder lets go, then gives up when it does not', async () => {
    const holder = await lockGroup(store, web1);
    const waiting = lockGroup(store, web1, { timeoutMs: 60_000, retryIntervalMs: 1 }); // first attempt already failed
    holder.release();
    const got = await waiting;
    await assert.rejects(lockGroup(store, web1, { timeoutMs: 1, retryIntervalMs: 1 }), { code: 'BULWARK_LOCKED' });
    got.release();
  });

  test('discard removes the lock file while held; later lockers get a fresh one', async () => {
    const dir = web2.snapshot(T1);
    const l = await lockSnapshot(store, dir, { exclusive: true });
    l.discard();
    assert.equal(l.held, false);
    assert.ok(!existsSync(snapshotLockPath(store, dir)));
    const again = await lockSnapshot(store, dir, { shared: true });
    assert.throws(() => again.discard(), { code: 'BULWARK_INTERNAL' }); // shared holders never unlink
    assert.ok(again.held);
    again.release();
  });

  test('one gc per store', async () => {
    const gc = await lockStoreJob(store, 'gc');
    await assert.rejects(lockStoreJob(store, 'gc'), { code: 'BULWARK_LOCKED', message: /garbage collection is already running/ });
    const verify = await lockStoreJob(store, 'verify'); // other jobs are separate
    gc.release();
    (await lockStoreJob(store, 'gc')).release();
    verify.release();
    await assert.rejects(lockStoreJob(store, '../gc'), { code: 'BULWARK_INVALID_NAME' });
  });
});

describe('writer registry', () => {
  test('register, list, release', async () => {
    const s = join(store, 'writers-1');
    mkdirSync(s);
    assert.deepEqual(await listActiveWriters(s), []);
    assert.equal(await oldestActiveWriterStart(s), undefined);
    const a = await registerWriter(s, { group: web1, startedAt: 2_000 });
    const b = await registerWriter(s, { group: parseGroupRef('vm/100'), startedAt: 1_000 });
    const list = await listActiveWriters(s);
    assert.deepEqual(list.map((w) => [w.pid, w.startedAt, w.group.toString()]), [[process.pid, 1_000, 'vm/100'], [process.pid, 2_000, 'host/web1']]);
    assert.equal(await oldestActiveWriterStart(s), 1_000);
    b.release();
    b.release();
    assert.equal(await oldestActiveWriterStart(s), 2_000);
    a[Symbol.dispose]();
    assert.deepEqual(readdirSync(writersDir(s)), []);
  });

  test('stale entries (owner gone) are removed on sight', async () => {
    const s = join(store, 'writers-2');
    const dir = writersDir(s);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '999999-dead.json'), JSON.stringify({ pid: 999999, startedAt: 5, ns: '', group: 'host/web1' }));
    writeFileSync(join(dir, '.999999-x.json.1.abc.tmp'), '');
    writeFileSync(join(dir, 'unrelated.txt'), 'left alone');
    const live = await registerWriter(s, { group: web2, startedAt: 10 });
    assert.deepEqual((await listActiveWriters(s)).map((w) => w.startedAt), [10]);
    assert.deepEqual(readdirSync(dir).sort(), [live.file.split('/').pop(), 'unrelated.txt'].sort());
    live.release();
  });
});

// ── across processes ───────────────────────────────────────────────────────

const holderScript = join(dirname(fileURLToPath(import.meta.url)), 'lock-holder.ts');
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Start the holder and resolve once it printed "locked" (rejects if it exits first). */
async function startHolder(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', holderScript, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('locked\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`lock holder exited (${code}) before locking: ${err}`)));
  });
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

describe('cross-process locks', () => {
  test('a killed holder leaves no lock and no writer behind', async () => {
    const s = join(store, 'xproc');
    mkdirSync(s);
    await ensureGroup(s, web1, 'admin@pbs');
    const dir = web1.snapshot(T1);
    const child = await startHolder([s, '', 'host/web1', '1234', T1]);
    try {
      // the child created the snapshot lock before the dir exists, like a real backup
      const path = await createSnapshotDir(s, dir);
      writeFileSync(join(path, 'index.json.blob'), 'manifest');
      writeFileSync(join(path, 'disk.img.fidx'), 'archive');

      await assert.rejects(lockGroup(s, web1), { code: 'BULWARK_LOCKED', message: /another backup is running in this group/ });
      const writers = await listActiveWriters(s);
      assert.deepEqual(writers.map((w) => [w.pid, w.startedAt, w.group.toString()]), [[child.pid, 1234, 'host/web1']]);
      assert.equal(await oldestActiveWriterStart(s), 1234);

      await assert.rejects(removeSnapshot(s, dir), { code: 'BULWARK_LOCKED' });
      await assert.rejects(lockSnapshot(s, dir, { shared: true }), { code: 'BULWARK_LOCKED' });
      assert.deepEqual(readdirSync(path).sort(), ['disk.img.fidx', 'index.json.blob']);
    } finally {
      await kill9(child);
    }

    const g = await lockGroup(s, web1);
    assert.deepEqual(await listActiveWriters(s), []);
    assert.deepEqual(readdirSync(writersDir(s)), [], 'the dead writer file was healed');
    await removeSnapshot(s, dir);
    g.release();
  });
});
