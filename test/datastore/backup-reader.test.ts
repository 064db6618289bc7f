import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackupGroup, BackupNamespace } from '../../datastore/backup-ref.ts';
import { encodeBlob } from '../../datastore/blob.ts';
import { keyFromBytes } from '../../datastore/crypt-key.ts';
import { createSnapshotDir, removeSnapshot } from '../../datastore/snapshots.ts';
import { NOW_S, backupStore, dynamicPlan, fixedPlan, restoreArchive, writeArchive, type BackupStoreFixture } from '../helpers/backup-fixtures.ts';
import { makeChunk, removeDir, tempDir } from '../helpers/chunk-fixtures.ts';

const root = tempDir();
after(() => removeDir(root));

const group = new BackupGroup(BackupNamespace.root, 'host', 'web1');
const T1 = NOW_S - 2 * 3600;
const T2 = NOW_S - 3600;

async function backup(s: BackupStoreFixture, time = T1) {
  const didx = dynamicPlan([1, 2, 3], [5000, 1, 7000]);
  const fidx = fixedPlan(4, 4096 * 2 + 123, 4096);
  const log = Buffer.from('log line\n'.repeat(100));
  const w = await s.start(time);
  await writeArchive(w, 'root.pxar.didx', didx);
  await writeArchive(w, 'disk.img.fidx', fidx, { chunkSize: 4096 });
  await w.addBlob('client.log.blob', encodeBlob(log, { compress: true }));
  await w.finish();
  return { w, didx, fidx, log };
}

describe('BackupReader', () => {
  test('reads a backup back byte-exact: manifest, dynamic and fixed archives, blob', async () => {
    const s = backupStore(root);
    const { w, didx, fidx } = await backup(s);
    const r = await s.open(T1);
    try {
      assert.deepEqual(r.manifestBlob(), readFileSync(join(w.path, 'index.json.blob')));
      assert.deepEqual(r.manifest.files.map((f) => f.filename), ['root.pxar.didx', 'disk.img.fidx', 'client.log.blob']);
      assert.deepEqual(await restoreArchive(r, 'root.pxar.didx'), didx.data);
      assert.deepEqual(await restoreArchive(r, 'disk.img.fidx'), fidx.data);
      assert.deepEqual(await r.blob('client.log.blob'), readFileSync(join(w.path, 'client.log.blob')));
    } finally {
      r.close();
    }
  });

  test('encrypted archive round trip (the reader hands out chunks as stored)', async () => {
    const s = backupStore(root);
    const key = keyFromBytes(Buffer.alloc(32, 7));
    const plan = dynamicPlan([8, 9], undefined, key);
    const w = await s.start(T1);
    await writeArchive(w, 'secret.didx', plan);
    await w.finish();
    const r = await s.open(T1);
    assert.deepEqual(await restoreArchive(r, 'secret.didx', key), plan.data);
    r.close();
  });

  test('chunks only for digests of indexes fetched in this session (no existence oracle)', async () => {
    const s = backupStore(root);
    const { didx, fidx } = await backup(s);
    const stranger = makeChunk(99);
    await s.chunkStore.insertChunk(stranger.digest, stranger.blob);
    const r = await s.open(T1);
    await assert.rejects(r.chunk(didx.chunks[0]!.digest), { code: 'BULWARK_NOT_FOUND' }); // index not fetched yet
    await r.index('root.pxar.didx');
    assert.deepEqual(await r.chunk(didx.chunks[0]!.digest), didx.chunks[0]!.blob);
    assert.deepEqual(await r.chunk(didx.chunks[2]!.hex), didx.chunks[2]!.blob);
    await assert.rejects(r.chunk(fidx.chunks[0]!.digest), { code: 'BULWARK_NOT_FOUND' }); // other index of the snapshot
    await assert.rejects(r.chunk(stranger.digest), { code: 'BULWARK_NOT_FOUND' }); // exists, but not ours
    await assert.rejects(r.chunk('zz'), { code: 'BULWARK_INVALID_ARGUMENT' });
    r.close();
  });

  test('holds a shared lock: removeSnapshot → BULWARK_LOCKED while open; other readers are fine', async () => {
    const s = backupStore(root);
    await backup(s);
    const r1 = await s.open(T1);
    const r2 = await s.open(T1);
    await assert.rejects(removeSnapshot(s.path, group.snapshot(T1)), { code: 'BULWARK_LOCKED' });
    r1.close();
    await assert.rejects(removeSnapshot(s.path, group.snapshot(T1)), { code: 'BULWARK_LOCKED' });
    r2.close();
    r2.close(); // idempotent
    await removeSnapshot(s.path, group.snapshot(T1));
    assert.throws(() => r1.manifestBlob(), { code: 'BULWARK_SESSION_ABORTED' });
  });

  test('unfinished snapshots are refused: BULWARK_NOT_FOUND, or BULWARK_LOCKED while being written', async () => {
    const s = backupStore(root);
    await backup(s, T1);
    const w = await s.start(T2);
    await assert.rejects(s.open(T2), { code: 'BULWARK_LOCKED' });
    await w.abort('test');
    await createSnapshotDir(s.path, group.snapshot(T2)); // as a crashed writer leaves it
    await assert.rejects(s.open(T2), (e: Error & { code?: string }) => e.code === 'BULWARK_NOT_FOUND' && /not finished/.test(e.message));
    await assert.rejects(s.open(NOW_S), { code: 'BULWARK_NOT_FOUND' });
    await assert.rejects(s.open(T1, { id: 'nope' }), { code: 'BULWARK_NOT_FOUND' });
  });

  test('only files of the manifest, by valid names, of the right kind', async () => {
    const s = backupStore(root);
    const { w } = await backup(s);
    writeFileSync(join(w.path, 'extra.blob'), encodeBlob(Buffer.from('not listed')));
    const r = await s.open(T1);
    await assert.rejects(r.blob('extra.blob'), { code: 'BULWARK_NOT_FOUND' });
    await assert.rejects(r.blob('index.json.blob'), { code: 'BULWARK_NOT_FOUND' }); // the manifest has its own call
    await assert.rejects(r.index('../web1/x.didx'), { code: 'BULWARK_INVALID_NAME' });
    await assert.rejects(r.index('client.log.blob'), { code: 'BULWARK_INVALID_ARGUMENT' });
    await assert.rejects(r.blob('root.pxar.didx'), { code: 'BULWARK_INVALID_ARGUMENT' });
    r.close();
  });

  test('an index damaged on disk → BULWARK_INDEX_CHECKSUM; a blob → BULWARK_BAD_CRC', async () => {
    const s = backupStore(root);
    const { w } = await backup(s);
    const didxPath = join(w.path, 'root.pxar.didx');
    const bytes = readFileSync(didxPath);
    bytes[4096 + 20]! ^= 0xff; // inside the first digest
    writeFileSync(didxPath, bytes);
    const blobPath = join(w.path, 'client.log.blob');
    const blob = readFileSync(blobPath);
    blob[blob.length - 1]! ^= 1;
    writeFileSync(blobPath, blob);
    const r = await s.open(T1);
    await assert.rejects(r.index('root.pxar.didx'), { code: 'BULWARK_INDEX_CHECKSUM' });
    await assert.rejects(r.blob('client.log.blob'), { code: 'BULWARK_BAD_CRC' });
    r.close();
  });
});
