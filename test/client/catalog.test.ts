import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { CATALOG_MAGIC, Catalog, type CatalogEntry, CatalogWriter, encodeCatalog, previousFromCatalog } from '../../client/archive/catalog.ts';
import { decodeArchive } from '../../client/archive/decoder.ts';
import { type EncodeOptions, type PreviousRange, encodeTree } from '../../client/archive/encoder.ts';
import { INVALID_UTF8_NAME, streamBytes, touchNs } from '../helpers/tree-fixtures.ts';

let tmp: string;
let src: string;

async function encode(opts: EncodeOptions = {}) {
  const entries: CatalogEntry[] = [];
  const previous = new Map<string, PreviousRange | undefined>();
  const parts: Buffer[] = [];
  for await (const b of encodeTree(src, {
    ...opts,
    onEntry: (e, prev) => {
      entries.push(e);
      if (e.kind === 'file') previous.set(e.path.toString('latin1'), prev);
    },
  })) parts.push(b);
  return { stream: Buffer.concat(parts), entries, previous };
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-'));
  src = path.join(tmp, 'src');
  fs.mkdirSync(`${src}/docs/deep`, { recursive: true });
  fs.mkdirSync(`${src}/empty`);
  fs.writeFileSync(`${src}/docs/a.txt`, 'alpha\n');
  fs.writeFileSync(`${src}/docs/b.bin`, streamBytes(21, 300_000));
  fs.writeFileSync(`${src}/docs/deep/c.txt`, 'gamma\n');
  fs.writeFileSync(Buffer.from(`${src}/docs/${INVALID_UTF8_NAME.toString('latin1')}`, 'latin1'), 'x');
  fs.writeFileSync(Buffer.concat([Buffer.from(`${src}/`), INVALID_UTF8_NAME]), 'not utf8\n');
  fs.symlinkSync('docs/a.txt', `${src}/link`);
  fs.linkSync(`${src}/docs/a.txt`, `${src}/hard`);
  touchNs(`${src}/docs/a.txt`, -1_000_000_001n);
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a catalog decodes to exactly the entries the encoder reported', async () => {
  const { entries } = await encode();
  const cat = Catalog.decode(encodeCatalog(entries));
  assert.equal(cat.length, entries.length);
  assert.deepEqual(cat.entries(), entries);
  const a = cat.lookup('docs/a.txt')!;
  assert.equal(a.mtimeNs, -1_000_000_001n);
  assert.equal(a.file!.ino, fs.lstatSync(`${src}/docs/a.txt`, { bigint: true }).ino);
  assert.equal(a.file!.dev, fs.lstatSync(`${src}/docs/a.txt`, { bigint: true }).dev);
  assert.equal(cat.find('hard')!.kind, 'hardlink');
  assert.equal(cat.find('hard')!.target!.toString(), 'docs/a.txt');
  assert.equal(cat.find('link')!.target!.toString(), 'docs/a.txt');
});

test('list, find and lookup by path (string or raw bytes)', async () => {
  const cat = Catalog.decode(encodeCatalog((await encode()).entries));
  const names = (dir: string) => cat.list(dir).map((e) => e.path.toString('latin1'));
  assert.deepEqual(names(''), [INVALID_UTF8_NAME.toString('latin1'), 'docs', 'empty', 'hard', 'link']);
  assert.deepEqual(names('/docs/'), ['docs/a.txt', 'docs/b.bin', `docs/${INVALID_UTF8_NAME.toString('latin1')}`, 'docs/deep']);
  assert.deepEqual(names('empty'), []);
  assert.equal(cat.find(INVALID_UTF8_NAME)!.size, 9);
  assert.equal(cat.find('docs/deep')!.kind, 'dir');
  assert.equal(cat.lookup('docs/deep'), undefined, 'lookup answers regular files only');
  assert.equal(cat.find('docs/missing'), undefined);
  assert.throws(() => cat.list('nowhere'), { code: 'BULWARK_NOT_FOUND' });
  assert.throws(() => cat.list('docs/a.txt'), { code: 'BULWARK_INVALID_ARGUMENT' });
});

test("an entry's byte range decodes on its own", async () => {
  const { stream, entries } = await encode();
  const cat = Catalog.decode(encodeCatalog(entries));
  const b = cat.lookup('docs/b.bin')!;
  for await (const e of decodeArchive([stream.subarray(b.offset, b.end)], { startsAtEntry: true })) {
    assert.equal(e.kind, 'file');
    if (e.kind !== 'file') continue;
    const parts: Buffer[] = [];
    for await (const c of e.content()) parts.push(c);
    assert.ok(Buffer.concat(parts).equals(streamBytes(21, 300_000)));
  }
});

test('previousFromCatalog finds unchanged files, whose bytes are then identical in both archives', async () => {
  const first = await encode();
  const cat = Catalog.decode(encodeCatalog(first.entries));
  fs.writeFileSync(`${src}/docs/deep/c.txt`, 'gamma, changed\n');
  fs.writeFileSync(`${src}/docs/new.txt`, 'new\n');
  const second = await encode({ previous: previousFromCatalog(cat) });
  const prev = (p: string) => second.previous.get(Buffer.from(p).toString('latin1'));
  assert.equal(prev('docs/deep/c.txt'), undefined, 'changed');
  assert.equal(prev('docs/new.txt'), undefined, 'new');
  const range = prev('docs/b.bin')!;
  const now = second.entries.find((e) => e.path.toString() === 'docs/b.bin')!;
  assert.equal(range.offset, cat.lookup('docs/b.bin')!.offset);
  assert.ok(first.stream.subarray(range.offset, range.offset + range.length).equals(second.stream.subarray(now.offset, now.end)));
  assert.ok(prev('docs/a.txt'), 'unchanged, and the first of its hard links');
});

test('corrupt catalogs give BULWARK_ARCHIVE_CORRUPT', async () => {
  const good = encodeCatalog((await encode()).entries);
  const flip = (at: number) => {
    const b = Buffer.from(good);
    b[at]! ^= 0x40;
    return b;
  };
  const withCrc = (body: Buffer) => {
    const b = Buffer.concat([body, Buffer.alloc(4)]);
    b.writeUInt32LE(crc32(body), body.length);
    return b;
  };
  const bad: [string, Buffer][] = [
    ['magic', flip(0)],
    ['crc', flip(20)],
    ['truncated', good.subarray(0, good.length - 7)],
    ['empty', Buffer.alloc(0)],
    // valid CRC, but entry 1 names entry 5 as its parent (must come earlier)
    ['forward parent', withCrc(Buffer.concat([CATALOG_MAGIC, Buffer.from([2, 0, 0, 1, 0, 0, 0, 0, 0, 5, 1, 0x61, 7, 0, 0, 0, 0, 0])]))],
    ['huge count', withCrc(Buffer.concat([CATALOG_MAGIC, Buffer.from([0xff, 0xff, 0xff, 0x7f])]))],
    ['trailing', withCrc(Buffer.concat([good.subarray(0, good.length - 4), Buffer.from([0])]))],
  ];
  for (const [what, bytes] of bad) assert.throws(() => Catalog.decode(bytes), { code: 'BULWARK_ARCHIVE_CORRUPT' }, what);
});

test('the writer wants the root first and directories before their entries', () => {
  const w = new CatalogWriter();
  const e = (p: string, kind: CatalogEntry['kind']): CatalogEntry => ({ path: Buffer.from(p), kind, mode: 0o755, size: 0, mtimeNs: 0n, offset: 0, end: 1 });
  assert.throws(() => w.add(e('a', 'dir')), { code: 'BULWARK_INVALID_ARGUMENT' });
  w.add(e('', 'dir'));
  assert.throws(() => w.add(e('x/y', 'fifo')), { code: 'BULWARK_INVALID_ARGUMENT' });
  w.add(e('x', 'dir'));
  w.add(e('x/y', 'fifo'));
  assert.deepEqual(Catalog.decode(w.finish()).list('x').map((c) => c.path.toString()), ['x/y']);
});
