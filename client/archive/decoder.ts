/**
 * Parses a bxar stream (layout in format.ts) back into entries, strictly:
 * every record's CRC, kind, lengths, name rules, sort order and nesting are
 * checked, and any violation is a BULWARK_ARCHIVE_CORRUPT (names that could
 * escape a restore target: BULWARK_INVALID_NAME), never a crash or a huge
 * allocation. File content is handed out as views of the input buffers (no
 * copies); it must be read before asking for the next entry, or is skipped
 * then.
 *
 * A split archive's metadata stream (SPLIT_META_MAGIC, FILE_REF records)
 * needs the payload stream as a PayloadSource: a file's content is read
 * from its range there when asked for, and not at all when skipped.
 */
import { crc32 } from '../../datastore/crc32.ts';
import { ByteReader, type FileContent, FileBody, corruptAt } from './file-content.ts';
import {
  ARCHIVE_MAGIC, type EntryHeader, FILE_REF_CODE, FLAG_HAS_LINKS, KIND_BY_CODE, KNOWN_FLAGS, MAX_BODY,
  MAX_XATTR_VALUE, RECORD_CRC, RECORD_PREFIX, type RecordKind, SPLIT_META_MAGIC, type Xattr, assertSafeName, assertSafePath,
  displayPath, joinNs, joinPath,
} from './format.ts';
import type { PayloadSource } from './payload.ts';

export type { FileContent, Segment } from './file-content.ts';

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
  /** The payload stream of a split archive, whose metadata stream is being decoded. */
  payload?: PayloadSource;
}

const corrupt = (offset: number, why: string) => corruptAt('stream', offset, why);

/** Reads one record; returns its kind and parsed header (undefined body for END_DIR). FILE_REF is a 'file' with a payload range. */
async function readRecord(r: ByteReader): Promise<{ offset: number; kind: RecordKind; header?: EntryHeader }> {
  const offset = r.pos;
  const prefix = Buffer.from(await r.exact(RECORD_PREFIX));
  const ref = prefix[0] === FILE_REF_CODE;
  const kind = ref ? 'file' : KIND_BY_CODE.get(prefix[0]!);
  if (kind === undefined) throw corrupt(offset, `unknown record kind ${prefix[0]}`);
  const bodyLen = prefix.readUInt32LE(1);
  if (bodyLen > MAX_BODY) throw corrupt(offset, `record body of ${bodyLen} bytes`);
  const rest = await r.exact(bodyLen + RECORD_CRC);
  if (crc32(rest.subarray(0, bodyLen), crc32(prefix)) !== rest.readUInt32LE(bodyLen)) throw corrupt(offset, 'record CRC mismatch');
  if (kind === 'dir-end') {
    if (bodyLen !== 0) throw corrupt(offset, 'END_DIR with a body');
    return { offset, kind };
  }
  return { offset, kind, header: parseBody(kind, rest.subarray(0, bodyLen), offset, ref) };
}

function parseBody(kind: Exclude<RecordKind, 'dir-end'>, b: Buffer, offset: number, ref: boolean): EntryHeader {
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
  const mtimeNs = joinNs(sec, nsec);
  // Literals, not `{ ...meta, kind }`: V8 copies an object spread through a
  // runtime call, microseconds on every entry of a restore.
  let h: EntryHeader;
  if (kind === 'file') {
    const u64 = (what: string): number => {
      need(8);
      const v = b.readBigUInt64LE(o);
      o += 8;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(offset, `${what} ${v}`);
      return Number(v);
    };
    h = { kind, name, flags, mode, uid, gid, mtimeNs, xattrs, size: u64('file size') };
    if (ref) {
      h.payloadOffset = u64('payload offset');
      h.payloadLength = u64('payload length');
      // At least the closing 'E', and an end that is still a safe integer.
      if (h.payloadLength === 0 || h.payloadOffset + h.payloadLength > Number.MAX_SAFE_INTEGER) throw corrupt(offset, 'bad payload range');
    }
  } else if (kind === 'symlink' || kind === 'hardlink') {
    need(2);
    const targetLen = b.readUInt16LE(o);
    o += 2;
    const target = bytes(targetLen);
    if (target.length === 0) throw corrupt(offset, `empty ${kind} target`);
    h = { kind, name, flags, mode, uid, gid, mtimeNs, xattrs, target };
  } else if (kind === 'char' || kind === 'block') {
    need(8);
    h = { kind, name, flags, mode, uid, gid, mtimeNs, xattrs, major: b.readUInt32LE(o), minor: b.readUInt32LE(o + 4) };
    o += 8;
  } else {
    h = { kind, name, flags, mode, uid, gid, mtimeNs, xattrs };
  }
  if (o !== b.length) throw corrupt(offset, 'record body has trailing bytes');
  return h;
}

export async function* decodeArchive(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: DecodeOptions = {}): AsyncGenerator<ArchiveEntry> {
  const it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : toAsync(source[Symbol.iterator]());
  const r = new ByteReader(it);
  try {
    if (opts.startsAtEntry) {
      const { offset, kind, header } = await readRecord(r);
      if (!header) throw corrupt(offset, `expected an entry, found ${kind}`);
      assertSafeName(header.name);
      yield* emit(r, header, header.name, offset, opts.payload);
      return;
    }
    const magic = (await r.fill(ARCHIVE_MAGIC.length)) ? await r.exact(ARCHIVE_MAGIC.length) : undefined;
    const split = magic?.equals(SPLIT_META_MAGIC) ?? false;
    if (!split && !magic?.equals(ARCHIVE_MAGIC)) throw corrupt(0, 'not a bxar archive (bad magic)');
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
      if (header.kind === 'file' && (header.payloadOffset !== undefined) !== split) {
        throw corrupt(offset, split ? 'file content inline in a split metadata stream' : 'payload reference in a single-stream archive');
      }
      yield* emit(r, header, path, offset, opts.payload);
    }
    if (!(await r.atEnd())) throw corrupt(r.pos, 'data after the end of the archive');
  } finally {
    await it.return?.();
  }
}

/**
 * The header becomes the entry (it is fresh from readRecord and used for
 * nothing else): added properties, where `{ ...header, path, offset }` would
 * have V8 copy it through a runtime call on every entry.
 */
function place<H extends EntryHeader>(header: H, path: Buffer, offset: number): H & { path: Buffer; offset: number } {
  const e = header as H & { path: Buffer; offset: number };
  e.path = path;
  e.offset = offset;
  return e;
}

async function* emit(r: ByteReader, header: EntryHeader, path: Buffer, offset: number, payload?: PayloadSource): AsyncGenerator<ArchiveEntry> {
  if (header.kind !== 'file') {
    yield place(header, path, offset);
    return;
  }
  let body: FileBody;
  if (header.payloadOffset === undefined) {
    body = new FileBody({ reader: r }, header.size);
  } else if (payload) {
    body = new FileBody({ payload, offset: header.payloadOffset, length: header.payloadLength! }, header.size);
  } else {
    throw corrupt(offset, `${JSON.stringify(displayPath(path))} has its content in a payload stream, and none was given`);
  }
  const entry = place(header, path, offset) as FileEntry;
  entry.segments = () => body.segments();
  entry.content = () => body.content();
  entry.skip = () => body.skip();
  try {
    yield entry;
    await body.skip();
  } finally {
    body.stale = true;
    await body.release(); // also when the consumer stops early
  }
}

async function* toAsync<T>(it: Iterator<T>): AsyncGenerator<T> {
  for (let r = it.next(); !r.done; r = it.next()) yield r.value;
}
