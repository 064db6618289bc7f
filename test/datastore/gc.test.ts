import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackupGroup, BackupNamespace } from '../../datastore/backup-ref.ts';
import { ChunkStore } from '../../datastore/chunk-store.ts';
import { DynamicIndexWriter } from '../../datastore/dynamic-index.ts';
import { FixedIndexWriter } from '../../datastore/fixed-index.ts';
import { gcCutoff, runGarbageCollection, type GcOptions } from '../../datastore/gc.ts';
import { TouchedSet } from '../../datastore/gc-mark.ts';
import { dedupFactor, formatGcBytes, gcStatusToApi } from '../../datastore/gc-stats.ts';
import { GC_ASIDE_SUFFIX, removeIfStillUnused } from '../../datastore/gc-sweep.ts';
import { lockStoreJob } from '../../datastore/locks.ts';
import { SAFETY_FULL, SAFETY_NONE } from '../../datastore/safety.ts';
import { registerWriter } from '../../datastore/writers.ts';
import { isBulwarkError, type ErrorCode } from '../../errors.ts';
import { fakeClock, makeChunk, removeDir, sparseStoreDir, tmpfsTempDir, type TestChunk } from '../helpers/chunk-fixtures.ts';

const root = tmpfsTempDir();
after(() => removeDir(root));

const T0 = 1_700_000_000_000;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
let seed = 0;

// ── fixtures ───────────────────────────────────────────────────────────────

const chunkPath = (store: string, hex: string) => join(store, '.chunks', hex.slice(0, 4), hex);
const atimeOf = (path: string) => statSync(path).atimeMs;
const setAtime = (path: string, ms: number) => utimesSync(path, ms / 1000, ms / 1000);

/** A stored chunk whose atime (and mtime) is `atimeMs`. */
async function putChunk(store: string, atimeMs: number): Promise<TestChunk> {
  const c = makeChunk(++seed, 512);
  await ChunkStore.open(store, { sync: 'none' }).insertChunk(c.digest, c.blob);
  setAtime(chunkPath(store, c.hex), atimeMs);
  return c;
}

/** `<store>[/ns/..]/<type>/<id>/<time>/`, with a manifest when finished. */
function snapshotDir(store: string, opts: { ns?: string[]; group?: string; time?: string; finished?: boolean } = {}): string {
  const nsParts = (opts.ns ?? []).flatMap((n) => ['ns', n]);
  const dir = join(store, ...nsParts, ...(opts.group ?? 'host/a').split('/'), opts.time ?? '2023-11-14T22:00:00Z');
  mkdirSync(dir, { recursive: true });
  if (opts.finished ?? true) writeFileSync(join(dir, 'index.json.blob'), 'manifest');
  return dir;
}

/** A dynamic index with one 100-byte chunk per digest; returns its data size. */
function writeDidx(path: string, chunks: readonly TestChunk[]): number {
  const w = DynamicIndexWriter.create(path, { fsync: false });
  chunks.forEach((c, i) => w.append((i + 1) * 100, c.digest));
  return w.close().size;
}

function writeFidx(path: string, chunks: readonly TestChunk[], chunkSize = 4096): number {
  const size = chunks.length * chunkSize;
  const w = FixedIndexWriter.create(path, { size, chunkSize, fsync: false });
  for (const c of chunks) w.append(c.digest);
  w.close();
  return size;
}

function newStore(): string {
  return sparseStoreDir(root);
}

/** SAFETY_NONE, the clock stopped at T0, log lines collected into `lines`. */
function gcOpts({ lines = [], ...extra }: GcOptions & { lines?: string[] } = {}): GcOptions {
  return { safety: SAFETY_NONE, now: fakeClock(T0).now, log: (l) => lines.push(l), ...extra };
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isBulwarkError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
}

// ── runGarbageCollection ───────────────────────────────────────────────────

describe('runGarbageCollection', () => {
  test('referenced chunks survive and are touched, old garbage goes, recent garbage is pending; statistics exact', async () => {
    const store = newStore();
    const old = T0 - 10 * DAY;
    const [a, b, garbage] = [await putChunk(store, old), await putChunk(store, old), await putChunk(store, old)];
    const recent = await putChunk(store, T0 - HOUR);
    const didxBytes = writeDidx(join(snapshotDir(store), 'root.pxar.didx'), [a, b, a]);
    const fidxBytes = writeFidx(join(snapshotDir(store, { group: 'vm/100' }), 'drive-scsi0.img.fidx'), [b]);
    const size = (c: TestChunk) => c.blob.length;
    const lines: string[] = [];

    const s = await runGarbageCollection(store, gcOpts({ safety: SAFETY_FULL, lines }));

    assert.ok(existsSync(chunkPath(store, a.hex)) && existsSync(chunkPath(store, b.hex)));
    assert.equal(atimeOf(chunkPath(store, a.hex)), T0, 'marked with the injected clock');
    assert.equal(existsSync(chunkPath(store, garbage.hex)), false);
    assert.equal(atimeOf(chunkPath(store, recent.hex)), T0 - HOUR, 'pending chunk kept, not touched');
    assert.deepEqual({ ...s, durationMs: 0 }, {
      indexFileCount: 2, indexDataBytes: didxBytes + fidxBytes,
      diskChunks: 2, diskBytes: size(a) + size(b),
      removedChunks: 1, removedBytes: size(garbage),
      pendingChunks: 1, pendingBytes: size(recent),
      removedBad: 0, stillBad: 0, missingChunks: 0,
      startedAt: T0, cutoff: T0 - DAY - 5 * MIN, durationMs: 0,
      dedupFactor: (didxBytes + fidxBytes) / (size(a) + size(b)),
    });
    assert.deepEqual(Object.keys(gcStatusToApi(s, 'UPID:x')), [
      'upid', 'index-file-count', 'index-data-bytes', 'disk-bytes', 'disk-chunks', 'removed-bytes', 'removed-chunks',
      'pending-bytes', 'pending-chunks', 'removed-bad', 'still-bad',
    ]);
    assert.equal(gcStatusToApi(s)['index-data-bytes'], didxBytes + fidxBytes);
    for (const want of ['Start GC phase1 (mark used chunks)', 'marked 100% (2 of 2 index files)', 'Start GC phase2 (sweep unused chunks)', 'Removed chunks: 1']) {
      assert.ok(lines.includes(want), `log has "${want}"`);
    }
  });

  test('with no grace at all, a chunk marked in the millisecond of the cutoff survives the µs truncation of utimes', async () => {
    const store = newStore();
    const used = await putChunk(store, T0 - DAY);
    writeDidx(join(snapshotDir(store), 'root.pxar.didx'), [used]);
    const at = T0 + 123; // not a whole second: reads back as 122.999 ms
    const s = await runGarbageCollection(store, gcOpts({ now: () => at }));
    assert.equal(s.cutoff, at);
    assert.ok(existsSync(chunkPath(store, used.hex)));
    assert.deepEqual([s.removedChunks, s.diskChunks], [0, 1]);
  });

  test('chunks of nested namespaces, unfinished snapshots and stray index files survive', async () => {
    const store = newStore();
    const old = T0 - 10 * DAY;
    const [deep, unfinished, stray, garbage] = [await putChunk(store, old), await putChunk(store, old), await putChunk(store, old), await putChunk(store, old)];
    writeDidx(join(snapshotDir(store, { ns: ['a', 'b', 'c'], group: 'ct/7' }), 'root.pxar.didx'), [deep]);
    writeDidx(join(snapshotDir(store, { finished: false }), 'root.pxar.didx'), [unfinished]);
    mkdirSync(join(store, 'moved-aside'));
    writeDidx(join(store, 'moved-aside', 'old.didx'), [stray]);
    const lines: string[] = [];

    const s = await runGarbageCollection(store, gcOpts({ lines }));

    for (const c of [deep, unfinished, stray]) assert.ok(existsSync(chunkPath(store, c.hex)), `${c.hex} kept`);
    assert.equal(existsSync(chunkPath(store, garbage.hex)), false);
    assert.equal(s.indexFileCount, 3);
    assert.ok(lines.includes('found (and marked) 1 index files outside of expected directory scheme'));
  });

  test('a running backup moves the cutoff back, so chunks it uploaded but has not indexed yet survive', async () => {
    const store = newStore();
    const writerStart = T0 - 3 * DAY;
    const uploaded = await putChunk(store, T0 - 2 * DAY); // after the writer started, older than 24 h
    const before = await putChunk(store, writerStart - 6 * MIN); // older than the writer and the slack
    const writer = await registerWriter(store, { group: new BackupGroup(BackupNamespace.root, 'host', 'w'), startedAt: writerStart });
    let s;
    try {
      s = await runGarbageCollection(store, gcOpts({ safety: SAFETY_FULL }));
    } finally {
      writer.release();
    }
    assert.equal(s.cutoff, gcCutoff(T0, writerStart, SAFETY_FULL));
    assert.equal(s.cutoff, writerStart - 5 * MIN);
    assert.ok(existsSync(chunkPath(store, uploaded.hex)), 'writer chunk kept');
    assert.equal(existsSync(chunkPath(store, before.hex)), false);
    assert.equal(s.diskChunks, 1, 'in use by the writer, not pending (PBS)');
    // Once the writer is gone, the next GC removes it.
    const again = await runGarbageCollection(store, gcOpts({ safety: SAFETY_FULL }));
    assert.equal(again.removedChunks, 1);
    assert.equal(existsSync(chunkPath(store, uploaded.hex)), false);
  });

  test('an old unreferenced chunk that a backup reuses after the mark phase survives the sweep', async () => {
    const store = newStore();
    const reused = await putChunk(store, T0 - 10 * DAY);
    const opts = gcOpts({ safety: SAFETY_FULL });
    const s = await runGarbageCollection(store, {
      ...opts,
      // A backup started after phase 1 finds the chunk on disk and touches it (insertChunk's dedup path).
      onPhase: (phase) => { if (phase === 'sweep') setAtime(chunkPath(store, reused.hex), T0 + MIN); },
    });
    assert.ok(existsSync(chunkPath(store, reused.hex)));
    assert.equal(s.removedChunks, 0);
    assert.equal(s.diskChunks, 1);
  });

  test('a second GC on the same store fails at once with BULWARK_LOCKED', async () => {
    const store = newStore();
    await putChunk(store, T0 - DAY);
    const first = runGarbageCollection(store, gcOpts());
    await rejectsWith(runGarbageCollection(store, gcOpts()), 'BULWARK_LOCKED');
    await first;
    const held = await lockStoreJob(store, 'gc');
    try {
      await rejectsWith(runGarbageCollection(store, gcOpts()), 'BULWARK_LOCKED');
    } finally {
      held.release();
    }
    await runGarbageCollection(store, gcOpts()); // free again
  });

  test('an aborted GC can be re-run and ends in the correct state', async () => {
    const store = newStore();
    const old = T0 - 10 * DAY;
    const kept: TestChunk[] = [];
    const garbage: TestChunk[] = [];
    for (let i = 0; i < 12; i++) {
      kept.push(await putChunk(store, old));
      garbage.push(await putChunk(store, old));
    }
    writeDidx(join(snapshotDir(store), 'root.pxar.didx'), kept);

    const ac = new AbortController();
    let sweptDirs = 0;
    await rejectsWith(runGarbageCollection(store, gcOpts({
      signal: ac.signal,
      onProgress: (p) => { if (p.phase === 'sweep' && ++sweptDirs === 12) ac.abort(); },
    })), 'BULWARK_ABORTED');
    const left = garbage.filter((c) => existsSync(chunkPath(store, c.hex))).length;
    assert.ok(left > 0 && left < garbage.length, `interrupted half-way (${left} garbage chunks left)`);

    const s = await runGarbageCollection(store, gcOpts());
    assert.equal(s.removedChunks, left);
    assert.equal(s.diskChunks, kept.length);
    for (const c of kept) assert.ok(existsSync(chunkPath(store, c.hex)));
    for (const c of garbage) assert.equal(existsSync(chunkPath(store, c.hex)), false);
  });

  test('an abort during mark removes nothing', async () => {
    const store = newStore();
    const garbage = await putChunk(store, T0 - 10 * DAY);
    const ac = new AbortController();
    ac.abort(new Error('shutting down'));
    await rejectsWith(runGarbageCollection(store, gcOpts({ signal: ac.signal })), 'BULWARK_ABORTED');
    const ac2 = new AbortController();
    await rejectsWith(runGarbageCollection(store, gcOpts({ signal: ac2.signal, onPhase: (phase) => { if (phase === 'mark') ac2.abort(); } })), 'BULWARK_ABORTED');
    assert.ok(existsSync(chunkPath(store, garbage.hex)));
  });

  test('a missing chunk is a warning, keeps its .bad copy, and GC completes', async () => {
    const store = newStore();
    const present = await putChunk(store, T0 - 10 * DAY);
    const lost = await putChunk(store, T0 - 10 * DAY);
    await ChunkStore.open(store).markBad(lost.digest); // verify found it corrupt
    const badPath = join(store, '.chunks', lost.hex.slice(0, 4), `${lost.hex}.0.bad`);
    setAtime(badPath, T0 - 10 * DAY);
    const index = join(snapshotDir(store), 'root.pxar.didx');
    writeDidx(index, [present, lost]);
    const lines: string[] = [];

    const s = await runGarbageCollection(store, gcOpts({ lines }));

    assert.ok(lines.includes(`warning: unable to access non-existent chunk ${lost.hex}, required by ${index}`));
    assert.equal(s.missingChunks, 1);
    assert.equal(s.stillBad, 1);
    assert.equal(atimeOf(badPath), T0, 'the .bad copy is touched while an index needs it');
    assert.ok(existsSync(chunkPath(store, present.hex)));
  });

  for (const [name, damage, code] of [
    ['a flipped digest byte', (b: Buffer) => { b[4096 + 8]! ^= 1; }, 'BULWARK_INDEX_CHECKSUM'],
    ['a partial entry', (b: Buffer) => b.subarray(0, b.length - 3), 'BULWARK_INDEX_CORRUPT'],
    ['a short header', (b: Buffer) => b.subarray(0, 100), 'BULWARK_TRUNCATED'],
    ['an unknown magic', (b: Buffer) => { b[0]! ^= 0xff; }, 'BULWARK_BAD_MAGIC'],
  ] as const) {
    test(`an index with ${name} stops GC with ${code} and nothing is removed`, async () => {
      const store = newStore();
      const used = await putChunk(store, T0 - 10 * DAY);
      const garbage = await putChunk(store, T0 - 10 * DAY);
      const path = join(snapshotDir(store), 'root.pxar.didx');
      writeDidx(path, [used]);
      const bytes = readFileSync(path);
      writeFileSync(path, damage(bytes) ?? bytes);
      await rejectsWith(runGarbageCollection(store, gcOpts()), code);
      assert.ok(existsSync(chunkPath(store, garbage.hex)) && existsSync(chunkPath(store, used.hex)));
      await rejectsWith(runGarbageCollection(store, gcOpts()), code); // again: the lock was released
    });
  }

  test('.bad copies go once a good copy exists or nothing needs them; stale temp files go', async () => {
    const store = newStore();
    const old = T0 - 10 * DAY;
    const healed = await putChunk(store, old);
    const orphan = await putChunk(store, old);
    const chunks = ChunkStore.open(store, { sync: 'none' });
    for (const c of [healed, orphan]) await chunks.markBad(c.digest);
    await chunks.insertChunk(healed.digest, healed.blob); // a later backup uploads a good copy again
    const dir = (hex: string) => join(store, '.chunks', hex.slice(0, 4));
    for (const c of [healed, orphan]) setAtime(join(dir(c.hex), `${c.hex}.0.bad`), old);
    writeDidx(join(snapshotDir(store), 'root.pxar.didx'), [healed]);
    const staleTmp = join(dir(healed.hex), `.${healed.hex}.1.abc.tmp`);
    const freshTmp = join(dir(healed.hex), `.${healed.hex}.2.def.tmp`);
    writeFileSync(staleTmp, 'x');
    writeFileSync(freshTmp, 'x');
    setAtime(staleTmp, old);
    setAtime(freshTmp, T0);

    const s = await runGarbageCollection(store, gcOpts());

    assert.equal(s.removedBad, 2);
    assert.equal(s.stillBad, 0);
    assert.equal(s.removedChunks, 0);
    assert.equal(s.removedBytes, healed.blob.length + orphan.blob.length);
    assert.equal(existsSync(join(dir(healed.hex), `${healed.hex}.0.bad`)), false);
    assert.equal(existsSync(join(dir(orphan.hex), `${orphan.hex}.0.bad`)), false);
    assert.ok(existsSync(chunkPath(store, healed.hex)));
    assert.equal(existsSync(staleTmp), false);
    assert.ok(existsSync(freshTmp));
  });

  test('a GC of a path without .chunks is BULWARK_NOT_FOUND', async () => {
    await rejectsWith(runGarbageCollection(join(root, 'nope'), gcOpts()), 'BULWARK_NOT_FOUND');
  });
});

// ── the sweep's race guard and leftovers ───────────────────────────────────

describe('sweep removal', () => {
  test('a chunk touched after the sweep first looked at it is linked back, not removed', async () => {
    const store = newStore();
    const c = await putChunk(store, T0); // "touched" just now by a backup
    const dir = join(store, '.chunks', c.hex.slice(0, 4));
    const r = removeIfStillUnused(dir, c.hex, T0 - DAY);
    assert.equal(r.outcome, 'kept');
    assert.ok(existsSync(chunkPath(store, c.hex)));
    assert.equal(existsSync(join(dir, `.${c.hex}${GC_ASIDE_SUFFIX}`)), false);
    assert.deepEqual(removeIfStillUnused(dir, c.hex, T0 + 1), { outcome: 'removed', size: c.blob.length });
    assert.deepEqual(removeIfStillUnused(dir, c.hex, T0 + 1), { outcome: 'gone' });
  });

  test('aside files a crash left behind are settled by the same atime rule', async () => {
    const store = newStore();
    const fresh = await putChunk(store, T0 - HOUR);
    const stale = await putChunk(store, T0 - 10 * DAY);
    for (const c of [fresh, stale]) {
      const dir = join(store, '.chunks', c.hex.slice(0, 4));
      writeFileSync(join(dir, `.${c.hex}${GC_ASIDE_SUFFIX}`), c.blob);
      setAtime(join(dir, `.${c.hex}${GC_ASIDE_SUFFIX}`), c === fresh ? T0 - HOUR : T0 - 10 * DAY);
      // The crash happened between rename and unlink: the chunk name is gone.
      await ChunkStore.open(store).remove(c.digest);
    }
    const s = await runGarbageCollection(store, gcOpts({ safety: SAFETY_FULL }));
    assert.ok(existsSync(chunkPath(store, fresh.hex)), 'restored');
    assert.equal(existsSync(chunkPath(store, stale.hex)), false);
    assert.equal(s.removedChunks, 1);
    assert.equal(s.pendingChunks, 1);
  });
});

// ── pieces ─────────────────────────────────────────────────────────────────

describe('TouchedSet', () => {
  test('remembers exact digests, evicts the least recently used way, never mistakes the zero digest', () => {
    const set = new TouchedSet(4); // 2 sets × 2 ways
    const d = (fill: number, setNo: number) => {
      const b = Buffer.alloc(32, fill);
      b.writeUInt32LE(setNo, 4);
      return b;
    };
    assert.equal(set.has(Buffer.alloc(32), 0), false);
    const [a, b, c] = [d(1, 1), d(2, 1), d(3, 3)]; // 3 & 1: all in set 1
    set.add(a, 0);
    assert.equal(set.has(b, 0), false, 'same set, other digest');
    set.add(b, 0);
    assert.ok(set.has(b, 0) && set.has(a, 0)); // a is now the recent one
    set.add(c, 0);
    assert.deepEqual([set.has(a, 0), set.has(b, 0), set.has(c, 0)], [true, false, true]);
    const framed = Buffer.concat([Buffer.alloc(8), d(4, 0)]);
    set.add(framed, 8);
    assert.ok(set.has(d(4, 0), 0));
    assert.equal(set.bytes, 4 * 32 + 4 + 2);
  });

  test('refuses a size that is not a power of two', () => {
    assert.throws(() => new TouchedSet(3), (err: unknown) => isBulwarkError(err, 'BULWARK_INVALID_ARGUMENT'));
    assert.throws(() => new TouchedSet(1), (err: unknown) => isBulwarkError(err, 'BULWARK_INVALID_ARGUMENT'));
  });
});

describe('gc statistics', () => {
  test('dedup factor, cutoff and byte formatting', () => {
    assert.equal(dedupFactor(300, 100), 3);
    assert.equal(dedupFactor(300, 0), 1);
    assert.equal(gcCutoff(T0, undefined, SAFETY_FULL), T0 - DAY - 5 * MIN);
    assert.equal(gcCutoff(T0, T0 - 2 * DAY, SAFETY_FULL), T0 - 2 * DAY - 5 * MIN);
    assert.equal(gcCutoff(T0, T0 - HOUR, SAFETY_NONE), T0 - HOUR);
    assert.equal(formatGcBytes(512), '512 B');
    assert.equal(formatGcBytes(1536), '1.5 KiB');
    assert.equal(formatGcBytes(3 * 1024 ** 3), '3 GiB');
  });
});
