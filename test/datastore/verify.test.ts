import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackupGroup, BackupNamespace, type BackupDir } from '../../datastore/backup-ref.ts';
import { encodeBlob } from '../../datastore/blob.ts';
import { keyFromBytes } from '../../datastore/crypt-key.ts';
import { MAGIC_BLOB_ENCRYPTED_LZ4 } from '../../datastore/formats.ts';
import { KnownChunks } from '../../datastore/known-chunks.ts';
import { manifestPath } from '../../datastore/layout.ts';
import { lockSnapshot } from '../../datastore/locks.ts';
import { createManifest, readManifest, signManifest, updateUnprotected, verifyManifestSignature, writeManifest } from '../../datastore/manifest.ts';
import { createNamespace, createSnapshotDir } from '../../datastore/snapshots.ts';
import { verifySnapshot, type SnapshotVerifyResult, type VerifySnapshotOptions } from '../../datastore/verify.ts';
import { shouldVerify, verifiedAt, verifyGroup, verifyNamespace } from '../../datastore/verify-job.ts';
import { VerifyPool, type ChunkVerifier } from '../../datastore/verify-pool.ts';
import { NOW_S, backupStore, dynamicPlan, fixedPlan, writeArchive, type ArchivePlan } from '../helpers/backup-fixtures.ts';
import { makeChunk, removeDir, tempDir } from '../helpers/chunk-fixtures.ts';

// One store and one pool for the file (workers take a moment to boot); each
// test uses its own groups and chunk seeds, so tests never share chunks.
const root = tempDir();
const s = backupStore(root);
const pool = new VerifyPool(s.path, { threads: 2, depth: 2 });
after(async () => {
  await pool.close();
  removeDir(root);
});

const T1 = NOW_S - 2 * 3600;
const T2 = NOW_S - 3600;
const DAY_MS = 86_400_000;
let taskNo = 0;
const newUpid = () => `UPID:node:00001234:00005678:${(++taskNo).toString(16).padStart(8, '0')}:${NOW_S.toString(16).toUpperCase()}:verify:store:root@pam:`;
const chunkPath = (hex: string) => join(s.path, '.chunks', hex.slice(0, 4), hex);
const badNames = (hex: string) => readdirSync(join(s.path, '.chunks', hex.slice(0, 4))).filter((n) => n.startsWith(`${hex}.`) && n.endsWith('.bad'));

function flipByte(path: string, at = -1): void {
  const buf = readFileSync(path);
  const i = at < 0 ? buf.length + at : at;
  buf[i] = buf[i]! ^ 0x55;
  writeFileSync(path, buf);
}

/** A pool wrapper that records every chunk it is asked to read. */
function counting(inner: ChunkVerifier = pool, onCheck?: (n: number) => void): ChunkVerifier & { reads: string[] } {
  const reads: string[] = [];
  return { reads, capacity: inner.capacity, check: (d) => (reads.push(d), onCheck?.(reads.length), inner.check(d)) };
}

interface Archives { didx?: ArchivePlan; fidx?: ArchivePlan; blob?: Buffer }

/** A finished snapshot of host/<id> at `time` holding the given archives. */
async function snapshot(id: string, time: number, a: Archives, ns?: string): Promise<BackupDir> {
  const w = await s.start(time, { id, ...(ns === undefined ? {} : { ns }) });
  if (a.didx) await writeArchive(w, 'root.pxar.didx', a.didx);
  if (a.fidx) await writeArchive(w, 'disk.img.fidx', a.fidx, { chunkSize: 4096 });
  if (a.blob) await w.addBlob('client.log.blob', a.blob);
  await w.finish();
  return w.dir;
}

const snapOpts = (extra: Partial<VerifySnapshotOptions> = {}): VerifySnapshotOptions => ({
  pool, upid: newUpid(), verifiedChunks: new KnownChunks(), corruptChunks: new KnownChunks(), now: s.clock.now, ...extra,
});
const groupOf = (id: string) => new BackupGroup(BackupNamespace.root, 'host', id);
const stateOf = (dir: BackupDir) => readManifest(manifestPath(s.path, dir)).unprotected.verify_state;

describe('verify: snapshot checks', () => {
  test('a good snapshot is ok; state, upid and time go into the unprotected part and the signature stays valid', async () => {
    const didx = dynamicPlan([101, 102, 103]);
    const fidx = fixedPlan(104, 4096 * 2 + 1000, 4096);
    const dir = await snapshot('good', T1, { didx, fidx, blob: encodeBlob(Buffer.from('log\n'.repeat(50)), { compress: true }) });
    const key = keyFromBytes(Buffer.alloc(32, 3));
    const mp = manifestPath(s.path, dir);
    writeManifest(mp, signManifest(readManifest(mp), key)); // as a client-signed manifest would be
    const upid = newUpid();
    const r = await verifySnapshot(s.path, dir, snapOpts({ upid }));
    assert.equal(r.result, 'ok');
    assert.deepEqual(r.problems, []);
    assert.equal(r.chunks, 6);
    const m = readManifest(mp);
    assert.deepEqual(m.unprotected.verify_state, { state: 'ok', upid, time: NOW_S });
    verifyManifestSignature(m, key);
  });

  test('a flipped byte fails the snapshot and renames the chunk <digest>.0.bad; a snapshot sharing it fails without reading it again', async () => {
    const didx = dynamicPlan([201, 202]);
    const older = await snapshot('flip', T1, { didx });
    const newer = await snapshot('flip', T2, { didx });
    const hex = didx.chunks[1]!.hex;
    flipByte(chunkPath(hex));
    const c = counting();
    const seen: SnapshotVerifyResult[] = [];
    const totals = await verifyGroup(s.path, groupOf('flip'), { pool: c, upid: newUpid(), now: s.clock.now, onSnapshot: (r) => seen.push(r) });
    assert.deepEqual({ ...totals, errors: totals.errors.length }, { snapshots: 2, ok: 0, failed: 2, skipped: 0, chunks: 2, bytes: totals.bytes, errors: 2 });
    assert.deepEqual(c.reads.sort(), didx.chunks.map((x) => x.hex).sort(), 'each chunk read once');
    assert.deepEqual(seen.map((r) => r.dir.time), [T2, T1], 'newest first');
    assert.deepEqual(seen[0]!.problems.map((p) => [p.digest, p.code]), [[hex, 'BULWARK_BAD_CRC']]);
    assert.deepEqual(seen[1]!.problems.map((p) => [p.digest, p.code]), [[hex, 'BULWARK_ARCHIVE_CORRUPT']]);
    assert.equal(existsSync(chunkPath(hex)), false);
    assert.deepEqual(badNames(hex), [`${hex}.0.bad`]);
    assert.equal(stateOf(older)?.state, 'failed');
    assert.equal(stateOf(newer)?.state, 'failed');
  });

  test('a chunk whose data does not match its digest (valid CRC) is renamed too', async () => {
    const didx = dynamicPlan([211]);
    const dir = await snapshot('mismatch', T1, { didx });
    const hex = didx.chunks[0]!.hex;
    writeFileSync(chunkPath(hex), makeChunk(212).blob);
    const r = await verifySnapshot(s.path, dir, snapOpts());
    assert.equal(r.result, 'failed');
    assert.deepEqual(r.problems.map((p) => p.code), ['BULWARK_DIGEST_MISMATCH']);
    assert.deepEqual(badNames(hex), [`${hex}.0.bad`]);
  });

  test('a missing chunk fails the snapshot and nothing is renamed', async () => {
    const didx = dynamicPlan([221, 222]);
    const dir = await snapshot('missing', T1, { didx });
    const hex = didx.chunks[0]!.hex;
    unlinkSync(chunkPath(hex));
    const r = await verifySnapshot(s.path, dir, snapOpts());
    assert.equal(r.result, 'failed');
    assert.deepEqual(r.problems.map((p) => [p.digest, p.code]), [[hex, 'BULWARK_NOT_FOUND']]);
    assert.deepEqual(badNames(hex), []);
    assert.equal(stateOf(dir)?.state, 'failed');
  });

  test('a corrupt blob archive or index fails the snapshot; its other archives are still checked', async () => {
    const blobDir = await snapshot('blob', T1, { didx: dynamicPlan([231]), blob: encodeBlob(Buffer.from('client log\n'.repeat(40)), { compress: true }) });
    flipByte(join(s.path, 'host', 'blob', blobDir.timeString, 'client.log.blob'));
    const r1 = await verifySnapshot(s.path, blobDir, snapOpts());
    assert.equal(r1.result, 'failed');
    assert.deepEqual(r1.problems.map((p) => [p.file, p.code]), [['client.log.blob', 'BULWARK_BAD_CRC']]);
    assert.equal(r1.chunks, 1, 'the dynamic index was still verified');

    const idxDir = await snapshot('index', T1, { fidx: fixedPlan(232, 4096 * 3, 4096) });
    flipByte(join(s.path, 'host', 'index', idxDir.timeString, 'disk.img.fidx'), 4096 + 5); // inside the first digest
    const r2 = await verifySnapshot(s.path, idxDir, snapOpts());
    assert.deepEqual(r2.problems.map((p) => [p.file, p.code]), [['disk.img.fidx', 'BULWARK_INDEX_CHECKSUM']]);
    assert.equal(stateOf(idxDir)?.state, 'failed');
  });

  test('an encrypted chunk is checked by CRC: ok as stored, a flipped byte is caught and renamed', async () => {
    const key = keyFromBytes(Buffer.alloc(32, 9));
    const didx = dynamicPlan([241, 242], undefined, key);
    const dir = await snapshot('crypt', T1, { didx });
    assert.equal((await verifySnapshot(s.path, dir, snapOpts())).result, 'ok');
    const hex = didx.chunks[0]!.hex;
    flipByte(chunkPath(hex));
    const r = await verifySnapshot(s.path, dir, snapOpts());
    assert.deepEqual(r.problems.map((p) => [p.digest, p.code]), [[hex, 'BULWARK_BAD_CRC']]);
    assert.deepEqual(badNames(hex), [`${hex}.0.bad`]);
  });

  test('an unencrypted chunk relabelled as encrypted (magic is outside the CRC) fails on crypt mode', async () => {
    const didx = dynamicPlan([251]);
    const dir = await snapshot('relabel', T1, { didx });
    const hex = didx.chunks[0]!.hex;
    const blob = readFileSync(chunkPath(hex));
    MAGIC_BLOB_ENCRYPTED_LZ4.copy(blob, 0);
    writeFileSync(chunkPath(hex), blob);
    const r = await verifySnapshot(s.path, dir, snapOpts());
    assert.equal(r.result, 'failed');
    assert.match(r.problems[0]!.message, /is encrypted, the manifest says crypt-mode none/);
  });

  test('a snapshot being written or removed (exclusive lock) is skipped and left untouched; an unfinished one fails', async () => {
    const dir = await snapshot('locked', T1, { didx: dynamicPlan([261]) });
    const lock = await lockSnapshot(s.path, dir, { exclusive: true });
    // A running backup holds it the same way.
    try {
      const c = counting();
      const r = await verifySnapshot(s.path, dir, snapOpts({ pool: c }));
      assert.equal(r.result, 'skipped');
      assert.equal(c.reads.length, 0);
      assert.equal(stateOf(dir), undefined);
    } finally {
      lock.release();
    }
    await assert.rejects(verifySnapshot(s.path, groupOf('locked').snapshot(T2), snapOpts()), { code: 'BULWARK_NOT_FOUND' });
    const unfinished = groupOf('locked').snapshot(T2);
    await createSnapshotDir(s.path, unfinished);
    const r = await verifySnapshot(s.path, unfinished, snapOpts());
    assert.deepEqual([r.result, r.problems.map((p) => p.code)], ['failed', ['BULWARK_NOT_FOUND']], 'no manifest: failed, as in PBS');
  });
});

describe('verify: jobs', () => {
  test('chunks shared by snapshots of different groups, or repeated in one index, are read once per job', async () => {
    await createNamespace(s.path, BackupNamespace.parse('shared'));
    await snapshot('a', T1, { didx: dynamicPlan([301, 301, 302, 303], [3000, 3000, 4000, 5000]) }, 'shared'); // 301 twice in one index
    await snapshot('b', T1, { didx: dynamicPlan([302, 303, 304], [4000, 5000, 6000]) }, 'shared');
    const c = counting();
    const totals = await verifyNamespace(s.path, 'shared', { pool: c, upid: newUpid(), now: s.clock.now });
    assert.equal(totals.ok, 2);
    assert.equal(c.reads.length, 4);
    assert.equal(new Set(c.reads).size, 4);
    assert.equal(totals.chunks, 4);
  });

  test('ignore-verified skips ok snapshots, outdated-after re-verifies old ones, failed ones are re-checked', async () => {
    const dir = await snapshot('filter', T1, { didx: dynamicPlan([401, 402]) });
    const group = groupOf('filter');
    const run = async (opts: { ignoreVerified?: boolean; outdatedAfterDays?: number }) => {
      const c = counting();
      const totals = await verifyGroup(s.path, group, { pool: c, upid: newUpid(), now: s.clock.now, ...opts });
      return { ok: totals.ok, skipped: totals.skipped, reads: c.reads.length };
    };
    assert.deepEqual(await run({ ignoreVerified: true }), { ok: 1, skipped: 0, reads: 2 }, 'never verified');
    assert.deepEqual(await run({ ignoreVerified: true }), { ok: 0, skipped: 1, reads: 0 });
    assert.deepEqual(await run({}), { ok: 1, skipped: 0, reads: 2 }, 'without ignore-verified everything is verified');
    s.clock.advance(DAY_MS + 1000);
    assert.deepEqual(await run({ ignoreVerified: true, outdatedAfterDays: 1 }), { ok: 0, skipped: 1, reads: 0 }, '1 whole day is not more than 1');
    s.clock.advance(DAY_MS);
    assert.deepEqual(await run({ ignoreVerified: true, outdatedAfterDays: 1 }), { ok: 1, skipped: 0, reads: 2 });
    updateUnprotected(manifestPath(s.path, dir), (u) => { u.verify_state = { state: 'failed', upid: newUpid() }; });
    assert.deepEqual(await run({ ignoreVerified: true }), { ok: 1, skipped: 0, reads: 2 }, 'a failed state is re-checked');
    await assert.rejects(verifyGroup(s.path, group, { pool, upid: newUpid(), outdatedAfterDays: -1 }), { code: 'BULWARK_INVALID_ARGUMENT' });
  });

  test('a state without time (as PBS writes it) is dated by its UPID start', () => {
    const upid = `UPID:node:00001234:00005678:00000001:${(NOW_S - 3 * 86400).toString(16).toUpperCase()}:verify:store:root@pam:`;
    const m = createManifest({ backupType: 'host', backupId: 'x', backupTime: T1, unprotected: { verify_state: { state: 'ok', upid } } });
    assert.equal(verifiedAt(m.unprotected.verify_state!), NOW_S - 3 * 86400);
    const now = () => NOW_S * 1000;
    assert.equal(shouldVerify(m, { ignoreVerified: true, outdatedAfterDays: 2, now }), true);
    assert.equal(shouldVerify(m, { ignoreVerified: true, outdatedAfterDays: 3, now }), false);
    assert.equal(shouldVerify(m, { ignoreVerified: true, now }), false);
  });

  test('an aborted verify throws BULWARK_ABORTED and leaves that snapshot without state; a re-run finishes correctly', async () => {
    const seeds = Array.from({ length: 12 }, (_, i) => 500 + i);
    const older = await snapshot('abort', T1, { didx: dynamicPlan(seeds) });
    const newer = await snapshot('abort', T2, { didx: dynamicPlan(seeds.map((x) => x + 100)) });
    const ac = new AbortController();
    const c = counting(pool, (n) => { if (n === 3) ac.abort(new Error('stop requested')); });
    await assert.rejects(verifyGroup(s.path, groupOf('abort'), { pool: c, upid: newUpid(), now: s.clock.now, signal: ac.signal }),
      { code: 'BULWARK_ABORTED' });
    assert.ok(c.reads.length < 12, 'stopped part-way through the first snapshot');
    assert.equal(stateOf(newer), undefined);
    assert.equal(stateOf(older), undefined);
    const totals = await verifyGroup(s.path, groupOf('abort'), { pool, upid: newUpid(), now: s.clock.now, ignoreVerified: true });
    assert.deepEqual([totals.ok, totals.failed, totals.chunks], [2, 0, 24]);
    assert.equal(stateOf(newer)?.state, 'ok');
    assert.equal(stateOf(older)?.state, 'ok');
  });
});

describe('VerifyPool', () => {
  test('verdicts: ok with sizes, missing, oversized file refused unread; bad digests are refused', async () => {
    const didx = dynamicPlan([601], [5000]);
    await snapshot('pool', T1, { didx });
    const hex = didx.chunks[0]!.hex;
    assert.deepEqual(await pool.check(hex), { status: 'ok', encrypted: false, size: didx.chunks[0]!.blob.length, rawSize: 5000 });
    assert.deepEqual(await pool.check('ab'.repeat(32)), { status: 'missing' });
    const big = makeChunk(602).hex;
    mkdirSync(join(s.path, '.chunks', big.slice(0, 4)), { recursive: true });
    writeFileSync(chunkPath(big), '');
    truncateSync(chunkPath(big), 17 * 1024 * 1024); // sparse: nothing to read if the size check works
    const v = await pool.check(big);
    assert.equal(v.status, 'corrupt');
    assert.equal(v.status === 'corrupt' && v.code, 'BULWARK_CHUNK_TOO_LARGE');
    await assert.rejects(pool.check('../../etc/passwd'), { code: 'BULWARK_INVALID_ARGUMENT' });
  });
});
