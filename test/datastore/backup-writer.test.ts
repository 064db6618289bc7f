import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackupGroup, BackupNamespace } from '../../datastore/backup-ref.ts';
import { encodeBlob } from '../../datastore/blob.ts';
import { keyFromBytes } from '../../datastore/crypt-key.ts';
import { KnownChunks } from '../../datastore/known-chunks.ts';
import { snapshotPath } from '../../datastore/layout.ts';
import { lockGroup } from '../../datastore/locks.ts';
import { decodeManifestBlob, readManifest, signManifest } from '../../datastore/manifest.ts';
import { listSnapshots } from '../../datastore/snapshots.ts';
import { listActiveWriters } from '../../datastore/writers.ts';
import {
  NOW_S, OTHER_OWNER, backupStore, dynamicPlan, fixedPlan, writeArchive, type BackupStoreFixture,
} from '../helpers/backup-fixtures.ts';
import { makeChunk, removeDir, tempDir } from '../helpers/chunk-fixtures.ts';
import { seededRandom } from '../helpers/index-fixtures.ts';

const root = tempDir();
after(() => removeDir(root));

const group = new BackupGroup(BackupNamespace.root, 'host', 'web1');
const T1 = NOW_S - 2 * 3600;
const T2 = NOW_S - 3600;
const sha256hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** One finished backup of a 3-chunk dynamic archive, a 3-chunk fixed image and a blob. */
async function fullBackup(s: BackupStoreFixture, time = T1) {
  const didx = dynamicPlan([1, 2, 3]);
  const fidx = fixedPlan(7, 4096 * 2 + 1000, 4096);
  const blob = encodeBlob(Buffer.from('client log line\n'.repeat(40)), { compress: true });
  const w = await s.start(time);
  await writeArchive(w, 'root.pxar.didx', didx);
  await writeArchive(w, 'disk.img.fidx', fidx, { chunkSize: 4096 });
  await w.addBlob('client.log.blob', blob);
  const result = await w.finish();
  return { w, didx, fidx, blob, result };
}

describe('BackupWriter: a full backup', () => {
  test('writes indexes, blob and a manifest listing them; releases locks and registration', async () => {
    const s = backupStore(root);
    const { w, didx, fidx, blob, result } = await fullBackup(s);
    assert.equal(w.state, 'finished');
    const onDisk = readManifest(join(w.path, 'index.json.blob'));
    assert.deepEqual(onDisk, result.manifest);
    assert.deepEqual(onDisk.files, [
      { filename: 'root.pxar.didx', 'crypt-mode': 'none', size: didx.size, csum: didx.csum.toString('hex') },
      { filename: 'disk.img.fidx', 'crypt-mode': 'none', size: fidx.size, csum: fidx.csum.toString('hex') },
      { filename: 'client.log.blob', 'crypt-mode': 'none', size: blob.length, csum: sha256hex(blob) },
    ]);
    assert.equal(onDisk['backup-time'], T1);
    assert.deepEqual(readFileSync(join(w.path, 'client.log.blob')), blob);
    assert.deepEqual(result.stats, {
      chunksUploaded: 6, bytesUploaded: [...didx.chunks, ...fidx.chunks].reduce((n, c) => n + c.blob.length, 0),
      rawBytesUploaded: didx.size + fidx.size, chunksReused: 0, knownChunks: 0, resumeWriteFailures: 0,
    });
    assert.deepEqual(onDisk.unprotected.chunk_upload_stats, { count: 6, size: didx.size + fidx.size, compressed_size: result.stats.bytesUploaded, duplicates: 0 });
    assert.deepEqual((await listSnapshots(s.path, group)).map((x) => [x.dir.time, x.finished]), [[T1, true]]);
    assert.deepEqual(await listActiveWriters(s.path), []);
    (await lockGroup(s.path, group)).release(); // the group lock is free again
    assert.deepEqual(readdirSync(w.path).filter((n) => n.endsWith('.tmp')), []);
  });

  test('registers itself for GC with its start time while running', async () => {
    const s = backupStore(root);
    const w = await s.start(T1);
    const writers = await listActiveWriters(s.path);
    assert.equal(writers.length, 1);
    assert.equal(writers[0]!.startedAt, NOW_S * 1000);
    assert.equal(writers[0]!.group.toString(), 'host/web1');
    await w.abort('test');
    assert.deepEqual(await listActiveWriters(s.path), []);
  });

  test('encrypted chunks and blobs get crypt mode encrypt', async () => {
    const s = backupStore(root);
    const key = keyFromBytes(Buffer.alloc(32, 9));
    const plan = dynamicPlan([11, 12], undefined, key);
    const w = await s.start(T1);
    await writeArchive(w, 'secret.didx', plan);
    await w.addBlob('secret.blob', encodeBlob(Buffer.from('x'.repeat(100)), { key }));
    const { manifest } = await w.finish();
    assert.deepEqual(manifest.files.map((f) => f['crypt-mode']), ['encrypt', 'encrypt']);
  });

  test('chunk upload verifies the digest (chunk store refusal reaches the caller)', async () => {
    const s = backupStore(root);
    const w = await s.start(T1);
    const wid = w.createIndex({ kind: 'dynamic', name: 'a.didx' });
    const [a, b] = [makeChunk(1), makeChunk(2)];
    await assert.rejects(w.insertChunk(wid, a.digest, a.data.length, b.blob), { code: 'BULWARK_DIGEST_MISMATCH' });
    assert.throws(() => w.append(wid, a.digest, [a.data.length]), { code: 'BULWARK_UNKNOWN_CHUNK' });
    await w.abort('test');
  });
});

describe('BackupWriter: incremental backups', () => {
  test('previousArchive makes chunks known: appending only known digests uploads nothing', async () => {
    const s = backupStore(root);
    const { didx, fidx } = await fullBackup(s);
    s.clock.advance(60_000);
    const w = await s.start(T2);
    assert.equal(w.previousSnapshot()?.dir.time, T1);
    assert.equal(decodeManifestBlob(await w.previousManifestBlob(), 'm').files.length, 3);
    const prevDidx = await w.previousArchive('root.pxar.didx');
    assert.deepEqual(prevDidx, readFileSync(join(w.previousSnapshot()!.path, 'root.pxar.didx')));
    await w.previousArchive('disk.img.fidx');
    await w.previousArchive('client.log.blob'); // a blob registers nothing
    // Known chunks were touched now, so a GC starting now keeps them.
    assert.equal((await s.chunkStore.stat(didx.chunks[0]!.digest))!.atimeMs, NOW_S * 1000 + 60_000);

    const d = w.createIndex({ kind: 'dynamic', name: 'root.pxar.didx' });
    w.append(d, didx.digests, didx.offsets);
    w.closeIndex(d, { count: 3, size: didx.size, csum: didx.csum });
    const f = w.createIndex({ kind: 'fixed', name: 'disk.img.fidx', size: fidx.size, chunkSize: 4096 });
    w.append(f, fidx.digests.subarray(64), [2]); // out of order, as uploads finish
    w.append(f, fidx.digests.subarray(0, 64), [0, 1]);
    w.closeIndex(f, { count: 3, size: fidx.size, csum: fidx.csum.toString('hex') });
    const { stats, manifest } = await w.finish();
    assert.equal(stats.chunksUploaded, 0);
    assert.equal(stats.knownChunks, 6);
    assert.equal(manifest.files[0]!.csum, didx.csum.toString('hex'));
  });

  test('a previous chunk that GC removed is not known', async () => {
    const s = backupStore(root);
    const { didx } = await fullBackup(s);
    const w = await s.start(T2);
    await s.chunkStore.remove(didx.chunks[1]!.digest);
    await w.previousArchive('root.pxar.didx');
    assert.equal(w.stats.knownChunks, 2);
    const d = w.createIndex({ kind: 'dynamic', name: 'root.pxar.didx' });
    assert.throws(() => w.append(d, didx.digests, didx.offsets), { code: 'BULWARK_UNKNOWN_CHUNK' });
    await w.abort('test');
  });

  test('previous reads: none yet → BULWARK_NOT_FOUND; names are validated and must be in the manifest', async () => {
    const s = backupStore(root);
    const w1 = await s.start(T1);
    assert.equal(w1.previousSnapshot(), undefined);
    await assert.rejects(w1.previousManifestBlob(), { code: 'BULWARK_NOT_FOUND' });
    await assert.rejects(w1.previousArchive('root.pxar.didx'), { code: 'BULWARK_NOT_FOUND' });
    await w1.abort('test');
    await fullBackup(s, T1);
    const w2 = await s.start(T2);
    await assert.rejects(w2.previousArchive('../root.pxar.didx'), { code: 'BULWARK_INVALID_NAME' });
    await assert.rejects(w2.previousArchive('other.didx'), { code: 'BULWARK_NOT_FOUND' });
    await w2.abort('test');
  });
});

describe('BackupWriter: protocol checks', () => {
  test('append of an unknown digest → BULWARK_UNKNOWN_CHUNK, and nothing of that append is kept', async () => {
    const s = backupStore(root);
    const plan = dynamicPlan([1, 2]);
    const w = await s.start(T1);
    const wid = w.createIndex({ kind: 'dynamic', name: 'a.didx' });
    await w.insertChunk(wid, plan.chunks[0]!.digest, plan.chunks[0]!.data.length, plan.chunks[0]!.blob);
    assert.throws(() => w.append(wid, plan.digests, plan.offsets), { code: 'BULWARK_UNKNOWN_CHUNK' });
    await w.insertChunk(wid, plan.chunks[1]!.digest, plan.chunks[1]!.data.length, plan.chunks[1]!.blob);
    w.append(wid, plan.digests, plan.offsets);
    w.closeIndex(wid, { count: 2, size: plan.size, csum: plan.csum });
  });

  test('close with a wrong count or size → BULWARK_PROTOCOL and the index stays open', async () => {
    const s = backupStore(root);
    const plan = dynamicPlan([1, 2]);
    const w = await s.start(T1);
    const wid = w.createIndex({ kind: 'dynamic', name: 'a.didx' });
    for (const c of plan.chunks) await w.insertChunk(wid, c.digest, c.data.length, c.blob);
    w.append(wid, plan.digests, plan.offsets);
    assert.throws(() => w.closeIndex(wid, { count: 3, size: plan.size, csum: plan.csum }), (e: Error & { code?: string }) =>
      e.code === 'BULWARK_PROTOCOL' && /count is 3 by the client, 2 by the server/.test(e.message));
    assert.throws(() => w.closeIndex(wid, { count: 2, size: 1, csum: plan.csum }), { code: 'BULWARK_PROTOCOL' });
    w.closeIndex(wid, { count: 2, size: plan.size, csum: plan.csum });
    await w.finish();
  });

  test('close with a wrong checksum → BULWARK_PROTOCOL; the index is dropped and finish refuses', async () => {
    const s = backupStore(root);
    const plan = dynamicPlan([1, 2]);
    const w = await s.start(T1);
    const wid = w.createIndex({ kind: 'dynamic', name: 'a.didx' });
    for (const c of plan.chunks) await w.insertChunk(wid, c.digest, c.data.length, c.blob);
    w.append(wid, plan.digests, plan.offsets);
    assert.throws(() => w.closeIndex(wid, { count: 2, size: plan.size, csum: Buffer.alloc(32) }), (e: Error & { code?: string }) =>
      e.code === 'BULWARK_PROTOCOL' && e.message.includes(plan.csum.toString('hex')));
    assert.equal(existsSync(join(w.path, 'a.didx')), false);
    await assert.rejects(w.finish(), { code: 'BULWARK_PROTOCOL' });
    await w.abort('test');
  });

  test('fixed index: positions out of range, and closing with unset chunks → BULWARK_PROTOCOL', async () => {
    const s = backupStore(root);
    const plan = fixedPlan(3, 4096 * 3, 4096);
    const w = await s.start(T1);
    const wid = w.createIndex({ kind: 'fixed', name: 'd.fidx', size: plan.size, chunkSize: 4096 });
    for (const c of plan.chunks) await w.insertChunk(wid, c.digest, c.data.length, c.blob);
    assert.throws(() => w.append(wid, plan.digests.subarray(0, 32), [3]), { code: 'BULWARK_PROTOCOL' });
    w.append(wid, plan.digests.subarray(0, 64), [0, 1]);
    assert.throws(() => w.closeIndex(wid, { count: 3, size: plan.size, csum: plan.csum }), { code: 'BULWARK_PROTOCOL' });
    w.append(wid, plan.digests.subarray(64), [2]);
    w.closeIndex(wid, { count: 3, size: plan.size, csum: plan.csum });
  });

  test('dynamic offsets must increase by at most a chunk; digest and offset lists must match', async () => {
    const s = backupStore(root);
    const plan = dynamicPlan([1, 2]);
    const w = await s.start(T1);
    const wid = w.createIndex({ kind: 'dynamic', name: 'a.didx' });
    for (const c of plan.chunks) await w.insertChunk(wid, c.digest, c.data.length, c.blob);
    assert.throws(() => w.append(wid, plan.digests, [plan.offsets[1]!, plan.offsets[0]!]), { code: 'BULWARK_PROTOCOL' });
    assert.throws(() => w.append(wid, plan.digests, [plan.offsets[0]!]), { code: 'BULWARK_PROTOCOL' });
    assert.throws(() => w.append(wid, plan.digests.subarray(1), plan.offsets), { code: 'BULWARK_PROTOCOL' });
    assert.throws(() => w.append(99, plan.digests, plan.offsets), { code: 'BULWARK_PROTOCOL' });
  });

  test('archive names: validated, matching the index kind, each used once; finish needs closed indexes and an archive', async () => {
    const s = backupStore(root);
    const w = await s.start(T1);
    assert.throws(() => w.createIndex({ kind: 'dynamic', name: '../x.didx' }), { code: 'BULWARK_INVALID_NAME' });
    assert.throws(() => w.createIndex({ kind: 'dynamic', name: 'x.fidx' }), { code: 'BULWARK_INVALID_NAME' });
    await assert.rejects(w.addBlob('x.didx', encodeBlob(Buffer.from('x'))), { code: 'BULWARK_INVALID_NAME' });
    await assert.rejects(w.finish(), { code: 'BULWARK_PROTOCOL' }); // nothing written
    w.createIndex({ kind: 'dynamic', name: 'x.didx' });
    assert.throws(() => w.createIndex({ kind: 'dynamic', name: 'x.didx' }), { code: 'BULWARK_ALREADY_EXISTS' });
    await assert.rejects(w.finish(), { code: 'BULWARK_PROTOCOL' }); // x.didx still open
    const bad = encodeBlob(Buffer.from('log'));
    bad[bad.length - 1]! ^= 1;
    await assert.rejects(w.addBlob('log.blob', bad), { code: 'BULWARK_BAD_CRC' });
    await w.abort('test');
  });
});

describe('BackupWriter: start', () => {
  test('backup time more than 5 minutes ahead → BULWARK_BACKUP_TIME_FUTURE; within the skew it is fine', async () => {
    const s = backupStore(root);
    await assert.rejects(s.start(NOW_S + 301), { code: 'BULWARK_BACKUP_TIME_FUTURE' });
    await (await s.start(NOW_S + 300)).abort('test');
  });

  test('not newer than the last snapshot → BULWARK_BACKUP_TIME_OLD', async () => {
    const s = backupStore(root);
    await fullBackup(s, T2);
    await assert.rejects(s.start(T2), { code: 'BULWARK_BACKUP_TIME_OLD' });
    await assert.rejects(s.start(T1), { code: 'BULWARK_BACKUP_TIME_OLD' });
    await (await s.start(T2 + 1)).abort('test');
  });

  test('a second writer on the same group → BULWARK_LOCKED while the first runs; other groups go ahead', async () => {
    const s = backupStore(root);
    const first = await s.start(T1);
    await assert.rejects(s.start(T2), (e: Error & { code?: string }) => e.code === 'BULWARK_LOCKED' && /another backup is running in this group/.test(e.message));
    const other = await s.start(T2, { id: 'db1' });
    await other.abort('test');
    await first.abort('test');
    await (await s.start(T2)).abort('test');
  });

  test('a group owned by someone else → BULWARK_OWNER_MISMATCH', async () => {
    const s = backupStore(root);
    await (await s.start(T1)).abort('test');
    await assert.rejects(s.start(T2, { owner: OTHER_OWNER }), { code: 'BULWARK_OWNER_MISMATCH' });
    await (await s.start(T2)).abort('test'); // the failed start released the group lock
  });

  test('names are validated', async () => {
    const s = backupStore(root);
    await assert.rejects(s.start(T1, { id: '../x' }), { code: 'BULWARK_INVALID_NAME' });
    await assert.rejects(s.start(T1, { type: 'pc' }), { code: 'BULWARK_INVALID_NAME' });
    await assert.rejects(s.start(T1, { owner: 'nobody' }), { code: 'BULWARK_INVALID_NAME' });
    await assert.rejects(s.start(T1, { ns: 'missing' }), { code: 'BULWARK_NOT_FOUND' });
  });
});

describe('BackupWriter: abort', () => {
  test('removes only the unfinished snapshot dir; earlier snapshots and chunks stay; idempotent', async () => {
    const s = backupStore(root);
    const { didx } = await fullBackup(s, T1);
    const earlier = readdirSync(snapshotPath(s.path, group.snapshot(T1))).sort();
    const w = await s.start(T2);
    const plan = dynamicPlan([21, 22]);
    const wid = w.createIndex({ kind: 'dynamic', name: 'new.didx' });
    for (const c of plan.chunks) await w.insertChunk(wid, c.digest, c.data.length, c.blob);
    w.append(wid, plan.digests, plan.offsets); // left open: its temp file must go too
    await w.addBlob('b.blob', encodeBlob(Buffer.from('b')));
    assert.ok(existsSync(w.path));
    await w.abort('client went away');
    await w.abort('again');
    assert.equal(existsSync(w.path), false);
    assert.equal(w.state, 'aborted');
    assert.deepEqual(readdirSync(snapshotPath(s.path, group.snapshot(T1))).sort(), earlier);
    for (const c of [...didx.chunks, ...plan.chunks]) assert.ok(await s.chunkStore.exists(c.digest), 'chunks are never removed by abort');
    assert.deepEqual((await listSnapshots(s.path, group)).map((x) => x.dir.time), [T1]);
    assert.deepEqual(await listActiveWriters(s.path), []);
    assert.throws(() => w.createIndex({ kind: 'dynamic', name: 'z.didx' }), (e: Error & { code?: string }) =>
      e.code === 'BULWARK_SESSION_ABORTED' && e.message.includes('client went away'));
    await (await s.start(T2)).abort('test'); // locks are free
  });

  test('after a failed step (bad csum) abort still cleans up; after finish it touches nothing', async () => {
    const s = backupStore(root);
    const w = await s.start(T1);
    const plan = dynamicPlan([1]);
    const wid = w.createIndex({ kind: 'dynamic', name: 'a.didx' });
    await w.insertChunk(wid, plan.chunks[0]!.digest, plan.chunks[0]!.data.length, plan.chunks[0]!.blob);
    w.append(wid, plan.digests, plan.offsets);
    assert.throws(() => w.closeIndex(wid, { count: 1, size: plan.size, csum: Buffer.alloc(32, 1) }), { code: 'BULWARK_PROTOCOL' });
    await w.abort('protocol error');
    assert.equal(existsSync(w.path), false);

    const { w: done } = await fullBackup(s, T2);
    await done.abort('late');
    assert.ok(existsSync(join(done.path, 'index.json.blob')));
    assert.throws(() => done.createIndex({ kind: 'dynamic', name: 'z.didx' }), { code: 'BULWARK_PROTOCOL' });
  });

  test('abort waits for calls in flight: a blob being written does not survive, a running finish completes', async () => {
    const s = backupStore(root);
    const w = await s.start(T1);
    const writing = w.addBlob('big.blob', encodeBlob(Buffer.alloc(1 << 20, 1)));
    const aborting = w.abort('disconnect');
    await writing;
    await aborting;
    assert.equal(existsSync(w.path), false);
    await assert.rejects(w.addBlob('late.blob', encodeBlob(Buffer.from('x'))), { code: 'BULWARK_SESSION_ABORTED' });

    const w2 = await s.start(T2);
    await w2.addBlob('a.blob', encodeBlob(Buffer.from('a')));
    const finishing = w2.finish();
    await w2.abort('too late');
    await finishing;
    assert.equal(w2.state, 'finished');
    assert.ok(existsSync(join(w2.path, 'index.json.blob')));
  });
});

describe('BackupWriter: client-provided manifest', () => {
  async function twoArchives(s: BackupStoreFixture) {
    const plan = dynamicPlan([1, 2]);
    const blob = encodeBlob(Buffer.from('catalog'));
    const w = await s.start(T1);
    await writeArchive(w, 'root.didx', plan);
    await w.addBlob('catalog.blob', blob);
    const files = [
      { filename: 'root.didx', 'crypt-mode': 'none' as const, size: plan.size, csum: plan.csum.toString('hex') },
      { filename: 'catalog.blob', 'crypt-mode': 'none' as const, size: blob.length, csum: sha256hex(blob) },
    ];
    const manifest = { 'backup-type': 'host' as const, 'backup-id': 'web1', 'backup-time': T1, files, unprotected: {} };
    return { w, manifest };
  }

  test('a wrong csum, a missing or an extra file, or another snapshot → BULWARK_MANIFEST_INVALID', async () => {
    const s = backupStore(root);
    const { w, manifest } = await twoArchives(s);
    const wrong = { ...manifest, files: [{ ...manifest.files[0]!, csum: 'ab'.repeat(32) }, manifest.files[1]!] };
    await assert.rejects(w.finish({ manifest: wrong }), (e: Error & { code?: string }) => e.code === 'BULWARK_MANIFEST_INVALID' && /csum/.test(e.message));
    await assert.rejects(w.finish({ manifest: { ...manifest, files: [manifest.files[0]!] } }), { code: 'BULWARK_MANIFEST_INVALID' });
    const extra = { ...manifest, files: [...manifest.files, { ...manifest.files[1]!, filename: 'x.blob' }] };
    await assert.rejects(w.finish({ manifest: extra }), { code: 'BULWARK_MANIFEST_INVALID' });
    await assert.rejects(w.finish({ manifest: { ...manifest, 'backup-time': T2 } }), { code: 'BULWARK_MANIFEST_INVALID' });
    await assert.rejects(w.finish({ manifest: { ...manifest, files: [{ ...manifest.files[0]!, 'crypt-mode': 'encrypt' }, manifest.files[1]!] } }),
      { code: 'BULWARK_MANIFEST_INVALID' });
    assert.equal(existsSync(join(w.path, 'index.json.blob')), false);
    await w.finish({ manifest }); // still open: a correct one is accepted
  });

  test('a signed manifest sent as the blob index.json.blob is kept (signature intact) and written at finish', async () => {
    const s = backupStore(root);
    const key = keyFromBytes(Buffer.alloc(32, 5));
    const { w, manifest } = await twoArchives(s);
    const signed = signManifest({ ...manifest, files: manifest.files.map((f) => ({ ...f, 'crypt-mode': 'sign-only' as const })) }, key);
    await w.addBlob('index.json.blob', encodeBlob(Buffer.from(JSON.stringify(signed))));
    assert.equal(existsSync(join(w.path, 'index.json.blob')), false, 'held until finish');
    await w.finish();
    const stored = readManifest(join(w.path, 'index.json.blob'));
    assert.equal(stored.signature, signed.signature);
    assert.deepEqual(stored.files, signed.files);
  });
});

describe('KnownChunks', () => {
  test('agrees with a Set under many adds and deletes (growth and backward-shift deletion)', () => {
    const rand = seededRandom(42);
    const known = new KnownChunks();
    const ref = new Map<string, boolean>();
    const pool = Array.from({ length: 3000 }, (_, i) => createHash('sha256').update(`d${i}`).digest());
    for (let step = 0; step < 20_000; step++) {
      const d = pool[Math.floor(rand() * pool.length)]!;
      const hex = d.toString('hex');
      if (rand() < 0.6) {
        const enc = rand() < 0.5;
        assert.equal(known.add(d, enc), !ref.has(hex));
        ref.set(hex, enc);
      } else {
        assert.equal(known.delete(d), ref.delete(hex));
      }
    }
    assert.equal(known.size, ref.size);
    for (const d of pool) assert.deepEqual(known.get(d), ref.has(d.toString('hex')) ? { encrypted: ref.get(d.toString('hex')) } : undefined);
    assert.throws(() => known.has(Buffer.alloc(31)), { code: 'BULWARK_INVALID_ARGUMENT' });
  });

  test('memory stays compact: at most 88 bytes per digest (33-byte slots, at least 3/8 full)', () => {
    const known = new KnownChunks();
    for (let i = 0; i < 20_000; i++) {
      known.add(createHash('sha256').update(String(i)).digest(), false);
      if (i > 1000) assert.ok(known.byteLength / known.size <= 88, `${known.byteLength / known.size} bytes per digest at ${i + 1}`);
    }
  });
});
