import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  Catalog, type CatalogEntry, CatalogWriter, SPLIT_CATALOG_MAGIC, encodeCatalog, previousFromCatalog,
} from '../../client/archive/catalog.ts';
import { decodeArchive } from '../../client/archive/decoder.ts';
import { type PreviousFileLookup, type PreviousRange, encodeDirEnd, encodeRecord, encodeTree } from '../../client/archive/encoder.ts';
import { extractArchive, extractSingleFile, extractSingleFileFromCatalog } from '../../client/archive/extract.ts';
import { ARCHIVE_MAGIC, type ArchiveWarning, SPLIT_META_MAGIC } from '../../client/archive/format.ts';
import { PayloadWriter, memoryPayloadSource } from '../../client/archive/payload.ts';
import { type CollectedPayload, type MemoryIndex, collectPayload, memoryIndex } from '../helpers/payload-fixtures.ts';
import { type FullTree, SPARSE_SIZE, compareTrees, makeFullTree, streamBytes } from '../helpers/tree-fixtures.ts';

let tmp: string;
let tree: FullTree;
let first: SplitRun;

interface SplitRun {
  metaParts: Buffer[];
  meta: Buffer;
  payload: CollectedPayload;
  writer: PayloadWriter;
  entries: CatalogEntry[];
  /** What the previous lookup answered, per file path. */
  previous: Map<string, PreviousRange | undefined>;
  /** Files the encoder opened, relative paths. */
  opened: string[];
  warnings: ArchiveWarning[];
}

/** Encodes `root` in split mode, the payload consumed as an uploader would (concurrently: writes wait for it). */
async function encodeSplit(root: string, opts: { prev?: MemoryIndex; lookup?: PreviousFileLookup } = {}): Promise<SplitRun> {
  const writer = new PayloadWriter(opts.prev ? { previous: opts.prev.index } : {});
  const collected = collectPayload(writer, opts.prev);
  const run = { metaParts: [] as Buffer[], entries: [] as CatalogEntry[], previous: new Map(), opened: [] as string[], warnings: [] as ArchiveWarning[] };
  const prefix = Buffer.from(`${path.resolve(root)}/`);
  try {
    for await (const b of encodeTree(root, {
      payload: writer,
      ...(opts.lookup && { previous: opts.lookup }),
      openFile: (p, flags) => {
        run.opened.push(p.subarray(prefix.length).toString());
        return fs.openSync(p, flags);
      },
      onEntry: (e, prev) => {
        run.entries.push(e);
        if (e.kind === 'file') run.previous.set(e.path.toString(), prev);
      },
      onWarning: (w) => run.warnings.push(w),
    })) run.metaParts.push(b);
  } finally {
    writer.end();
  }
  return { ...run, meta: Buffer.concat(run.metaParts), payload: await collected, writer };
}

function sink() {
  const parts: Buffer[] = [];
  return { parts, w: new Writable({ write: (c, _e, cb) => (parts.push(c), cb()) }), bytes: () => Buffer.concat(parts) };
}

const dirOf = (name: string) => path.join(tmp, name);
const src = () => dirOf('src');
const fileEntries = (r: SplitRun) => r.entries.filter((e) => e.kind === 'file');
const entryOf = (r: SplitRun, p: string) => r.entries.find((e) => e.path.toString() === p)!;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-'));
  fs.mkdirSync(src());
  tree = await makeFullTree(src());
  first = await encodeSplit(src());
});

after(() => {
  execFileSync('chmod', ['-R', 'u+rwx', tmp]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('split archive', () => {
  test('round trip: the metadata stream holds no content, the payload all of it; the restore equals the tree', async () => {
    assert.deepEqual(first.warnings, []);
    assert.ok(first.meta.subarray(0, 8).equals(SPLIT_META_MAGIC));
    assert.ok(first.meta.length < 100_000, `metadata stream of ${first.meta.length} bytes`);
    assert.equal(first.payload.bytes.length, first.writer.position);
    assert.ok(first.payload.items.every((i) => i.kind === 'data'), 'nothing to reuse without a previous payload');
    assert.ok(first.payload.bytes.length > 5_000_000);
    const payload = memoryPayloadSource(first.payload.bytes, { pieceSize: 10_000 });
    await extractArchive(first.metaParts, dirOf('full'), { payload });
    assert.deepEqual(await compareTrees(src(), dirOf('full')), []);
  });

  test("a file's payload bytes are exactly the content that follows its record in a single stream", async () => {
    const parts: Buffer[] = [];
    const single: CatalogEntry[] = [];
    for await (const b of encodeTree(src(), { onEntry: (e) => single.push(e) })) parts.push(b);
    const stream = Buffer.concat(parts);
    for (const e of fileEntries(first)) {
      const s = single.find((x) => x.path.equals(e.path))!;
      // A FILE_REF record is its FILE record plus 16 bytes (payload offset and length).
      const contentStart = s.offset + (e.end - e.offset - 16);
      const inPayload = first.payload.bytes.subarray(e.payloadOffset!, e.payloadOffset! + e.payloadLength!);
      assert.ok(stream.subarray(contentStart, s.end).equals(inPayload), e.path.toString());
    }
  });

  test('the catalog keeps payload ranges (and xattrs); its lookup answers with payload ranges', async () => {
    const bytes = encodeCatalog(first.entries);
    assert.ok(bytes.subarray(0, 8).equals(SPLIT_CATALOG_MAGIC));
    const cat = Catalog.decode(bytes);
    assert.equal(cat.split, true);
    assert.deepEqual(cat.entries(), first.entries);
    const big = cat.lookup('big.bin')!;
    assert.ok(big.payloadLength! > 5_000_000);
    const lookup = previousFromCatalog(cat);
    assert.deepEqual(lookup(Buffer.from('big.bin'), fs.lstatSync(`${src()}/big.bin`, { bigint: true })), {
      offset: big.payloadOffset, length: big.payloadLength, xattrs: [],
    });
    if (tree.xattrs) assert.deepEqual(cat.lookup('small.txt')!.xattrs!.map((x) => x.name.toString()).sort(), ['user.binary', 'user.bulwark']);
    const w = new CatalogWriter();
    w.add(first.entries[0]!);
    w.add(entryOf(first, 'ancient.txt'));
    const { payloadOffset: _o, payloadLength: _l, ...plain } = entryOf(first, 'big.bin');
    assert.throws(() => w.add(plain), { code: 'BULWARK_INVALID_ARGUMENT' }, 'payload ranges on some files only');
  });

  test('one file: from the metadata stream and the payload, or from the catalog and the payload alone', async () => {
    const payload = memoryPayloadSource(first.payload.bytes);
    const cat = Catalog.decode(encodeCatalog(first.entries));
    const a = sink();
    assert.deepEqual(await extractSingleFile(first.metaParts, 'nested/a/b/c/deep.txt', a.w, { payload }), { size: 5 });
    assert.equal(a.bytes().toString(), 'deep\n');
    const big = entryOf(first, 'big.bin');
    const b = sink();
    await extractSingleFile([first.meta.subarray(big.offset, big.end)], 'big.bin', b.w, { startsAtEntry: true, payload });
    assert.ok(b.bytes().equals(streamBytes(1, 5_000_000)));
    const c = sink();
    assert.deepEqual(await extractSingleFileFromCatalog(cat, 'big.bin', payload, c.w), { size: 5_000_000 });
    assert.ok(c.bytes().equals(streamBytes(1, 5_000_000)));
    assert.deepEqual(await extractSingleFileFromCatalog(cat, '/sparse.img', payload, sink().w), { size: SPARSE_SIZE });
    assert.deepEqual(await extractSingleFileFromCatalog(cat, 'empty.txt', payload, sink().w), { size: 0 });
    await assert.rejects(extractSingleFileFromCatalog(cat, 'hard-a/two', payload, sink().w), { code: 'BULWARK_INVALID_ARGUMENT' });
    await assert.rejects(extractSingleFileFromCatalog(cat, 'links', payload, sink().w), { code: 'BULWARK_INVALID_ARGUMENT' });
    await assert.rejects(extractSingleFileFromCatalog(cat, 'no/such', payload, sink().w), { code: 'BULWARK_NOT_FOUND' });
    const plainCatalog: CatalogEntry[] = [];
    for await (const _ of encodeTree(src(), { onEntry: (e) => plainCatalog.push(e), exclude: ['*.bin', '*.img'] }));
    await assert.rejects(extractSingleFileFromCatalog(Catalog.decode(encodeCatalog(plainCatalog)), 'small.txt', payload, sink().w), { code: 'BULWARK_INVALID_ARGUMENT' });
  });

  test('a previous range the previous payload lacks: the file is read again, with a warning', async () => {
    const root = dirOf('tiny');
    fs.mkdirSync(root);
    fs.writeFileSync(`${root}/a`, 'alpha\n');
    fs.writeFileSync(`${root}/b`, streamBytes(5, 70_000));
    const prev = memoryIndex(Buffer.alloc(1000));
    const r = await encodeSplit(root, { prev, lookup: () => ({ offset: 900, length: 200, xattrs: [] }) });
    assert.deepEqual(r.opened, ['a', 'b']);
    assert.deepEqual(r.warnings.map((w) => w.path), ['a', 'b']);
    assert.match(r.warnings[0]!.message, /read again.*outside the previous payload/);
    assert.equal(r.payload.chunkBytes, 0);
    await extractArchive(r.metaParts, dirOf('tiny-out'), { payload: memoryPayloadSource(r.payload.bytes) });
    assert.deepEqual(await compareTrees(root, dirOf('tiny-out')), []);
  });

  test('an unchanged file whose xattrs were not recorded is opened for them, but its content is reused', async () => {
    const root = dirOf('tiny');
    const one = await encodeSplit(root);
    const lookup = previousFromCatalog(Catalog.decode(encodeCatalog(one.entries)));
    const withoutXattrs: PreviousFileLookup = (p, st) => {
      const r = lookup(p, st);
      return r && { offset: r.offset, length: r.length };
    };
    const two = await encodeSplit(root, { prev: memoryIndex(one.payload.bytes), lookup: withoutXattrs });
    assert.deepEqual(two.opened, ['a', 'b']);
    assert.equal(two.payload.dataBytes, 0, 'no content read');
    assert.ok(two.payload.bytes.equals(one.payload.bytes));
  });

  test('incremental: unchanged files are neither opened nor read, their chunks are reused, the restore is exact', async () => {
    const prev = memoryIndex(first.payload.bytes);
    const cat1 = Catalog.decode(encodeCatalog(first.entries));
    fs.writeFileSync(`${src()}/nested/a/sibling.txt`, 'sibling, changed and longer\n');
    fs.writeFileSync(`${src()}/nested/new.txt`, streamBytes(9, 100_000));
    fs.rmSync(`${src()}/odd/with space`);

    const second = await encodeSplit(src(), { prev, lookup: previousFromCatalog(cat1) });
    assert.deepEqual(second.warnings, []);
    assert.deepEqual(second.opened.sort(), ['nested/a/sibling.txt', 'nested/new.txt']);
    const reused = fileEntries(second).filter((e) => second.previous.get(e.path.toString()));
    assert.equal(reused.length, fileEntries(second).length - 2);

    // Mostly whole previous chunks; the data is the two new contents.
    const { dataBytes, chunkBytes, bytes } = second.payload;
    assert.ok(dataBytes > 100_000 && dataBytes < 101_000, `${dataBytes} data bytes`);
    assert.ok(chunkBytes > 50 * dataBytes, `${chunkBytes} bytes of reused chunks`);
    const { stats } = second.writer;
    assert.equal(stats.reusedBytes, chunkBytes);
    assert.equal(stats.paddingBytes, chunkBytes - reused.reduce((n, e) => n + e.payloadLength!, 0));
    assert.ok(stats.paddingBytes > 0, "the changed and the deleted file's old bytes");
    const big1 = entryOf(first, 'big.bin');
    const big2 = entryOf(second, 'big.bin');
    assert.deepEqual(second.previous.get('big.bin'), { offset: big1.payloadOffset, length: big1.payloadLength, xattrs: [] });
    assert.ok(bytes.subarray(big2.payloadOffset!, big2.payloadOffset! + big2.payloadLength!)
      .equals(first.payload.bytes.subarray(big1.payloadOffset!, big1.payloadOffset! + big1.payloadLength!)));

    await extractArchive(second.metaParts, dirOf('second'), { payload: memoryPayloadSource(bytes) });
    assert.deepEqual(await compareTrees(src(), dirOf('second')), []);

    // Next time nothing changed: nothing is opened, everything comes from the second payload.
    const cat2 = Catalog.decode(encodeCatalog(second.entries));
    const third = await encodeSplit(src(), { prev: memoryIndex(bytes), lookup: previousFromCatalog(cat2) });
    assert.deepEqual(third.opened, []);
    assert.equal(third.payload.dataBytes, 0);
    const out = sink();
    await extractSingleFileFromCatalog(Catalog.decode(encodeCatalog(third.entries)), 'nested/new.txt', memoryPayloadSource(third.payload.bytes), out.w);
    assert.ok(out.bytes().equals(streamBytes(9, 100_000)));
  });
});

// ── broken input ─────────────────────────────────────────────────────────

const meta = (name: string) => ({ name: Buffer.from(name), flags: 0, mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, xattrs: [] });
const rootDir = () => encodeRecord({ kind: 'dir', ...meta('') });
const ref = (name: string, size: number, payloadOffset: number, payloadLength: number) =>
  encodeRecord({ kind: 'file', ...meta(name), size, payloadOffset, payloadLength });
const splitMeta = (...records: Buffer[]) => Buffer.concat([SPLIT_META_MAGIC, rootDir(), ...records, encodeDirEnd()]);
/** 'D' 3 "abc" 'E': 9 bytes of payload for a 3-byte file. */
const ABC = Buffer.concat([Buffer.from([0x44, 3, 0, 0, 0]), Buffer.from('abc'), Buffer.from('E')]);
const PAYLOAD = Buffer.concat([ABC, ABC]);

async function readAll(metaBytes: Buffer, payload = memoryPayloadSource(PAYLOAD)): Promise<string[]> {
  const out: string[] = [];
  for await (const e of decodeArchive([metaBytes], { payload })) {
    if (e.kind !== 'file') continue;
    const parts: Buffer[] = [];
    for await (const b of e.content()) parts.push(b);
    out.push(`${e.path}=${Buffer.concat(parts)}@${e.payloadOffset}+${e.payloadLength}`);
  }
  return out;
}

describe('split archive, broken input', () => {
  test('well-formed references decode', async () => {
    assert.deepEqual(await readAll(splitMeta(ref('a', 3, 0, 9), ref('b', 3, 9, 9))), ['a=abc@0+9', 'b=abc@9+9']);
  });

  test('payload content that does not match its reference is BULWARK_ARCHIVE_CORRUPT', async () => {
    const inline = Buffer.concat([encodeRecord({ kind: 'file', ...meta('a'), size: 3 }), ABC]);
    const bad: [string, Buffer, ReturnType<typeof memoryPayloadSource>?][] = [
      ['segments add up to less than the size', splitMeta(ref('a', 5, 0, 9))],
      ['segments add up to more than the size', splitMeta(ref('a', 2, 0, 9))],
      ["range goes past the content's 'E'", splitMeta(ref('a', 3, 0, 10))],
      ["range ends before the 'E'", splitMeta(ref('a', 3, 0, 8))],
      ['range starts mid-content', splitMeta(ref('a', 3, 1, 9))],
      ['range outside the payload', splitMeta(ref('a', 3, 14, 9))],
      ['empty range', splitMeta(ref('a', 0, 0, 0))],
      ['no payload source', splitMeta(ref('a', 3, 0, 9)), undefined],
      ['reference in a single stream', Buffer.concat([ARCHIVE_MAGIC, rootDir(), ref('a', 3, 0, 9), encodeDirEnd()])],
      ['inline content in a metadata stream', splitMeta(inline)],
    ];
    for (const [what, bytes, ...source] of bad) {
      const payload = source.length ? source[0] : memoryPayloadSource(PAYLOAD);
      await assert.rejects(
        (async () => {
          for await (const e of decodeArchive([bytes], payload ? { payload } : {})) if (e.kind === 'file') for await (const _ of e.content());
        })(),
        { code: 'BULWARK_ARCHIVE_CORRUPT' },
        what,
      );
    }
    await assert.rejects(extractArchive([splitMeta(ref('a', 5, 0, 9))], dirOf('corrupt'), { payload: memoryPayloadSource(PAYLOAD) }), { code: 'BULWARK_ARCHIVE_CORRUPT' });
  });

  test('a catalog range that does not match the payload is BULWARK_ARCHIVE_CORRUPT', async () => {
    const e = (p: string, kind: CatalogEntry['kind'], extra: Partial<CatalogEntry> = {}): CatalogEntry =>
      ({ path: Buffer.from(p), kind, mode: 0o644, size: 0, mtimeNs: 0n, offset: 0, end: 1, ...extra });
    const cat = Catalog.decode(encodeCatalog([
      e('', 'dir'),
      e('ok', 'file', { size: 3, payloadOffset: 9, payloadLength: 9 }),
      e('short', 'file', { size: 5, payloadOffset: 0, payloadLength: 9 }),
      e('shifted', 'file', { size: 3, payloadOffset: 2, payloadLength: 9 }),
    ]));
    const payload = memoryPayloadSource(PAYLOAD);
    const out = sink();
    await extractSingleFileFromCatalog(cat, 'ok', payload, out.w);
    assert.equal(out.bytes().toString(), 'abc');
    await assert.rejects(extractSingleFileFromCatalog(cat, 'short', payload, sink().w), { code: 'BULWARK_ARCHIVE_CORRUPT' });
    await assert.rejects(extractSingleFileFromCatalog(cat, 'shifted', payload, sink().w), { code: 'BULWARK_ARCHIVE_CORRUPT' });
  });
});
