import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackupGroup, BackupNamespace, type BackupDir } from '../../datastore/backup-ref.ts';
import { setProtected } from '../../datastore/group-meta.ts';
import { snapshotPath } from '../../datastore/layout.ts';
import { lockSnapshot } from '../../datastore/locks.ts';
import { pruneGroup, pruneNamespace, type PruneGroupResult } from '../../datastore/prune-apply.ts';
import { createNamespace, createSnapshotDir, ensureGroup, listSnapshots } from '../../datastore/snapshots.ts';
import { NOW_S, OWNER, backupStore } from '../helpers/backup-fixtures.ts';
import { makeTempStore } from '../helpers/temp-store.ts';

const temp = makeTempStore();
after(() => temp.remove());

let storeCount = 0;
function freshStore() {
  const parent = join(temp.path, `s${storeCount++}`);
  mkdirSync(parent);
  return backupStore(parent);
}

const DAY = 86_400;
/** Noon UTC, `n` days before the fake clock's day. */
const daysAgo = (n: number): number => Math.floor(NOW_S / DAY) * DAY + 12 * 3600 - n * DAY;

/** A group with one finished snapshot (a stand-in manifest) per time. */
async function groupWith(store: string, group: BackupGroup, times: number[]): Promise<BackupDir[]> {
  await ensureGroup(store, group, OWNER);
  const dirs: BackupDir[] = [];
  for (const t of times) {
    const dir = group.snapshot(t);
    const path = await createSnapshotDir(store, dir);
    writeFileSync(join(path, 'index.json.blob'), 'manifest');
    writeFileSync(join(path, 'root.pxar.didx'), 'archive');
    dirs.push(dir);
  }
  return dirs;
}

const onDisk = async (store: string, group: BackupGroup): Promise<number[]> =>
  (await listSnapshots(store, group)).map((s) => s.dir.time);
const host = (id: string, ns = BackupNamespace.root): BackupGroup => new BackupGroup(ns, 'host', id);

describe('pruneGroup', () => {
  test('a dry run reports and removes nothing; the applied run removes exactly the remove marks', async () => {
    const fx = freshStore();
    const group = host('web1');
    const times = [5, 4, 3, 2, 1, 0].map(daysAgo);
    await groupWith(fx.path, group, times);

    const dry = await pruneGroup(fx.path, group, { keepLast: 2 }, { dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.snapshots.map((s) => [s.dir.time, s.mark, s.removed]), [
      [daysAgo(0), 'keep', undefined], [daysAgo(1), 'keep', undefined], [daysAgo(2), 'remove', undefined],
      [daysAgo(3), 'remove', undefined], [daysAgo(4), 'remove', undefined], [daysAgo(5), 'remove', undefined],
    ]);
    assert.equal(dry.snapshots[0]!.reason, 'keep-last #1');
    assert.deepEqual({ kept: dry.kept, removed: dry.removed, skipped: dry.skipped }, { kept: 2, removed: 4, skipped: 0 });
    assert.deepEqual(await onDisk(fx.path, group), [...times].sort((a, b) => a - b), 'dry run removed nothing');

    const real = await pruneGroup(fx.path, group, { keepLast: 2 });
    assert.equal(real.dryRun, false);
    assert.deepEqual(real.snapshots.map((s) => [s.mark, s.removed]), [
      ['keep', false], ['keep', false], ['remove', true], ['remove', true], ['remove', true], ['remove', true],
    ]);
    assert.deepEqual({ kept: real.kept, removed: real.removed, skipped: real.skipped }, { kept: 2, removed: 4, skipped: 0 });
    assert.deepEqual(await onDisk(fx.path, group), [daysAgo(1), daysAgo(0)]);
    for (const s of real.snapshots) assert.equal(existsSync(snapshotPath(fx.path, s.dir)), !s.removed);
  });

  test('protected snapshots stay', async () => {
    const fx = freshStore();
    const group = host('web1');
    const dirs = await groupWith(fx.path, group, [3, 2, 1, 0].map(daysAgo));
    await setProtected(fx.path, dirs[0]!, true);
    await setProtected(fx.path, dirs[2]!, true);
    const r = await pruneGroup(fx.path, group, { keepLast: 1 });
    assert.deepEqual(r.snapshots.map((s) => [s.dir.time, s.mark, s.removed]), [
      [daysAgo(0), 'keep', false], [daysAgo(1), 'protected', false], [daysAgo(2), 'remove', true], [daysAgo(3), 'protected', false],
    ]);
    assert.deepEqual(await onDisk(fx.path, group), [daysAgo(3), daysAgo(1), daysAgo(0)]);
  });

  test('a snapshot in use (shared lock) is skipped and reported; the rest is still pruned', async () => {
    const fx = freshStore();
    const group = host('web1');
    const dirs = await groupWith(fx.path, group, [3, 2, 1, 0].map(daysAgo));
    const reader = await lockSnapshot(fx.path, dirs[1]!, { shared: true });
    try {
      const r = await pruneGroup(fx.path, group, { keepLast: 1 });
      const busy = r.snapshots.find((s) => s.dir.equals(dirs[1]!))!;
      assert.equal(busy.mark, 'remove');
      assert.equal(busy.removed, false);
      assert.equal(busy.error, 'BULWARK_LOCKED');
      assert.match(busy.message!, /in use/);
      assert.deepEqual({ kept: r.kept, removed: r.removed, skipped: r.skipped }, { kept: 1, removed: 2, skipped: 1 });
      assert.deepEqual(await onDisk(fx.path, group), [daysAgo(2), daysAgo(0)]);
    } finally {
      reader.release();
    }
    // Once the reader is gone, the next prune takes it.
    const again = await pruneGroup(fx.path, group, { keepLast: 1 });
    assert.equal(again.removed, 1);
    assert.deepEqual(await onDisk(fx.path, group), [daysAgo(0)]);
  });

  test("a running backup's unfinished newest snapshot is untouched, and prune does not wait for its group lock", async () => {
    const fx = freshStore();
    const group = host('web1');
    await groupWith(fx.path, group, [3, 2, 1].map(daysAgo));
    // A stale unfinished snapshot from a crashed session: no manifest, not the newest.
    const stale = group.snapshot(daysAgo(1) + 3600);
    await createSnapshotDir(fx.path, stale);
    const writer = await fx.start(daysAgo(0)); // holds the group lock and its snapshot's exclusive lock
    try {
      const r = await pruneGroup(fx.path, group, { keepLast: 1 });
      assert.deepEqual(r.snapshots.map((s) => [s.dir.time, s.mark, s.removed]), [
        [daysAgo(0), 'keep-partial', false], [stale.time, 'remove', true], [daysAgo(1), 'keep', false],
        [daysAgo(2), 'remove', true], [daysAgo(3), 'remove', true],
      ]);
      assert.ok(existsSync(writer.path), 'the running backup keeps its dir');
      assert.equal(writer.state, 'open');
      assert.deepEqual(await onDisk(fx.path, group), [daysAgo(1), daysAgo(0)]);
    } finally {
      await writer.abort('test over');
    }
  });

  test('a missing group is BULWARK_NOT_FOUND; bad options are refused before anything is removed', async () => {
    const fx = freshStore();
    const group = host('web1');
    await groupWith(fx.path, group, [1, 0].map(daysAgo));
    await assert.rejects(pruneGroup(fx.path, host('nope'), { keepLast: 1 }), { code: 'BULWARK_NOT_FOUND' });
    await assert.rejects(pruneGroup(fx.path, group, { keepLast: -1 }), { code: 'BULWARK_INVALID_ARGUMENT' });
    await assert.rejects(pruneGroup(fx.path, group, { keepLast: 1 }, { timeZone: 'No/Where' }), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.equal((await onDisk(fx.path, group)).length, 2);
  });
});

describe('pruneNamespace', () => {
  /** root: host/r; a: host/a; a/b: host/b, vm/100; a/b/c: host/c. Three snapshots each. */
  async function tree() {
    const fx = freshStore();
    const ns = (t: string): BackupNamespace => BackupNamespace.parse(t);
    for (const n of ['a', 'a/b', 'a/b/c']) await createNamespace(fx.path, ns(n));
    const groups = {
      r: host('r'), a: host('a', ns('a')), b: host('b', ns('a/b')), vm: new BackupGroup(ns('a/b'), 'vm', '100'), c: host('c', ns('a/b/c')),
    };
    for (const g of Object.values(groups)) await groupWith(fx.path, g, [2, 1, 0].map(daysAgo));
    return { fx, ns, groups };
  }

  test('max-depth limits the walk; groups are reported one by one', async () => {
    const { fx, ns, groups } = await tree();
    const seen: string[] = [];
    const totals = await pruneNamespace(fx.path, ns('a'), { keepLast: 1 }, {
      maxDepth: 1, onGroup: (r: PruneGroupResult) => { seen.push(`${r.group.ns}:${r.group}`); },
    });
    assert.deepEqual(seen, ['a:host/a', 'a/b:host/b', 'a/b:vm/100']);
    assert.deepEqual(totals, { groups: 3, kept: 3, removed: 6, skipped: 0 });
    assert.equal((await onDisk(fx.path, groups.c)).length, 3, 'a/b/c is below max-depth');
    assert.equal((await onDisk(fx.path, groups.r)).length, 3, 'the root is outside the namespace');
    assert.equal((await onDisk(fx.path, groups.b)).length, 1);

    const only = await pruneNamespace(fx.path, BackupNamespace.root, { keepLast: 1 }, { maxDepth: 0, dryRun: true });
    assert.deepEqual(only, { groups: 1, kept: 1, removed: 2, skipped: 0 });
    assert.equal((await onDisk(fx.path, groups.r)).length, 3, 'dry run');

    const all = await pruneNamespace(fx.path, BackupNamespace.root, { keepLast: 1 });
    assert.deepEqual(all, { groups: 5, kept: 5, removed: 4, skipped: 0 });
    for (const g of Object.values(groups)) assert.equal((await onDisk(fx.path, g)).length, 1);
  });

  test('an abort between groups stops the walk with BULWARK_ABORTED', async () => {
    const { fx, groups } = await tree();
    const ctl = new AbortController();
    const seen: string[] = [];
    await assert.rejects(
      pruneNamespace(fx.path, BackupNamespace.root, { keepLast: 1 }, {
        signal: ctl.signal, onGroup: (r) => { seen.push(String(r.group)); ctl.abort(new Error('stop requested')); },
      }),
      (err: Error & { code?: string }) => err.code === 'BULWARK_ABORTED' && /stop requested/.test(err.message),
    );
    assert.deepEqual(seen, ['host/r']);
    assert.equal((await onDisk(fx.path, groups.r)).length, 1);
    assert.equal((await onDisk(fx.path, groups.a)).length, 3, 'later groups untouched');
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(pruneNamespace(fx.path, BackupNamespace.root, { keepLast: 1 }, { signal: pre.signal }), { code: 'BULWARK_ABORTED' });
  });

  test('bad max-depth, options or namespace are refused', async () => {
    const { fx } = await tree();
    for (const maxDepth of [-1, 8, 1.5, Number.NaN]) {
      await assert.rejects(pruneNamespace(fx.path, BackupNamespace.root, { keepLast: 1 }, { maxDepth }), { code: 'BULWARK_INVALID_ARGUMENT' });
    }
    await assert.rejects(pruneNamespace(fx.path, BackupNamespace.root, { keepDaily: 0.5 }), { code: 'BULWARK_INVALID_ARGUMENT' });
    await assert.rejects(pruneNamespace(fx.path, BackupNamespace.root, { keepDaily: 1 }, { timeZone: 'Bad/Zone' }), { code: 'BULWARK_INVALID_ARGUMENT' });
    await assert.rejects(pruneNamespace(fx.path, BackupNamespace.parse('missing'), { keepLast: 1 }), { code: 'BULWARK_NOT_FOUND' });
  });
});
