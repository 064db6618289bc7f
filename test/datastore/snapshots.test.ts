import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupDir, BackupGroup, BackupNamespace, parseGroupRef } from '../../datastore/backup-ref.ts';
import {
  createOwnerIfAbsent, isProtected, readNotes, readOwner, setProtected, writeNotes, writeOwner,
} from '../../datastore/group-meta.ts';
import { groupPath, namespacePath, snapshotPath } from '../../datastore/layout.ts';
import { lockSnapshot } from '../../datastore/locks.ts';
import {
  createGroup, createNamespace, createSnapshotDir, ensureGroup, listGroups, listNamespaces, listSnapshots,
  removeGroup, removeNamespace, removeSnapshot,
} from '../../datastore/snapshots.ts';
import { makeTempStore } from '../helpers/temp-store.ts';

const temp = makeTempStore();
after(() => temp.remove());

let storeCount = 0;
/** A fresh store dir per test, inside the temp dir. */
function freshStore(): string {
  const dir = join(temp.path, `s${storeCount++}`);
  mkdirSync(dir);
  return dir;
}

const ns = (t: string): BackupNamespace => BackupNamespace.parse(t);
const T1 = '2026-11-24T10:00:00Z';
const T2 = '2026-11-24T11:00:00Z';
const T3 = '2026-11-25T09:30:00Z';

async function finishedSnapshot(store: string, dir: BackupDir): Promise<string> {
  const path = await createSnapshotDir(store, dir);
  writeFileSync(join(path, 'index.json.blob'), 'manifest');
  writeFileSync(join(path, 'root.pxar.didx'), 'archive');
  return path;
}

describe('namespaces', () => {
  test('create, list recursively and sorted, depth-limited', async () => {
    const store = freshStore();
    for (const n of ['b', 'a', 'a/y', 'a/x', 'a/x/deep']) await createNamespace(store, ns(n));
    assert.ok(existsSync(join(store, 'ns/a/ns/x/ns/deep')));
    assert.deepEqual((await listNamespaces(store)).map(String), ['', 'a', 'a/x', 'a/x/deep', 'a/y', 'b']);
    assert.deepEqual((await listNamespaces(store, ns('a'))).map(String), ['a', 'a/x', 'a/x/deep', 'a/y']);
    assert.deepEqual((await listNamespaces(store, BackupNamespace.root, 1)).map(String), ['', 'a', 'b']);
    assert.deepEqual((await listNamespaces(store, ns('a'), 0)).map(String), ['a']);
  });

  test('parent must exist, duplicates refused, depth limit holds', async () => {
    const store = freshStore();
    await assert.rejects(createNamespace(store, ns('x/y')), { code: 'BULWARK_NOT_FOUND' });
    await createNamespace(store, ns('x'));
    await assert.rejects(createNamespace(store, ns('x')), { code: 'BULWARK_ALREADY_EXISTS' });
    await assert.rejects(createNamespace(store, BackupNamespace.root), { code: 'BULWARK_ALREADY_EXISTS' });
    let cur = BackupNamespace.root;
    for (let i = 0; i < 7; i++) { cur = cur.child(`l${i}`); await createNamespace(store, cur); }
    assert.equal(cur.depth, 7);
    assert.throws(() => cur.child('l7'), { code: 'BULWARK_NAMESPACE_TOO_DEEP' });
  });

  test('stray files, bad names and symlinks are skipped in listings', async () => {
    const store = freshStore();
    await createNamespace(store, ns('good'));
    mkdirSync(join(store, 'ns', '.hidden'));
    mkdirSync(join(store, 'ns', 'bad name'));
    writeFileSync(join(store, 'ns', 'file'), 'x');
    const outside = mkdtempSync(join(tmpdir(), 'bulwark-outside-'));
    mkdirSync(join(outside, 'ns', 'secret'), { recursive: true });
    symlinkSync(outside, join(store, 'ns', 'link'));
    try {
      assert.deepEqual((await listNamespaces(store)).map(String), ['', 'good']);
      await assert.rejects(createNamespace(store, ns('link/secret2')), { code: 'BULWARK_IO' });
      assert.ok(!existsSync(join(outside, 'ns', 'secret2')));
      await assert.rejects(ensureGroup(store, new BackupGroup(ns('link'), 'host', 'x'), 'admin@pbs'), { code: 'BULWARK_IO' });
      assert.ok(!existsSync(join(outside, 'host')));
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test('remove: empty only unless deleteGroups', async () => {
    const store = freshStore();
    await createNamespace(store, ns('a'));
    await createNamespace(store, ns('a/child'));
    await createNamespace(store, ns('b'));
    await ensureGroup(store, new BackupGroup(ns('b'), 'vm', '100'), 'admin@pbs');
    await assert.rejects(removeNamespace(store, ns('a')), { code: 'BULWARK_NAMESPACE_NOT_EMPTY', message: /1 child namespace/ });
    await assert.rejects(removeNamespace(store, ns('b')), { code: 'BULWARK_NAMESPACE_NOT_EMPTY', message: /1 backup group/ });
    await assert.rejects(removeNamespace(store, BackupNamespace.root), { code: 'BULWARK_INVALID_ARGUMENT' });
    await assert.rejects(removeNamespace(store, ns('nope')), { code: 'BULWARK_NOT_FOUND' });
    await removeNamespace(store, ns('a/child'));
    await removeNamespace(store, ns('a'));
    assert.ok(!existsSync(namespacePath(store, ns('a'))));
    assert.deepEqual((await listNamespaces(store)).map(String), ['', 'b']);
  });

  test('remove with deleteGroups keeps protected snapshots and says why', async () => {
    const store = freshStore();
    await createNamespace(store, ns('a'));
    await createNamespace(store, ns('a/b'));
    const keep = new BackupGroup(ns('a/b'), 'host', 'keep');
    const gone = new BackupGroup(ns('a'), 'ct', 'gone');
    for (const g of [keep, gone]) await ensureGroup(store, g, 'admin@pbs');
    await finishedSnapshot(store, keep.snapshot(T1));
    await finishedSnapshot(store, keep.snapshot(T2));
    await finishedSnapshot(store, gone.snapshot(T1));
    await setProtected(store, keep.snapshot(T2), true);

    await assert.rejects(removeNamespace(store, ns('a'), { deleteGroups: true }),
      { code: 'BULWARK_NAMESPACE_NOT_EMPTY', message: /1 protected snapshot must stay: host\/keep\/2026-11-24T11:00:00Z in namespace 'a\/b'/ });
    assert.ok(!existsSync(groupPath(store, gone)));
    assert.ok(!existsSync(snapshotPath(store, keep.snapshot(T1))));
    assert.ok(existsSync(snapshotPath(store, keep.snapshot(T2))));
    assert.deepEqual((await listNamespaces(store)).map(String), ['', 'a', 'a/b']);

    await setProtected(store, keep.snapshot(T2), false);
    const r = await removeNamespace(store, ns('a'), { deleteGroups: true });
    assert.deepEqual(r.removedNamespaces.map(String), ['a/b', 'a']);
    assert.deepEqual((await listNamespaces(store)).map(String), ['']);
    assert.ok(!existsSync(join(store, 'ns', 'a')));
  });
});

describe('groups', () => {
  test('ensureGroup creates with owner, returns it again, refuses other owners', async () => {
    const store = freshStore();
    const g = parseGroupRef('host/web1');
    assert.deepEqual(await ensureGroup(store, g, 'user@pbs!token'), { owner: 'user@pbs!token', created: true, path: groupPath(store, g) });
    assert.equal(readFileSync(join(groupPath(store, g), 'owner'), 'utf8'), 'user@pbs!token\n');
    assert.equal((await ensureGroup(store, g, 'user@pbs!token')).created, false);
    await assert.rejects(ensureGroup(store, g, 'admin@pbs'), { code: 'BULWARK_OWNER_MISMATCH', message: /owned by user@pbs!token, not by admin@pbs/ });
    await assert.rejects(ensureGroup(store, g, 'not an auth id'), { code: 'BULWARK_INVALID_NAME' });
    await assert.rejects(createGroup(store, g, 'user@pbs!token'), { code: 'BULWARK_ALREADY_EXISTS' });
    await assert.rejects(ensureGroup(store, new BackupGroup(ns('missing'), 'vm', '1'), 'admin@pbs'), { code: 'BULWARK_NOT_FOUND' });
  });

  test('racing first backups get one owner', async () => {
    const store = freshStore();
    const g = parseGroupRef('vm/100');
    const results = await Promise.allSettled(['a@pbs', 'b@pbs', 'c@pbs'].map((o) => ensureGroup(store, g, o)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(results.every((r) => r.status === 'fulfilled' || (r.reason as { code: string }).code === 'BULWARK_OWNER_MISMATCH'));
  });

  test('owner and notes files', async () => {
    const store = freshStore();
    const g = parseGroupRef('ct/7');
    await assert.rejects(readOwner(store, g), { code: 'BULWARK_NOT_FOUND' });
    mkdirSync(groupPath(store, g), { recursive: true });
    assert.equal(await readOwner(store, g), undefined);
    assert.deepEqual(await createOwnerIfAbsent(store, g, 'a@pbs'), { owner: 'a@pbs', created: true });
    assert.deepEqual(await createOwnerIfAbsent(store, g, 'b@pbs'), { owner: 'a@pbs', created: false });
    await writeOwner(store, g, 'b@pbs');
    assert.equal(await readOwner(store, g), 'b@pbs');
    await assert.rejects(writeOwner(store, g, 'b@pbs\nroot@pam'), { code: 'BULWARK_INVALID_NAME' });
    writeFileSync(join(groupPath(store, g), 'owner'), 'garbage\n');
    await assert.rejects(readOwner(store, g), { code: 'BULWARK_INVALID_NAME' });
    assert.equal(await readNotes(store, g), '');
    await writeNotes(store, g, 'database server\nsecond line');
    assert.equal(await readNotes(store, g), 'database server\nsecond line');
  });

  test('listGroups summarises owner and snapshots, skips strays', async () => {
    const store = freshStore();
    const web = parseGroupRef('host/web1');
    const vm = parseGroupRef('vm/100');
    await ensureGroup(store, web, 'admin@pbs');
    await ensureGroup(store, vm, 'user@pbs');
    await finishedSnapshot(store, web.snapshot(T1));
    await createSnapshotDir(store, web.snapshot(T2)); // unfinished
    mkdirSync(join(store, 'host', 'bad id'));
    mkdirSync(join(store, 'other', 'x'), { recursive: true });
    writeFileSync(join(store, 'host', 'stray'), 'x');
    const groups = await listGroups(store, BackupNamespace.root);
    assert.deepEqual(groups.map((g) => [g.type, g.id, g.owner, g.snapshotCount, g.lastSnapshotTime, g.lastFinishedTime]), [
      ['host', 'web1', 'admin@pbs', 2, web.snapshot(T2).time, web.snapshot(T1).time],
      ['vm', '100', 'user@pbs', 0, undefined, undefined],
    ]);
  });

  test('removeGroup removes unprotected snapshots and keeps the group while protected ones remain', async () => {
    const store = freshStore();
    const g = parseGroupRef('host/db');
    await ensureGroup(store, g, 'admin@pbs');
    for (const t of [T1, T2, T3]) await finishedSnapshot(store, g.snapshot(t));
    await setProtected(store, g.snapshot(T2), true);
    const r = await removeGroup(store, g);
    assert.deepEqual(r.removedSnapshots.map(String), [`host/db/${T1}`, `host/db/${T3}`]);
    assert.deepEqual(r.protectedSnapshots.map(String), [`host/db/${T2}`]);
    assert.equal(r.groupRemoved, false);
    assert.equal(await readOwner(store, g), 'admin@pbs');
    await setProtected(store, g.snapshot(T2), false);
    assert.equal((await removeGroup(store, g)).groupRemoved, true);
    assert.ok(!existsSync(groupPath(store, g)));
    assert.ok(!existsSync(join(store, 'host')));
    assert.ok(!existsSync(join(store, '.locks', 'host')), 'empty lock dirs are pruned');
  });
});

describe('snapshots', () => {
  test('create, list sorted by time with state, remove', async () => {
    const store = freshStore();
    const g = parseGroupRef('vm/100');
    await assert.rejects(createSnapshotDir(store, g.snapshot(T1)), { code: 'BULWARK_NOT_FOUND' });
    await ensureGroup(store, g, 'admin@pbs');
    await finishedSnapshot(store, g.snapshot(T3));
    await createSnapshotDir(store, g.snapshot(T1));
    await finishedSnapshot(store, g.snapshot(T2));
    await assert.rejects(createSnapshotDir(store, g.snapshot(T2)), { code: 'BULWARK_ALREADY_EXISTS' });
    await setProtected(store, g.snapshot(T3), true);
    // strays: non-canonical time, junk dir, file, symlink to a dir
    mkdirSync(join(groupPath(store, g), '2026-11-24T10:00:00.000Z'));
    mkdirSync(join(groupPath(store, g), 'junk'));
    writeFileSync(join(groupPath(store, g), '2026-11-20T00:00:00Z'), 'not a dir');
    symlinkSync(snapshotPath(store, g.snapshot(T1)), join(groupPath(store, g), '2026-11-21T00:00:00Z'));

    const list = await listSnapshots(store, g);
    assert.deepEqual(list.map((s) => [s.dir.timeString, s.finished, s.protected]), [
      [T1, false, false], [T2, true, false], [T3, true, true],
    ]);
    assert.equal(list[1]!.path, snapshotPath(store, g.snapshot(T2)));

    await removeSnapshot(store, g.snapshot(T2));
    assert.ok(!existsSync(snapshotPath(store, g.snapshot(T2))));
    await assert.rejects(removeSnapshot(store, g.snapshot(T2)), { code: 'BULWARK_NOT_FOUND' });
    assert.deepEqual((await listSnapshots(store, g)).map((s) => s.dir.timeString), [T1, T3]);
  });

  test('a protected snapshot refuses removal, even with force', async () => {
    const store = freshStore();
    const g = parseGroupRef('host/web1');
    await ensureGroup(store, g, 'admin@pbs');
    const dir = g.snapshot(T1);
    const path = await finishedSnapshot(store, dir);
    await setProtected(store, dir, true);
    assert.equal(await isProtected(store, dir), true);
    await assert.rejects(removeSnapshot(store, dir), { code: 'BULWARK_SNAPSHOT_PROTECTED' });
    await assert.rejects(removeSnapshot(store, dir, { force: true }), { code: 'BULWARK_SNAPSHOT_PROTECTED' });
    assert.ok(existsSync(join(path, 'index.json.blob')) && existsSync(join(path, 'root.pxar.didx')));
    await setProtected(store, dir, false);
    assert.equal(await isProtected(store, dir), false);
    await removeSnapshot(store, dir);
    assert.ok(!existsSync(path));
  });

  test('a snapshot in use cannot be removed; its holder may remove it with its own lock', async () => {
    const store = freshStore();
    const g = parseGroupRef('host/web1');
    await ensureGroup(store, g, 'admin@pbs');
    const dir = g.snapshot(T1);
    const writer = await lockSnapshot(store, dir, { exclusive: true });
    const path = await finishedSnapshot(store, dir);
    await assert.rejects(removeSnapshot(store, dir), { code: 'BULWARK_LOCKED', message: /in use by a reader or backup/ });
    await assert.rejects(setProtected(store, dir, true), { code: 'BULWARK_LOCKED' });
    assert.ok(existsSync(join(path, 'index.json.blob')) && existsSync(join(path, 'root.pxar.didx')));
    await removeSnapshot(store, dir, { lock: writer });
    assert.ok(!existsSync(path));
    writer.release();

    const dir2 = g.snapshot(T2);
    await finishedSnapshot(store, dir2);
    const reader = await lockSnapshot(store, dir2, { shared: true });
    await assert.rejects(removeSnapshot(store, dir2), { code: 'BULWARK_LOCKED' });
    await assert.rejects(removeSnapshot(store, dir2, { lock: reader }), { code: 'BULWARK_INVALID_ARGUMENT' });
    await setProtected(store, dir2, true); // shared with the reader: allowed
    await setProtected(store, dir2, false);
    reader.release();
    await removeSnapshot(store, dir2);
  });

  test('a symlinked snapshot dir is never followed', async () => {
    const store = freshStore();
    const g = parseGroupRef('host/web1');
    await ensureGroup(store, g, 'admin@pbs');
    const outside = mkdtempSync(join(tmpdir(), 'bulwark-outside-'));
    writeFileSync(join(outside, 'precious'), 'data');
    symlinkSync(outside, snapshotPath(store, g.snapshot(T1)));
    try {
      await assert.rejects(removeSnapshot(store, g.snapshot(T1)), { code: 'BULWARK_IO' });
      await assert.rejects(setProtected(store, g.snapshot(T1), true), { code: 'BULWARK_IO' });
      assert.deepEqual(await listSnapshots(store, g), []);
      await removeGroup(store, g);
      assert.equal(readFileSync(join(outside, 'precious'), 'utf8'), 'data');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
