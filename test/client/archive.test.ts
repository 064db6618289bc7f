import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { isBulwarkError } from '../../errors.ts';
import type { CatalogEntry } from '../../client/archive/catalog.ts';
import { type ArchiveEntry, decodeArchive } from '../../client/archive/decoder.ts';
import { encodeDirEnd, encodeRecord, encodeTree, type EncodeOptions } from '../../client/archive/encoder.ts';
import { extractArchive, extractSingleFile } from '../../client/archive/extract.ts';
import { ARCHIVE_MAGIC, type ArchiveWarning, KIND_CODES } from '../../client/archive/format.ts';
import {
  type FullTree, INVALID_UTF8_NAME, LONG_NAME, PRECISE_MTIME_NS, SPARSE_SIZE, compareTrees, makeFullTree, streamBytes, xattrOf,
} from '../helpers/tree-fixtures.ts';

let tmp: string;
let tree: FullTree;
let stream: Buffer;
let chunks: Buffer[];
let catalog: CatalogEntry[];
let warnings: ArchiveWarning[];

async function encode(root: string, opts: EncodeOptions = {}) {
  const entries: CatalogEntry[] = [];
  const warns: ArchiveWarning[] = [];
  const parts: Buffer[] = [];
  for await (const b of encodeTree(root, { onEntry: (e) => entries.push(e), onWarning: (w) => warns.push(w), ...opts })) parts.push(b);
  return { parts, stream: Buffer.concat(parts), entries, warnings: warns };
}

async function decodeAll(source: Iterable<Uint8Array>): Promise<ArchiveEntry[]> {
  const out: ArchiveEntry[] = [];
  for await (const e of decodeArchive(source)) {
    out.push(e);
    if (e.kind === 'file') for await (const _ of e.content());
  }
  return out;
}

const dirOf = (name: string) => path.join(tmp, name);
const entry = (rel: string) => catalog.find((e) => e.path.toString('utf8') === rel)!;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-'));
  fs.mkdirSync(dirOf('src'));
  tree = await makeFullTree(dirOf('src'));
  ({ stream, parts: chunks, entries: catalog, warnings } = await encode(dirOf('src')));
});

after(() => {
  execFileSync('chmod', ['-R', 'u+rwx', tmp]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('round trip', () => {
  test('restores every kind of entry exactly (content, modes, owners, ns mtimes, links, xattrs)', async () => {
    assert.deepEqual(warnings, []);
    const stats = await extractArchive(chunks, dirOf('full'));
    assert.deepEqual(await compareTrees(dirOf('src'), dirOf('full')), []);
    assert.equal(stats.unchanged, 0);
    const dst = dirOf('full');
    assert.equal(fs.lstatSync(`${dst}/precise.txt`, { bigint: true }).mtimeNs, PRECISE_MTIME_NS);
    assert.equal(fs.readFileSync(Buffer.from(`${dst}/odd/${LONG_NAME}`), 'utf8'), 'long\n');
    assert.equal(fs.readFileSync(Buffer.concat([Buffer.from(`${dst}/odd/`), INVALID_UTF8_NAME]), 'utf8'), 'not utf8\n');
    assert.equal(fs.lstatSync(`${dst}/hard-b/three`).nlink, 3);
    assert.equal(fs.lstatSync(`${dst}/hard-b/three`).ino, fs.lstatSync(`${dst}/hard-a/one`).ino);
    assert.ok(fs.lstatSync(`${dst}/fifo`).isFIFO());
    assert.equal(fs.readlinkSync(`${dst}/links/dangling`), 'does/not/exist');
    assert.equal(fs.lstatSync(`${dst}/modes/setuid`).mode & 0o7777, 0o4755);
    assert.equal(fs.lstatSync(`${dst}/modes/sticky`).mode & 0o7777, 0o1777);
    if (tree.device) assert.ok(fs.lstatSync(`${dst}/null-dev`).isCharacterDevice());
    if (tree.xattrs) {
      assert.deepEqual(await xattrOf(`${dst}/small.txt`, 'user.binary'), Buffer.from([0, 1, 2, 255]));
      assert.equal((await xattrOf(`${dst}/nested`, 'user.dir'))?.toString(), 'dir value');
    }
  });

  test('the same tree always encodes to the same bytes, in ~1 MiB buffers', async () => {
    const again = await encode(dirOf('src'));
    assert.ok(again.stream.equals(stream));
    assert.ok(chunks.slice(0, -1).every((b) => b.length === 1024 * 1024));
  });

  test('a 100 MB sparse file costs little in the stream and stays sparse on restore', async () => {
    const e = entry('sparse.img');
    assert.equal(e.size, SPARSE_SIZE);
    assert.ok(e.end - e.offset < 100_000, `entry takes ${e.end - e.offset} bytes`);
    const st = fs.statSync(`${dirOf('full')}/sparse.img`);
    assert.equal(st.size, SPARSE_SIZE);
    assert.ok(st.blocks * 512 < 1024 * 1024, `${st.blocks} blocks allocated`);
  });

  test('the catalog records every entry with its byte range, in archive order', async () => {
    const decoded = (await decodeAll(chunks)).filter((e) => e.kind !== 'dir-end');
    assert.deepEqual(catalog.map((e) => e.path.toString('hex')), decoded.map((e) => e.path.toString('hex')));
    assert.deepEqual(catalog.map((e) => e.offset), decoded.map((e) => e.offset));
    const big = entry('big.bin');
    assert.equal(big.size, 5_000_000);
    assert.ok(big.file && big.file.ino > 0n && big.file.ctimeNs > 0n);
    assert.ok(big.end - big.offset > 5_000_000);
    assert.equal(entry('hard-a/two').kind, 'hardlink');
    assert.equal(entry('hard-a/two').target?.toString(), 'hard-a/one');
  });

  test('extractSingleFile streams one file, from the whole stream or from its catalog offset', async () => {
    const sink = () => {
      const parts: Buffer[] = [];
      return { parts, w: new Writable({ write: (c, _e, cb) => (parts.push(c), cb()) }) };
    };
    const a = sink();
    assert.deepEqual(await extractSingleFile(chunks, 'nested/a/b/c/deep.txt', a.w), { size: 5 });
    assert.equal(Buffer.concat(a.parts).toString(), 'deep\n');
    const big = entry('big.bin');
    const b = sink();
    await extractSingleFile([stream.subarray(big.offset, big.end + 1000)], 'big.bin', b.w, { startsAtEntry: true });
    assert.ok(Buffer.concat(b.parts).equals(streamBytes(1, 5_000_000)));
    const s = sink();
    await extractSingleFile(chunks, 'sparse.img', s.w);
    assert.equal(Buffer.concat(s.parts).length, SPARSE_SIZE);
    await assert.rejects(extractSingleFile(chunks, 'hard-a/two', sink().w), { code: 'BULWARK_INVALID_ARGUMENT' });
    await assert.rejects(extractSingleFile(chunks, 'links', sink().w), { code: 'BULWARK_INVALID_ARGUMENT' });
    await assert.rejects(extractSingleFile(chunks, 'no/such', sink().w), { code: 'BULWARK_NOT_FOUND' });
  });
});

describe('encoder options', () => {
  test('excluded globs leave out files and whole subtrees', async () => {
    const { entries } = await encode(dirOf('src'), { exclude: ['*.bin', 'nested/a/b', '/odd'] });
    const paths = entries.map((e) => e.path.toString('utf8'));
    assert.ok(paths.includes('nested/a/sibling.txt'));
    assert.ok(paths.includes('small.txt'));
    assert.ok(!paths.some((p) => p.endsWith('.bin') || p.startsWith('nested/a/b') || p.startsWith('odd')), paths.join('\n'));
  });

  test('sockets are skipped with a warning', async () => {
    const root = dirOf('with-socket');
    fs.mkdirSync(root);
    fs.writeFileSync(`${root}/file`, 'x');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(`${root}/sock`, resolve));
    try {
      const r = await encode(root);
      assert.deepEqual(r.entries.map((e) => e.path.toString()), ['', 'file']);
      assert.equal(r.warnings.length, 1);
      assert.match(r.warnings[0]!.message, /socket/);
      assert.equal(r.warnings[0]!.path, 'sock');
    } finally {
      server.close();
    }
  });
});

describe('extract modes', () => {
  test("skip-unchanged leaves an unchanged file's inode and ctime alone and fixes changed ones", async () => {
    const dst = dirOf('skip');
    await extractArchive(chunks, dst);
    const before = fs.lstatSync(`${dst}/big.bin`, { bigint: true });
    fs.writeFileSync(`${dst}/small.txt`, 'changed locally, longer than before\n');
    fs.rmSync(`${dst}/nested/a/sibling.txt`);
    const stats = await extractArchive(chunks, dst, { overwrite: 'skip-unchanged' });
    const after = fs.lstatSync(`${dst}/big.bin`, { bigint: true });
    assert.equal(after.ino, before.ino);
    assert.equal(after.ctimeNs, before.ctimeNs);
    assert.ok(stats.unchanged > 10);
    assert.deepEqual(await compareTrees(dirOf('src'), dst), []);
    await extractArchive(chunks, dst, { overwrite: 'always' });
    assert.notEqual(fs.lstatSync(`${dst}/big.bin`, { bigint: true }).ctimeNs, before.ctimeNs, "'always' rewrites");
    assert.deepEqual(await compareTrees(dirOf('src'), dst), []);
  });

  test('a pattern restores only matching entries (and the directories leading to them)', async () => {
    const dst = dirOf('pattern');
    await extractArchive(chunks, dst, { pattern: 'nested/**/deep.txt' });
    const all = execFileSync('find', ['.'], { cwd: dst, encoding: 'utf8' }).trim().split('\n').sort();
    assert.deepEqual(all, ['.', './nested', './nested/a', './nested/a/b', './nested/a/b/c', './nested/a/b/c/deep.txt']);
    assert.equal(fs.lstatSync(`${dst}/nested/a/b`, { bigint: true }).mtimeNs, fs.lstatSync(`${dirOf('src')}/nested/a/b`, { bigint: true }).mtimeNs);
    const odd = dirOf('pattern-odd');
    await extractArchive(chunks, odd, { pattern: 'odd' });
    assert.equal(fs.readdirSync(odd).join(), 'odd');
    assert.equal(fs.readdirSync(`${odd}/odd`).length, 6);
  });

  test('a hard link whose target is not restored is skipped with a warning', async () => {
    const warns: ArchiveWarning[] = [];
    await extractArchive(chunks, dirOf('hard-only'), { pattern: 'hard-b', onWarning: (w) => warns.push(w) });
    assert.equal(warns.length, 1);
    assert.equal(warns[0]!.path, 'hard-b/three');
    assert.match(warns[0]!.message, /hard-a\/one was not restored/);
  });
});

// ── hostile and broken input ─────────────────────────────────────────────

const meta = (name: string | Buffer) => ({ name: Buffer.from(name), flags: 0, mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, xattrs: [] });
const rootDir = (): Buffer => encodeRecord({ kind: 'dir', ...meta('') });
const fileRec = (name: string | Buffer, content: string): Buffer => {
  const seg = Buffer.alloc(5);
  seg.writeUInt8(0x44, 0);
  seg.writeUInt32LE(content.length, 1);
  return Buffer.concat([encodeRecord({ kind: 'file', ...meta(name), size: content.length }), ...(content ? [seg, Buffer.from(content)] : []), Buffer.from('E')]);
};
const archive = (...records: Buffer[]): Buffer => Buffer.concat([ARCHIVE_MAGIC, rootDir(), ...records, encodeDirEnd()]);

describe('hostile input', () => {
  test('extract refuses names that would escape the target', async () => {
    const outside = dirOf('outside-sentinel');
    const cases: [string, Buffer][] = [
      ['..', archive(encodeRecord({ kind: 'dir', ...meta('..') }), fileRec('outside-sentinel', 'x'), encodeDirEnd())],
      ['slash', archive(fileRec('../outside-sentinel', 'x'))],
      ['absolute', archive(fileRec('/tmp/outside-sentinel', 'x'))],
      ['dot', archive(fileRec('.', 'x'))],
      ['nul', archive(fileRec(Buffer.from('a\0b'), 'x'))],
      ['hardlink', archive(encodeRecord({ kind: 'hardlink', ...meta('h'), target: Buffer.from('../../etc/passwd') }))],
    ];
    for (const [what, bytes] of cases) {
      const dst = dirOf(`hostile-${what}`);
      await assert.rejects(extractArchive([bytes], dst), { code: 'BULWARK_INVALID_NAME' }, what);
      assert.ok(!fs.existsSync(outside), what);
      assert.deepEqual(fs.readdirSync(dst), [], what);
    }
  });

  test('duplicate or unsorted names are corrupt', async () => {
    await assert.rejects(decodeAll([archive(fileRec('b', ''), fileRec('a', ''))]), { code: 'BULWARK_ARCHIVE_CORRUPT' });
    await assert.rejects(decodeAll([archive(fileRec('a', ''), fileRec('a', ''))]), { code: 'BULWARK_ARCHIVE_CORRUPT' });
  });

  test('truncation at any byte gives BULWARK_ARCHIVE_CORRUPT', async () => {
    const small = archive(fileRec('a', 'hello'), encodeRecord({ kind: 'symlink', ...meta('b'), target: Buffer.from('a') }), fileRec('c', ''));
    assert.equal((await decodeAll([small])).length, 5);
    for (let cut = 0; cut < small.length; cut++) {
      await assert.rejects(decodeAll([small.subarray(0, cut)]), { code: 'BULWARK_ARCHIVE_CORRUPT' }, `cut at ${cut}`);
    }
  });

  test('flipped kind bytes, absurd lengths, bad segments, bad magic and trailing bytes are corrupt', async () => {
    const good = archive(fileRec('a', 'hello'));
    const fileAt = ARCHIVE_MAGIC.length + rootDir().length;
    const mutate = (at: number, f: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(good);
      f(b.subarray(at));
      return b;
    };
    const bad: [string, Buffer][] = [
      ['kind file→dir', mutate(fileAt, (b) => (b[0] = KIND_CODES.dir))],
      ['unknown kind', mutate(fileAt, (b) => (b[0] = 99))],
      ['body length 4 GiB', mutate(fileAt, (b) => b.writeUInt32LE(0xffffffff, 1))],
      ['body length off by one', mutate(fileAt, (b) => b.writeUInt32LE(b.readUInt32LE(1) + 1, 1))],
      ['data segment of 4 GiB', mutate(fileAt + fileRec('a', 'hello').length - 11, (b) => b.writeUInt32LE(0xffffffff, 1))],
      ['unknown segment', mutate(good.length - 10, (b) => (b[0] = 0x51))],
      ['bad magic', mutate(0, (b) => (b[0]! ^= 1))],
      ['trailing bytes', Buffer.concat([good, Buffer.from([0])])],
      ['empty', Buffer.alloc(0)],
      ['hole past size', archive(Buffer.concat([encodeRecord({ kind: 'file', ...meta('h'), size: 10 }), Buffer.from([0x48, 11, 0, 0, 0, 0, 0, 0, 0, 0x45])]))],
      ['size mismatch', archive(Buffer.concat([encodeRecord({ kind: 'file', ...meta('h'), size: 10 }), Buffer.from('E')]))],
      ['root is not a dir', Buffer.concat([ARCHIVE_MAGIC, fileRec('', 'x')])],
      ['dir never closed', Buffer.concat([ARCHIVE_MAGIC, rootDir()])],
    ];
    for (const [what, bytes] of bad) await assert.rejects(decodeAll([bytes]), { code: 'BULWARK_ARCHIVE_CORRUPT' }, what);
  });

  test('random bit flips never crash the decoder, and every flip outside file content is caught', async () => {
    const base = archive(fileRec('a', 'hello'), encodeRecord({ kind: 'dir', ...meta('d') }), fileRec('f', 'x'.repeat(100)), encodeDirEnd());
    // Content bytes carry no checksum in the stream (chunk digests cover them), so flips there decode.
    const content = [base.indexOf('hello'), base.indexOf('x'.repeat(100))];
    const inContent = (at: number) => (at >= content[0]! && at < content[0]! + 5) || (at >= content[1]! && at < content[1]! + 100);
    let x = 12345;
    for (let i = 0; i < 400; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const at = x % base.length;
      const b = Buffer.from(base);
      b[at]! ^= 1 << (x >>> 29);
      const outcome = await decodeAll([b]).then(() => 'decoded', (err: unknown) => err);
      if (outcome === 'decoded') {
        assert.ok(inContent(at), `flip at ${at} went unnoticed`);
      } else {
        assert.ok(isBulwarkError(outcome, 'BULWARK_ARCHIVE_CORRUPT') || isBulwarkError(outcome, 'BULWARK_INVALID_NAME'), String(outcome));
      }
    }
  });

  test('file content can be skipped, or read in pieces, entry by entry', async () => {
    const seen: string[] = [];
    for await (const e of decodeArchive(chunks)) {
      if (e.kind === 'file' && e.path.toString() === 'small.txt') {
        const parts: Buffer[] = [];
        for await (const b of e.content()) parts.push(b);
        seen.push(Buffer.concat(parts).toString());
      } else if (e.kind === 'file' && e.path.toString() === 'big.bin') {
        for await (const _ of e.segments()) break; // read a little, let the decoder skip the rest
      }
    }
    assert.deepEqual(seen, ['hello, bulwark\n']);
  });
});
