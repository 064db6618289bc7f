import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync, copyFileSync } from 'node:fs';
import { BackupGroup, BackupNamespace } from '../../datastore/backup-ref.ts';
import { lockGroup } from '../../datastore/locks.ts';
import { ResumeStore } from '../../datastore/resume-store.ts';
import {
  HOUR_MS, NOW_S, OTHER_OWNER, OWNER, TEST_SAFETY, backupStore, dynamicPlan,
} from '../helpers/backup-fixtures.ts';
import { removeDir, sparseStoreDir, tempDir } from '../helpers/chunk-fixtures.ts';
import { digestFor } from '../helpers/index-fixtures.ts';

const root = tempDir();
after(() => removeDir(root));

const web1 = new BackupGroup(BackupNamespace.root, 'host', 'web1');
const db1 = new BackupGroup(BackupNamespace.root, 'host', 'db1');
const nsWeb1 = new BackupGroup(BackupNamespace.parse('a'), 'host', 'web1');
const T0 = NOW_S * 1000;
const list = (...ids: number[]) => Buffer.concat(ids.map(digestFor));

function freshResume() {
  const path = sparseStoreDir(root);
  return { path, store: new ResumeStore(path, { safety: TEST_SAFETY }) };
}

describe('ResumeStore', () => {
  test('add then take returns the distinct digests in order; survives a new instance (server restart)', () => {
    const { path, store } = freshResume();
    const key = { group: web1, owner: OWNER };
    store.add(key, list(1, 2), T0);
    store.add(key, list(2, 3), T0 + 1000);
    assert.deepEqual(store.take(key, T0 + 2000), list(1, 2, 3));
    assert.deepEqual(store.take(key, T0 + 2000), list(1, 2, 3), 'reading does not consume');
    assert.deepEqual(new ResumeStore(path, { safety: TEST_SAFETY }).take(key, T0 + 3000), list(1, 2, 3));
  });

  test('never returns digests of another group, namespace or owner', () => {
    const { store } = freshResume();
    store.add({ group: web1, owner: OWNER }, list(1), T0);
    assert.equal(store.take({ group: web1, owner: OTHER_OWNER }, T0).length, 0);
    assert.equal(store.take({ group: db1, owner: OWNER }, T0).length, 0);
    assert.equal(store.take({ group: nsWeb1, owner: OWNER }, T0).length, 0);
  });

  test('a file under another key\'s name is not trusted (the key inside is compared)', () => {
    const { store } = freshResume();
    store.add({ group: web1, owner: OWNER }, list(1), T0);
    copyFileSync(store.pathOf({ group: web1, owner: OWNER }), store.pathOf({ group: db1, owner: OWNER }));
    assert.equal(store.take({ group: db1, owner: OWNER }, T0).length, 0);
    store.add({ group: db1, owner: OWNER }, list(2), T0); // and it is started over, not appended to
    assert.deepEqual(store.take({ group: db1, owner: OWNER }, T0), list(2));
  });

  test('entries expire per upload after the TTL, and expired ones are dropped from the file', () => {
    const { store } = freshResume();
    const key = { group: web1, owner: OWNER };
    store.add(key, list(1), T0);
    store.add(key, list(2), T0 + 20 * HOUR_MS);
    const size = statSync(store.pathOf(key)).size;
    assert.deepEqual(store.take(key, T0 + 24 * HOUR_MS - 1), list(1, 2));
    assert.deepEqual(store.take(key, T0 + 24 * HOUR_MS), list(2));
    assert.ok(statSync(store.pathOf(key)).size < size);
    assert.equal(store.take(key, T0 + 44 * HOUR_MS).length, 0);
    assert.equal(existsSync(store.pathOf(key)), false);
  });

  test('a torn last append is ignored by take and cut off by the next add', () => {
    const { store } = freshResume();
    const key = { group: web1, owner: OWNER };
    store.add(key, list(1), T0);
    store.add(key, list(2, 3), T0);
    const path = store.pathOf(key);
    truncateSync(path, statSync(path).size - 5); // a crash in the middle of the second append
    const fresh = new ResumeStore(store.storePath, { safety: TEST_SAFETY }); // after a restart
    fresh.add(key, list(4), T0);
    assert.deepEqual(fresh.take(key, T0), list(1, 4));
    appendFileSync(path, Buffer.alloc(30, 0xee)); // garbage after the last good segment
    assert.deepEqual(fresh.take(key, T0), list(1, 4));
    const bytes = readFileSync(path);
    bytes[bytes.length - 1]! ^= 1; // CRC catches a flipped digest bit
    writeFileSync(path, bytes);
    assert.deepEqual(fresh.take(key, T0), list(1));
  });

  test('clear forgets a key; sweep removes only fully expired files of unlocked groups', async () => {
    const { path, store } = freshResume();
    const a = { group: web1, owner: OWNER };
    const b = { group: db1, owner: OWNER };
    const c = { group: nsWeb1, owner: OWNER };
    store.add(a, list(1), T0);
    store.clear(a);
    assert.equal(store.take(a, T0).length, 0);
    store.clear(a); // idempotent
    store.add(a, list(1), T0);
    store.add(b, list(2), T0);
    store.add(c, list(3), T0 + 10 * HOUR_MS);
    const lock = await lockGroup(path, db1); // a backup of db1 is running
    assert.deepEqual(await store.sweep(T0 + 25 * HOUR_MS), { removed: 1 });
    lock.release();
    assert.equal(existsSync(store.pathOf(a)), false);
    assert.equal(existsSync(store.pathOf(b)), true);
    assert.equal(existsSync(store.pathOf(c)), true);
    assert.deepEqual(await store.sweep(T0 + 25 * HOUR_MS), { removed: 1 });
    assert.deepEqual(readdirSync(store.dir).length, 1);
  });

  test('digest lists must be n × 32 bytes', () => {
    const { store } = freshResume();
    assert.throws(() => store.add({ group: web1, owner: OWNER }, Buffer.alloc(33), T0), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => store.add({ group: web1, owner: 'nobody' }, Buffer.alloc(32), T0), { code: 'BULWARK_INVALID_NAME' });
  });
});

describe('resume through BackupWriter', () => {
  const T1 = NOW_S - 3600;
  const T2 = NOW_S - 1800;

  /** Session A of host/web1 uploads 3 chunks, then is aborted. */
  async function interrupted() {
    const s = backupStore(root);
    const plan = dynamicPlan([31, 32, 33]);
    const a = await s.start(T1);
    const wid = a.createIndex({ kind: 'dynamic', name: 'root.didx' });
    for (const c of plan.chunks) await a.insertChunk(wid, c.digest, c.data.length, c.blob);
    await a.abort('connection lost');
    return { s, plan };
  }

  test('the next session of the same group and owner gets the 3 digests and can append them without uploading', async () => {
    const { s, plan } = await interrupted();
    const b = await s.start(T2);
    assert.deepEqual(await b.resumeDigests(), plan.digests);
    const wid = b.createIndex({ kind: 'dynamic', name: 'root.didx' });
    b.append(wid, plan.digests, plan.offsets);
    b.closeIndex(wid, { count: 3, size: plan.size, csum: plan.csum });
    const { stats } = await b.finish();
    assert.equal(stats.chunksUploaded, 0);
    assert.equal(stats.knownChunks, 3);
    assert.equal(existsSync(s.resume.pathOf({ group: web1, owner: OWNER })), false, 'a finished backup clears the entry');
  });

  test('another group gets none', async () => {
    const { s } = await interrupted();
    const other = await s.start(T2, { id: 'db1' });
    assert.equal((await other.resumeDigests()).length, 0);
    await other.abort('test');
  });

  test('after the TTL (injected clock) none are offered', async () => {
    const { s } = await interrupted();
    s.clock.advance(25 * HOUR_MS);
    const b = await s.start(NOW_S + 25 * 3600);
    assert.equal((await b.resumeDigests()).length, 0);
    await b.abort('test');
  });

  test('a chunk removed meanwhile (as GC would) is not offered, nor known', async () => {
    const { s, plan } = await interrupted();
    await s.chunkStore.remove(plan.chunks[1]!.digest);
    const b = await s.start(T2);
    assert.deepEqual(await b.resumeDigests(), Buffer.concat([plan.chunks[0]!.digest, plan.chunks[2]!.digest]));
    const wid = b.createIndex({ kind: 'dynamic', name: 'root.didx' });
    assert.throws(() => b.append(wid, plan.digests, plan.offsets), { code: 'BULWARK_UNKNOWN_CHUNK' });
    await b.abort('test');
  });

  test('without a ResumeStore there is nothing to resume', async () => {
    const { s } = await interrupted();
    const b = await s.start(T2, { resume: undefined });
    assert.equal((await b.resumeDigests()).length, 0);
    await b.abort('test');
  });
});
