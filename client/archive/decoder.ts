/**
 * Parses a bxar stream (layout in format.ts) back into entries, strictly:
 * every record's CRC, kind, lengths, name rules, sort order and nesting are
 * checked, and any violation is a BULWARK_ARCHIVE_CORRUPT (names that could
 * escape a restore target: BULWARK_INVALID_NAME), never a crash or a huge
 * allocation. File content is handed out as views of the input buffers (no
 * copies); it must be read before asking for the next entry, or is skipped
 * then.
 */
import { crc32 } from 'node:zlib';
import { bulwarkError } from '../../errors.ts';
import {
  ARCHIVE_MAGIC, type EntryHeader, type EntryMeta, FLAG_HAS_LINKS, KIND_BY_CODE, KNOWN_FLAGS, MAX_BODY, MAX_SEGMENT,
  MAX_XATTR_VALUE, RECORD_CRC, RECORD_PREFIX, type RecordKind, SEG_DATA, SEG_END, SEG_HOLE, type Xattr, assertSafeName,
  assertSafePath, displayPath, joinNs, joinPath,
} from './format.ts';

export type Segment = { kind: 'data'; data: Buffer } | { kind: 'hole'; length: number };

export interface FileContent {
  /** Data pieces and holes, in order; they add up to `size`. */
  segments(): AsyncGenerator<Segment>;
  /** The content as bytes, holes expanded to zeros. */
  content(): AsyncGenerator<Buffer>;
  /** Drops whatever content has not been read. */
  skip(): Promise<void>;
}

type Located<T> = T & { path: Buffer; offset: number };
export type FileEntry = Located<Extract<EntryHeader, { kind: 'file' }>> & FileContent;
export type DirEndEntry = { kind: 'dir-end'; path: Buffer; offset: number };
export type ArchiveEntry = Located<Exclude<EntryHeader, { kind: 'file' }>> | FileEntry | DirEndEntry;

export interface DecodeOptions {
  /**
   * The source starts at one entry's record (a catalog offset) instead of
   * the archive's magic: decode that entry only, ignoring what follows.
   */
  startsAtEntry?: boolean;
}

const corrupt = (offset: number, why: string) => bulwarkError('BULWARK_ARCHIVE_CORRUPT', `stream at byte ${offset}`, why);

/** Pulls exact byte counts out of an async stream of buffers. */
class ByteReader {
  private bufs: Buffer[] = [];
  private head = 0;
  private avail = 0;
  private eof = false;
  /** Absolute offset of the next unread byte. */
  pos = 0;

  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  async fill(n: number): Promise<boolean> {
    while (this.avail < n && !this.eof) {
      const r = await this.it.next();
      if (r.done) {
        this.eof = true;
      } else if (r.value.length > 0) {
        const v = r.value;
        this.bufs.push(Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
        this.avail += v.length;
      }
    }
    return this.avail >= n;
  }

  async exact(n: number): Promise<Buffer> {
    if (!(await this.fill(n))) throw corrupt(this.pos, `truncated: needed ${n} more bytes`);
    return this.take(n);
  }

  /** 1..max bytes from the front buffer, without copying. */
  async some(max: number): Promise<Buffer> {
    if (!(await this.fill(1))) throw corrupt(this.pos, 'truncated inside file content');
    const first = this.bufs[0]!;
    return this.take(Math.min(max, first.length - this.head));
  }

  async discard(n: number): Promise<void> {
    while (n > 0) n -= (await this.some(n)).length;
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  private take(n: number): Buffer {
    let out: Buffer;
    const first = this.bufs[0]!;
    if (first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n);
      this.head += n;
    } else {
      out = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const b = this.bufs[0]!;
        const k = Math.min(n - got, b.length - this.head);
        b.copy(out, got, this.head, this.head + k);
        got += k;
        this.head += k;
        if (this.head === b.length) {
          this.bufs.shift();
          this.head = 0;
        }
      }
    }
    if (this.bufs.length > 0 && this.head === this.bufs[0]!.length) {
      this.bufs.shift();
      this.head = 0;
    }
    this.avail -= n;
    this.pos += n;
    return out;
  }
}

/** Reads one record; returns its kind and parsed header (undefined body for END_DIR). */
async function readRecord(r: ByteReader): Promise<{ offset: number; kind: RecordKind; header?: EntryHeader }> {
  const offset = r.pos;
  const prefix = Buffer.from(await r.exact(RECORD_PREFIX));
  const kind = KIND_BY_CODE.get(prefix[0]!);
  if (kind === undefined) throw corrupt(offset, `unknown record kind ${prefix[0]}`);
  const bodyLen = prefix.readUInt32LE(1);
  if (bodyLen > MAX_BODY) throw corrupt(offset, `record body of ${bodyLen} bytes`);
  const rest = await r.exact(bodyLen + RECORD_CRC);
  if (crc32(rest.subarray(0, bodyLen), crc32(prefix)) !== rest.readUInt32LE(bodyLen)) throw corrupt(offset, 'record CRC mismatch');
  if (kind === 'dir-end') {
    if (bodyLen !== 0) throw corrupt(offset, 'END_DIR with a body');
    return { offset, kind };
  }
  return { offset, kind, header: parseBody(kind, rest.subarray(0, bodyLen), offset) };
}

function parseBody(kind: Exclude<RecordKind, 'dir-end'>, b: Buffer, offset: number): EntryHeader {
  let o = 0;
  const need = (n: number) => {
    if (o + n > b.length) throw corrupt(offset, 'record body too short');
  };
  const bytes = (n: number): Buffer => {
    need(n);
    o += n;
    return b.subarray(o - n, o);
  };
  need(1);
  const name = bytes(b.readUInt8(o++));
  need(25);
  const flags = b.readUInt8(o);
  const mode = b.readUInt16LE(o + 1);
  const uid = b.readUInt32LE(o + 3);
  const gid = b.readUInt32LE(o + 7);
  const sec = b.readBigInt64LE(o + 11);
  const nsec = b.readUInt32LE(o + 19);
  const xcount = b.readUInt16LE(o + 23);
  o += 25;
  if ((flags & ~KNOWN_FLAGS) !== 0 || (flags & FLAG_HAS_LINKS && kind !== 'file')) throw corrupt(offset, `bad flags ${flags}`);
  if (mode > 0o7777) throw corrupt(offset, `bad mode ${mode.toString(8)}`);
  if (nsec >= 1e9) throw corrupt(offset, `bad nanoseconds ${nsec}`);
  const xattrs: Xattr[] = [];
  for (let i = 0; i < xcount; i++) {
    need(1);
    const xname = bytes(b.readUInt8(o++));
    need(4);
    const vlen = b.readUInt32LE(o);
    o += 4;
    if (xname.length === 0 || vlen > MAX_XATTR_VALUE) throw corrupt(offset, 'bad xattr');
    xattrs.push({ name: xname, value: bytes(vlen) });
  }
  const meta: EntryMeta = { name, flags, mode, uid, gid, mtimeNs: joinNs(sec, nsec), xattrs };
  let h: EntryHeader;
  if (kind === 'file') {
    need(8);
    const size = b.readBigUInt64LE(o);
    o += 8;
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(offset, `file size ${size}`);
    h = { kind, ...meta, size: Number(size) };
  } else if (kind === 'symlink' || kind === 'hardlink') {
    need(2);
    const targetLen = b.readUInt16LE(o);
    o += 2;
    const target = bytes(targetLen);
    if (target.length === 0) throw corrupt(offset, `empty ${kind} target`);
    h = { kind, ...meta, target };
  } else if (kind === 'char' || kind === 'block') {
    need(8);
    h = { kind, ...meta, major: b.readUInt32LE(o), minor: b.readUInt32LE(o + 4) };
    o += 8;
  } else {
    h = { kind, ...meta };
  }
  if (o !== b.length) throw corrupt(offset, 'record body has trailing bytes');
  return h;
}

/** Content segments of one file, with its state kept here so a consumer may stop at any point. */
class FileBody implements FileContent {
  private total = 0;
  private dataLeft = 0;
  done = false;
  stale = false;

  constructor(private readonly r: ByteReader, private readonly size: number) {}

  private async next(): Promise<Segment | null> {
    const r = this.r;
    if (this.dataLeft > 0) {
      const data = await r.some(this.dataLeft);
      this.dataLeft -= data.length;
      return { kind: 'data', data };
    }
    if (this.done) return null;
    const at = r.pos;
    const tag = (await r.exact(1))[0];
    if (tag === SEG_END) {
      if (this.total !== this.size) throw corrupt(at, `file content is ${this.total} bytes, header says ${this.size}`);
      this.done = true;
      return null;
    }
    if (tag === SEG_DATA) {
      const len = (await r.exact(4)).readUInt32LE(0);
      if (len === 0 || len > MAX_SEGMENT || this.total + len > this.size) throw corrupt(at, `data segment of ${len} bytes`);
      this.total += len;
      this.dataLeft = len;
      return this.next();
    }
    if (tag === SEG_HOLE) {
      const len = (await r.exact(8)).readBigUInt64LE(0);
      if (len === 0n || BigInt(this.total) + len > BigInt(this.size)) throw corrupt(at, `hole of ${len} bytes`);
      this.total += Number(len);
      return { kind: 'hole', length: Number(len) };
    }
    throw corrupt(at, `unknown content segment ${tag}`);
  }

  async *segments(): AsyncGenerator<Segment> {
    if (this.stale) throw bulwarkError('BULWARK_INTERNAL', 'file content read after the decoder moved on');
    for (let s = await this.next(); s !== null; s = await this.next()) yield s;
  }

  async *content(): AsyncGenerator<Buffer> {
    for await (const s of this.segments()) {
      if (s.kind === 'data') {
        yield s.data;
      } else {
        for (let left = s.length; left > 0; left -= 1024 * 1024) yield Buffer.alloc(Math.min(left, 1024 * 1024));
      }
    }
  }

  async skip(): Promise<void> {
    while (!this.done) {
      if (this.dataLeft > 0) {
        await this.r.discard(this.dataLeft);
        this.dataLeft = 0;
      }
      await this.next();
    }
  }
}

export async function* decodeArchive(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: DecodeOptions = {}): AsyncGenerator<ArchiveEntry> {
  const it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : toAsync(source[Symbol.iterator]());
  const r = new ByteReader(it);
  try {
    if (opts.startsAtEntry) {
      const { offset, kind, header } = await readRecord(r);
      if (!header) throw corrupt(offset, `expected an entry, found ${kind}`);
      assertSafeName(header.name);
      yield* emit(r, header, header.name, offset);
      return;
    }
    const whole = await r.fill(ARCHIVE_MAGIC.length);
    if (!whole || !(await r.exact(ARCHIVE_MAGIC.length)).equals(ARCHIVE_MAGIC)) throw corrupt(0, 'not a bxar archive (bad magic)');
    const root = await readRecord(r);
    if (root.header?.kind !== 'dir' || root.header.name.length !== 0) throw corrupt(root.offset, 'archive does not start with the root directory');
    const stack: { path: Buffer; last: Buffer | null }[] = [{ path: root.header.name, last: null }];
    yield { ...root.header, path: root.header.name, offset: root.offset };
    while (stack.length > 0) {
      const { offset, kind, header } = await readRecord(r);
      const top = stack[stack.length - 1]!;
      if (!header) {
        stack.pop();
        yield { kind: 'dir-end', path: top.path, offset };
        continue;
      }
      assertSafeName(header.name);
      if (top.last !== null && Buffer.compare(top.last, header.name) >= 0) {
        throw corrupt(offset, `entry ${JSON.stringify(displayPath(header.name))} out of order or duplicated`);
      }
      top.last = header.name;
      const path = joinPath(top.path, header.name);
      if (header.kind === 'hardlink') assertSafePath(header.target);
      if (header.kind === 'dir') stack.push({ path, last: null });
      yield* emit(r, header, path, offset);
    }
    if (!(await r.atEnd())) throw corrupt(r.pos, 'data after the end of the archive');
  } finally {
    await it.return?.();
  }
}

async function* emit(r: ByteReader, header: EntryHeader, path: Buffer, offset: number): AsyncGenerator<ArchiveEntry> {
  if (header.kind !== 'file') {
    yield { ...header, path, offset };
    return;
  }
  const body = new FileBody(r, header.size);
  const entry: FileEntry = {
    ...header, path, offset,
    segments: () => body.segments(),
    content: () => body.content(),
    skip: () => body.skip(),
  };
  yield entry;
  await body.skip();
  body.stale = true;
}

async function* toAsync<T>(it: Iterator<T>): AsyncGenerator<T> {
  for (let r = it.next(); !r.done; r = it.next()) yield r.value;
}
