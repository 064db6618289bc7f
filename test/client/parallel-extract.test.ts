import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeDirEnd, encodeRecord, encodeTree } from '../../client/archive/encoder.ts';
import { extractArchive } from '../../client/archive/extract.ts';
import { ARCHIVE_MAGIC, type ArchiveWarning, SPLIT_META_MAGIC } from '../../client/archive/format.ts';
import { type PayloadSource, PayloadWriter, memoryPayloadSource } from '../../client/archive/payload.ts';
import type { ChunkedPayload, PayloadChunk } from '../../client/archive/range-content.ts';
import { bulwarkError } from '../../errors.ts';
import { BatchBuilder, type BuiltBatch, type WriteSettings } from '../../client/archive/write-batch.ts';
import { ChunkArena } from '../../client/chunk-arena.ts';
import { type BatchExecutor, InlineExecutor, type WriteRun, WritePool } from '../../client/archive/write-pool.ts';
import { collectPayload } from '../helpers/payload-fixtures.ts';
import { compareTrees, isRoot, makeFullTree, streamBytes } from '../helpers/tree-fixtures.ts';

let tmp: string;
let chunks: Buffer[];
let pool: WritePool;

const dirOf = (name: string) => path.join(tmp, name);
const SETTINGS: WriteSettings = { owner: false, precise: true, xattrs: true };

/** A payload in fixed-size chunks handed out directly, as RemotePayloadSource does (every other one through a promise). */
function chunkedPayload(buf: Buffer, size: number): ChunkedPayload {
  return {
    read: memoryPayloadSource(buf).read,
    chunkAt(offset: number): PayloadChunk | Promise<PayloadChunk> {
      if (offset < 0 || offset >= buf.length) throw bulwarkError('BULWARK_ARCHIVE_CORRUPT', 'payload', `offset ${offset} is outside`);
      const start = offset - (offset % size);
      const chunk = { start, data: buf.subarray(start, start + size) };
      return (start / size) % 2 === 0 ? chunk : Promise.resolve(chunk);
    },
  };
}

function runOf(builder: BatchBuilder, warnings: string[] = []): WriteRun {
  return { settings: SETTINGS, warn: (p, m) => warnings.push(`${p.toString()}: ${m}`), recycle: (d) => builder.recycle(d), release: (b) => builder.release(b) };
}

/** Submits everything built, as the extractor does: on a failure, the run is still finished before it rejects. */
async function runAll(exec: BatchExecutor, builder: BatchBuilder, run: WriteRun): Promise<BuiltBatch[]> {
  builder.flush();
  const batches = builder.takeReady();
  try {
    for (const b of batches) await exec.submit(b, run);
    await exec.finish();
  } catch (err) {
    await exec.finish().catch(() => {});
    throw err;
  }
  return batches;
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-'));
  fs.mkdirSync(dirOf('src'));
  await makeFullTree(dirOf('src'));
  chunks = [];
  for await (const b of encodeTree(dirOf('src'))) chunks.push(Buffer.from(b));
  pool = new WritePool(3, { depth: 2 });
});

after(async () => {
  await pool.close();
  execFileSync('chmod', ['-R', 'u+rwx', tmp]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('extract with a write pool', () => {
  test('restores the full tree exactly (hard links after their targets, read-only directories last)', async () => {
    const stats = await extractArchive(chunks, dirOf('pooled'), { writers: pool });
    assert.deepEqual(await compareTrees(dirOf('src'), dirOf('pooled')), []);
    const inline = await extractArchive(chunks, dirOf('inline'));
    assert.deepEqual(stats, inline);
  });

  test('modes the umask would change and owners a setgid target would change come out as archived', async () => {
    const src = dirOf('modes-src');
    fs.mkdirSync(`${src}/sub`, { recursive: true });
    for (const [name, mode] of [['ro', 0o444], ['group-writable', 0o664], ['world-writable', 0o666], ['none', 0o000]] as const) {
      fs.writeFileSync(`${src}/sub/${name}`, name);
      fs.chmodSync(`${src}/sub/${name}`, mode);
    }
    fs.symlinkSync('ro', `${src}/sub/link`);
    const parts: Buffer[] = [];
    for await (const b of encodeTree(src)) parts.push(Buffer.from(b));
    const dst = dirOf('modes-dst');
    fs.mkdirSync(dst);
    if (isRoot) {
      // New entries inside a setgid directory take its group: the restore must put the archived one back.
      fs.chownSync(dst, 0, 4321);
      fs.chmodSync(dst, 0o2755);
    }
    await extractArchive(parts, dst, { writers: pool });
    assert.deepEqual(await compareTrees(src, dst), []);
  });

  test('a pool it starts itself (writers: n) writes the same files', async () => {
    const stats = await extractArchive(chunks, dirOf('own-pool'), { writers: 2 });
    assert.ok(fs.readFileSync(dirOf('own-pool/big.bin')).equals(fs.readFileSync(dirOf('src/big.bin'))));
    assert.equal(fs.lstatSync(dirOf('own-pool/hard-b/three')).nlink, 3);
    assert.ok(stats.entries > 30);
  });

  test('skip-unchanged into the restored tree touches nothing and fixes what changed', async () => {
    const dst = dirOf('again');
    await extractArchive(chunks, dst, { writers: pool });
    const before = fs.lstatSync(`${dst}/big.bin`, { bigint: true });
    fs.writeFileSync(`${dst}/small.txt`, 'changed locally\n');
    fs.rmSync(`${dst}/hard-b/three`);
    const stats = await extractArchive(chunks, dst, { writers: pool, overwrite: 'skip-unchanged' });
    assert.equal(fs.lstatSync(`${dst}/big.bin`, { bigint: true }).ctimeNs, before.ctimeNs);
    assert.ok(stats.unchanged > 10);
    assert.deepEqual(await compareTrees(dirOf('src'), dst), []);
  });

  test('hostile names are refused, and the pool goes on working', async () => {
    const meta = { flags: 0, mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, xattrs: [] };
    const bad = Buffer.concat([
      ARCHIVE_MAGIC, encodeRecord({ kind: 'dir', name: Buffer.alloc(0), ...meta }),
      encodeRecord({ kind: 'dir', name: Buffer.from('..'), ...meta }),
      encodeRecord({ kind: 'symlink', name: Buffer.from('escaped'), ...meta, target: Buffer.from('x') }), encodeDirEnd(), encodeDirEnd(),
    ]);
    const dst = dirOf('hostile');
    await assert.rejects(extractArchive([bad], dst, { writers: pool }), { code: 'BULWARK_INVALID_NAME' });
    assert.deepEqual(fs.readdirSync(dst), []);
    assert.ok(!fs.existsSync(dirOf('escaped')));
    await extractArchive(chunks, dirOf('after-hostile'), { writers: pool, pattern: 'nested' });
    assert.equal(fs.readFileSync(dirOf('after-hostile/nested/a/b/c/deep.txt'), 'utf8'), 'deep\n');
  });

  test('an xattr the file system refuses is a warning naming the file', async () => {
    const meta = { flags: 0, mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n };
    const file = Buffer.concat([
      encodeRecord({ kind: 'file', name: Buffer.from('f'), ...meta, xattrs: [{ name: Buffer.from('bogus.ns'), value: Buffer.from('v') }], size: 2 }),
      Buffer.from([0x44, 2, 0, 0, 0]), Buffer.from('hi'), Buffer.from('E'),
    ]);
    const archive = Buffer.concat([ARCHIVE_MAGIC, encodeRecord({ kind: 'dir', name: Buffer.alloc(0), ...meta, xattrs: [] }), file, encodeDirEnd()]);
    const warnings: ArchiveWarning[] = [];
    await extractArchive([archive], dirOf('xattr-warn'), { writers: pool, onWarning: (w) => warnings.push(w) });
    assert.equal(fs.readFileSync(dirOf('xattr-warn/f'), 'utf8'), 'hi');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.path, 'f');
    assert.match(warnings[0]!.message, /xattr bogus\.ns/);
  });
});

describe('split archives: content read straight from payload ranges', () => {
  test('round trip, with segment headers split across payload pieces', async () => {
    const writer = new PayloadWriter();
    const collected = collectPayload(writer);
    const metaParts: Buffer[] = [];
    try {
      for await (const b of encodeTree(dirOf('src'), { payload: writer })) metaParts.push(Buffer.from(b));
    } finally {
      writer.end();
    }
    const payload = (await collected).bytes;
    const sources: [string, PayloadSource][] = [
      ['pieces of 997 bytes', memoryPayloadSource(payload, { pieceSize: 997 })],
      ['chunks of 1001 bytes', chunkedPayload(payload, 1001)],
      ['chunks of 1 MiB', chunkedPayload(payload, 1 << 20)],
    ];
    for (const [what, source] of sources) {
      const dst = dirOf(`split-${what.replaceAll(' ', '-')}`);
      await extractArchive(metaParts, dst, { writers: pool, payload: source });
      if (what === 'chunks of 1001 bytes') assert.deepEqual(await compareTrees(dirOf('src'), dst), []);
      else assert.ok(fs.readFileSync(`${dst}/big.bin`).equals(fs.readFileSync(dirOf('src/big.bin'))), what);
    }
  });

  test('content that does not match its reference is BULWARK_ARCHIVE_CORRUPT', async () => {
    const meta = (name: string) => ({ name: Buffer.from(name), flags: 0, mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, xattrs: [] });
    const ref = (size: number, payloadOffset: number, payloadLength: number) => encodeRecord({ kind: 'file', ...meta('a'), size, payloadOffset, payloadLength });
    const split = (record: Buffer) => Buffer.concat([SPLIT_META_MAGIC, encodeRecord({ kind: 'dir', ...meta('') }), record, encodeDirEnd()]);
    const abc = Buffer.concat([Buffer.from([0x44, 3, 0, 0, 0]), Buffer.from('abc'), Buffer.from('E')]);
    const hole = (n: bigint) => Buffer.concat([Buffer.from([0x48]), Buffer.from(new BigUint64Array([n]).buffer)]);
    const payload = Buffer.concat([abc, abc, Buffer.from([0x44, 0, 0, 0, 0, 0x45]), Buffer.from('XE'), hole(0n), Buffer.from('E')]);
    const cases: [string, Buffer][] = [
      ['segments add up to less than the size', split(ref(5, 0, 9))],
      ['segments add up to more than the size', split(ref(2, 0, 9))],
      ["range goes past the content's 'E'", split(ref(3, 0, 10))],
      ["range ends before the 'E'", split(ref(3, 0, 8))],
      ['range starts mid-content', split(ref(3, 1, 9))],
      ['range outside the payload', split(ref(3, 14, 30))],
      ['empty data segment', split(ref(0, 18, 6))],
      ['unknown segment', split(ref(0, 24, 2))],
      ['empty hole', split(ref(0, 26, 10))],
    ];
    const sources: [string, PayloadSource][] = [
      ['1-byte pieces', memoryPayloadSource(payload, { pieceSize: 1 })],
      ['one piece', memoryPayloadSource(payload)],
      ['2-byte chunks', chunkedPayload(payload, 2)],
      ['one chunk', chunkedPayload(payload, 1 << 20)],
    ];
    let n = 0;
    for (const [what, bytes] of cases) {
      for (const [how, source] of sources) {
        await assert.rejects(extractArchive([bytes], dirOf(`corrupt-${n++}`), { writers: pool, payload: source }), { code: 'BULWARK_ARCHIVE_CORRUPT' }, `${what}, ${how}`);
      }
    }
    for (const [how, source] of sources) {
      await extractArchive([split(ref(3, 9, 9))], dirOf(`control-${how}`), { writers: pool, payload: source });
      assert.equal(fs.readFileSync(dirOf(`control-${how}/a`), 'utf8'), 'abc', how);
    }
  });
});

describe('write batches', () => {
  test('a file bigger than a batch continues on the same worker; holes stay holes', async () => {
    const builder = new BatchBuilder(4096);
    const dst = dirOf('batches');
    fs.mkdirSync(dst);
    const big = streamBytes(7, 50_000);
    builder.beginFile(Buffer.from(`${dst}/big`), Buffer.from('big'));
    builder.write(0, big.subarray(0, 30_000));
    builder.write(1_000_000, big.subarray(30_000)); // a hole between
    builder.endFile({ size: 2_000_000, mode: 0o640, uid: 0, gid: 0, mtimeNs: 1_600_000_000_123_456_789n, xattrs: [] }, true);
    for (let i = 0; i < 40; i++) {
      builder.beginFile(Buffer.from(`${dst}/small-${i}`), Buffer.from(`small-${i}`));
      builder.write(0, Buffer.from(`file ${i}\n`));
      builder.endFile({ size: 6 + String(i).length, mode: 0o600, uid: 0, gid: 0, mtimeNs: 0n, xattrs: [] }, true);
    }
    builder.symlink(Buffer.from(`${dst}/link`), Buffer.from('link'), Buffer.from('big'), { uid: 0, gid: 0, mtimeNs: 5n });
    const batches = await runAll(pool, builder, runOf(builder));
    assert.ok(batches.length > 12 && batches.some((b) => b.batch.continues), `${batches.length} batches`);
    const got = fs.readFileSync(`${dst}/big`);
    assert.equal(got.length, 2_000_000);
    assert.ok(got.subarray(0, 30_000).equals(big.subarray(0, 30_000)));
    assert.ok(got.subarray(30_000, 1_000_000).equals(Buffer.alloc(970_000)));
    assert.ok(got.subarray(1_000_000, 1_020_000).equals(big.subarray(30_000)));
    const st = fs.statSync(`${dst}/big`, { bigint: true });
    assert.equal(st.mode & 0o7777n, 0o640n);
    assert.equal(st.mtimeNs, 1_600_000_000_123_456_789n);
    for (let i = 0; i < 40; i++) assert.equal(fs.readFileSync(`${dst}/small-${i}`, 'utf8'), `file ${i}\n`);
    assert.equal(fs.readlinkSync(`${dst}/link`), 'big');
    assert.equal(fs.lstatSync(`${dst}/link`, { bigint: true }).mtimeNs, 5n);
  });

  test('a failing op rejects with the fs error; the executor is clean for the next run', async () => {
    for (const exec of [pool, new InlineExecutor()]) {
      const builder = new BatchBuilder(4096);
      builder.beginFile(Buffer.from(dirOf('no/such/dir/file')), Buffer.from('no/such/dir/file'));
      builder.write(0, Buffer.alloc(10_000, 1)); // spans batches: the later ones meet a stopped run
      builder.endFile({ size: 10_000, mode: 0o600, uid: 0, gid: 0, mtimeNs: 0n, xattrs: [] }, true);
      await assert.rejects(runAll(exec, builder, runOf(builder)), { code: 'ENOENT', syscall: 'open' });
      const ok = new BatchBuilder(4096);
      ok.beginFile(Buffer.from(dirOf(`fine-${exec === pool ? 'pool' : 'inline'}`)), Buffer.from('fine'));
      ok.write(0, Buffer.from('fine'));
      ok.endFile({ size: 4, mode: 0o600, uid: 0, gid: 0, mtimeNs: 0n, xattrs: [] }, true);
      await runAll(exec, ok, runOf(ok));
      assert.equal(fs.readFileSync(dirOf(`fine-${exec === pool ? 'pool' : 'inline'}`), 'utf8'), 'fine');
    }
  });

  test('content in arena slots is written by reference: right bytes, and every slot reference comes back', async () => {
    for (const exec of [pool, new InlineExecutor()]) {
      const name = exec === pool ? 'pool' : 'inline';
      const arena = new ChunkArena();
      const builder = new BatchBuilder(4096, arena);
      const dst = dirOf(`refs-${name}`);
      fs.mkdirSync(dst);
      // Two "chunks" in slots, a file spanning both, small pieces copied, and enough referenced bytes to cut batches.
      const slots = [arena.acquire(3 * 1024 * 1024), arena.acquire(3 * 1024 * 1024)];
      const bytes = slots.map((s, i) => Buffer.from(s.sab, 0, 3 * 1024 * 1024).fill(0).fill(i + 1, 0, 2 * 1024 * 1024));
      streamBytes(11, 2 * 1024 * 1024).copy(bytes[0]!);
      const views = [bytes[0]!.subarray(100, 2_100_000), bytes[1]!.subarray(0, 1_500_000), bytes[1]!.subarray(1_500_000, 1_500_100)];
      builder.beginFile(Buffer.from(`${dst}/f`), Buffer.from('f'));
      let pos = 0;
      for (let round = 0; round < 6; round++) {
        for (const v of views) {
          builder.write(pos, v);
          pos += v.length;
        }
      }
      builder.endFile({ size: pos, mode: 0o600, uid: 0, gid: 0, mtimeNs: 0n, xattrs: [] }, true);
      const batches = await runAll(exec, builder, runOf(builder));
      assert.ok(batches.length >= 2 && batches.every((b) => b.batch.length < 4096), `${batches.length} small batches: the content went by reference`);
      const want = Buffer.concat(Array.from({ length: 6 }, () => Buffer.concat(views)));
      assert.ok(fs.readFileSync(`${dst}/f`).equals(want), name);
      assert.deepEqual(slots.map((s) => s.refs), [1, 1], `${name}: only the holder's reference is left`);
      for (const s of slots) arena.release(s);
      assert.equal(arena.acquire(3 * 1024 * 1024).sab, slots[0]!.sab, 'a freed slot is reused');
    }
  });

  test('bad pool sizes are refused', () => {
    assert.throws(() => new WritePool(0), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => new WritePool(1.5), { code: 'BULWARK_INVALID_ARGUMENT' });
  });
});
