import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackupGroup, BackupNamespace } from '../../datastore/backup-ref.ts';
import { lockSnapshot } from '../../datastore/locks.ts';
import { encodeManifestBlob, createManifest } from '../../datastore/manifest.ts';
import { recoverDatastore } from '../../datastore/recovery.ts';
import { createSnapshotDir, ensureGroup, listSnapshots } from '../../datastore/snapshots.ts';
import { removeDir, sparseStoreDir, tempDir } from '../helpers/chunk-fixtures.ts';

const root = tempDir();
after(() => removeDir(root));

test('recovery removes dead unfinished snapshots and partial chunks, and nothing else', async () => {
  const store = sparseStoreDir(root);
  const group = new BackupGroup(BackupNamespace.root, 'host', 'web1');
  await ensureGroup(store, group, 'admin@pbs');
  const finished = group.snapshot(1_700_000_000);
  const dead = group.snapshot(1_700_000_100);
  const live = group.snapshot(1_700_000_200);
  for (const d of [finished, dead, live]) await createSnapshotDir(store, d);
  const manifest = createManifest({ backupType: 'host', backupId: 'web1', backupTime: finished.time });
  writeFileSync(join(store, 'host', 'web1', finished.timeString, 'index.json.blob'), encodeManifestBlob(manifest));
  const held = await lockSnapshot(store, live, { exclusive: true }); // a backup still running

  const prefix = join(store, '.chunks', 'abcd');
  mkdirSync(prefix, { recursive: true });
  const digest = 'ab'.repeat(32);
  const deadTmp = join(prefix, `.${digest}.999999999.0a1b2c.tmp`);
  const liveTmp = join(prefix, `.${digest}.${process.pid}.0a1b2d.tmp`);
  const chunk = join(prefix, digest);
  for (const f of [deadTmp, liveTmp, chunk]) writeFileSync(f, 'x');

  try {
    const report = await recoverDatastore(store);
    assert.deepEqual(report.removedSnapshots, [dead.toString()]);
    assert.equal(report.removedTempFiles, 1);
    const left = (await listSnapshots(store, group)).map((s) => s.dir.time);
    assert.deepEqual(left, [finished.time, live.time]);
    assert.equal(existsSync(deadTmp), false);
    assert.equal(existsSync(liveTmp), true, 'an insert of a live process stays');
    assert.equal(existsSync(chunk), true, 'complete chunks are never touched');
  } finally {
    held.release();
  }
});
