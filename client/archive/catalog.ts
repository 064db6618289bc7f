/**
 * The catalog: a compact list of every entry of one archive with where its
 * bytes are, stored as a blob next to the archive's index. It answers
 * `catalog` listings and single-file restores without reading the archive,
 * and tells the next backup which files are unchanged (previousFromCatalog).
 *
 *   catalog = MAGIC(8) ‖ count varint ‖ entry × count ‖ crc32 u32 (of everything before it)
 *   entry   = parent varint (index of its directory's entry; the root, entry 0, names itself)
 *             ‖ nameLen varint ‖ name ‖ kind u8 (format.ts codes) ‖ mode varint
 *             ‖ mtimeSec zigzag varint ‖ mtimeNsec varint ‖ offset varint ‖ (end - offset) varint
 *             ‖ file:              size varint ‖ ctimeSec zigzag varint ‖ ctimeNsec varint ‖ ino varint ‖ dev varint
 *             ‖ symlink, hardlink: targetLen varint ‖ target
 *   varint  = unsigned LEB128; zigzag maps signed n to unsigned (n << 1) ^ (n >> 63)
 *
 * Entries are in archive order, so a directory precedes its entries.
 * [offset, end) is the entry's byte range in the archive stream: for a file
 * its header and all content segments, for a directory its header only.
 *
 * The catalog of a split archive starts with SPLIT_CATALOG_MAGIC; [offset,
 * end) is then the range in the metadata stream, and every file entry goes on
 * after dev with
 *
 *   payloadOffset varint ‖ payloadLength varint          its content's range in the payload stream
 *   ‖ xattrs varint (0: not recorded; n + 1: n follow) ‖ n × (name bytes ‖ value bytes)
 *
 * The xattrs let the next backup archive an unchanged file without opening it.
 */
import type { EntryStat } from './dir-scan.ts';
import { crc32 } from '../../datastore/crc32.ts';
import { bulwarkError } from '../../errors.ts';
import type { PreviousFileLookup, PreviousRange } from './encoder.ts';
import {
  type EntryKind, KIND_BY_CODE, KIND_CODES, type Xattr, displayPath, joinNs, joinPath, pathKey, splitNs, toArchivePath,
} from './format.ts';

/** sha256("Bulwark catalog v1.0")[0..8]. NEVER CHANGE. */
export const CATALOG_MAGIC = Buffer.from([206, 92, 14, 33, 17, 244, 116, 32]);
/** sha256("Bulwark split catalog v1.0")[0..8]: the catalog of a split archive. NEVER CHANGE. */
export const SPLIT_CATALOG_MAGIC = Buffer.from([248, 61, 90, 136, 38, 74, 144, 142]);

export interface CatalogEntry {
  path: Buffer;
  kind: EntryKind;
  mode: number;
  /** Content bytes for files; 0 for everything else. */
  size: number;
  mtimeNs: bigint;
  offset: number;
  end: number;
  /** Symlink target, or the archive path a hard link points at. */
  target?: Buffer;
  /** Identity of a regular file, for deciding next time whether it changed. */
  file?: { ino: bigint; dev: bigint; ctimeNs: bigint };
  /** Split archives, regular files: the content's range in the payload stream. */
  payloadOffset?: number;
  payloadLength?: number;
  /** Split archives, regular files: the xattrs, when they were read. */
  xattrs?: Xattr[];
}

// ── varints ──────────────────────────────────────────────────────────────

class Writer {
  private parts: Buffer[] = [];
  private buf = Buffer.allocUnsafe(64 * 1024);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    this.parts.push(this.buf.subarray(0, this.len));
    this.buf = Buffer.allocUnsafe(Math.max(64 * 1024, n));
    this.len = 0;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }

  /** Non-negative safe integer. */
  uint(v: number): void {
    this.room(10);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }

  big(v: bigint): void {
    // Same bytes as the loop below; Number arithmetic where it is exact.
    if (v <= MAX_SAFE) return this.uint(Number(v));
    this.room(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  chunks(): Buffer[] {
    return [...this.parts, this.buf.subarray(0, this.len)];
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Signed seconds as an unsigned varint value; exact for |v| < 2^52 (every int64 nanosecond time's seconds). */
const zigzag = (v: number): number => (v < 0 ? -v * 2 - 1 : v * 2);
const unzigzag = (v: number): number => (v % 2 === 1 ? -(v + 1) / 2 : v / 2);

const corrupt = (why: string) => bulwarkError('BULWARK_ARCHIVE_CORRUPT', 'catalog', why);

class Reader {
  pos = 0;
  constructor(private readonly b: Buffer, private readonly end: number) {}

  u8(): number {
    if (this.pos >= this.end) throw corrupt('truncated');
    return this.b[this.pos++]!;
  }

  uint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const byte = this.u8();
      v += (byte & 0x7f) * mul;
      if (v > Number.MAX_SAFE_INTEGER) throw corrupt('integer out of range');
      if (byte < 0x80) return v;
      mul *= 0x80;
    }
  }

  big(): bigint {
    // Up to 7 bytes (49 bits) in Number arithmetic, the BigInt loop beyond.
    const start = this.pos;
    let n = 0;
    let mul = 1;
    for (let k = 0; k < 7; k++) {
      const byte = this.u8();
      n += (byte & 0x7f) * mul;
      if (byte < 0x80) return BigInt(n);
      mul *= 0x80;
    }
    this.pos = start;
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.u8();
      v |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return v;
      shift += 7n;
      if (shift > 70n) throw corrupt('integer out of range');
    }
  }

  bytes(): Buffer {
    const n = this.uint();
    if (this.pos + n > this.end) throw corrupt('truncated');
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

// ── writing ──────────────────────────────────────────────────────────────

/** Builds a catalog from entries given in archive order (what encodeTree's onEntry reports). */
export class CatalogWriter {
  private readonly dirs = new Map<string, number>();
  private n = 0;
  private readonly body = new Writer();
  /** Whether file entries carry payload ranges; set by the first file. */
  private split: boolean | undefined;

  get count(): number {
    return this.n;
  }

  add(e: CatalogEntry): void {
    let parent = 0;
    let name = e.path;
    if (this.n === 0) {
      if (e.path.length !== 0 || e.kind !== 'dir') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'catalog entry', 'the first entry must be the root directory');
    } else {
      const slash = e.path.lastIndexOf(0x2f);
      const dir = slash < 0 ? '' : pathKey(e.path.subarray(0, slash));
      const p = this.dirs.get(dir);
      if (p === undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'catalog entry', `${displayPath(e.path)} comes before its directory`);
      parent = p;
      name = e.path.subarray(slash + 1);
    }
    if (e.kind === 'file') {
      const split = e.payloadOffset !== undefined && e.payloadLength !== undefined;
      this.split ??= split;
      if (split !== this.split) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'catalog entry', `${displayPath(e.path)}: payload ranges on some files only`);
    }
    if (e.kind === 'dir') this.dirs.set(pathKey(e.path), this.n);
    const w = this.body;
    w.uint(parent);
    w.bytes(name);
    w.u8(KIND_CODES[e.kind]);
    w.uint(e.mode);
    const m = splitNs(e.mtimeNs);
    w.uint(zigzag(m.sec));
    w.uint(m.nsec);
    w.uint(e.offset);
    w.uint(e.end - e.offset);
    if (e.kind === 'file') {
      const f = e.file ?? { ino: 0n, dev: 0n, ctimeNs: 0n };
      w.uint(e.size);
      const c = splitNs(f.ctimeNs);
      w.uint(zigzag(c.sec));
      w.uint(c.nsec);
      w.big(f.ino);
      w.big(f.dev);
      if (this.split) {
        w.uint(e.payloadOffset!);
        w.uint(e.payloadLength!);
        w.uint(e.xattrs ? e.xattrs.length + 1 : 0);
        for (const x of e.xattrs ?? []) {
          w.bytes(x.name);
          w.bytes(x.value);
        }
      }
    } else if (e.kind === 'symlink' || e.kind === 'hardlink') {
      w.bytes(e.target ?? Buffer.alloc(0));
    }
    this.n++;
  }

  finish(): Buffer {
    const count = new Writer();
    count.uint(this.n);
    const all = Buffer.concat([this.split ? SPLIT_CATALOG_MAGIC : CATALOG_MAGIC, ...count.chunks(), ...this.body.chunks(), Buffer.alloc(4)]);
    all.writeUInt32LE(crc32(all.subarray(0, all.length - 4)), all.length - 4);
    return all;
  }
}

export function encodeCatalog(entries: Iterable<CatalogEntry>): Buffer {
  const w = new CatalogWriter();
  for (const e of entries) w.add(e);
  return w.finish();
}

// ── reading ──────────────────────────────────────────────────────────────

export class Catalog {
  private readonly byPath = new Map<string, number>();
  private children?: Map<number, number[]>;

  private constructor(
    private readonly all: readonly CatalogEntry[],
    private readonly parents: readonly number[],
    /** The catalog of a split archive: files carry payload ranges. */
    readonly split: boolean,
  ) {
    all.forEach((e, i) => this.byPath.set(pathKey(e.path), i));
  }

  static decode(buf: Buffer): Catalog {
    const split = buf.length >= 8 && buf.subarray(0, 8).equals(SPLIT_CATALOG_MAGIC);
    if (buf.length < CATALOG_MAGIC.length + 5 || !(split || buf.subarray(0, 8).equals(CATALOG_MAGIC))) throw corrupt('bad magic');
    const end = buf.length - 4;
    if (crc32(buf.subarray(0, end)) !== buf.readUInt32LE(end)) throw corrupt('CRC mismatch');
    const r = new Reader(buf, end);
    r.pos = 8;
    const count = r.uint();
    if (count === 0 || count > end) throw corrupt(`implausible entry count ${count}`);
    const all: CatalogEntry[] = [];
    const parents: number[] = [];
    for (let i = 0; i < count; i++) {
      const parent = r.uint();
      const name = r.bytes();
      const kind = KIND_BY_CODE.get(r.u8());
      if (kind === undefined || kind === 'dir-end') throw corrupt(`entry ${i} has an unknown kind`);
      if (i === 0 ? parent !== 0 || name.length !== 0 || kind !== 'dir' : parent >= i || all[parent]!.kind !== 'dir' || name.length === 0) {
        throw corrupt(`entry ${i} has a bad parent or name`);
      }
      const mode = r.uint();
      const mtimeNs = joinNs(unzigzag(r.uint()), r.uint());
      const offset = r.uint();
      const e: CatalogEntry = { path: i === 0 ? name : joinPath(all[parent]!.path, name), kind, mode, size: 0, mtimeNs, offset, end: offset + r.uint() };
      if (kind === 'file') {
        e.size = r.uint();
        const ctimeNs = joinNs(unzigzag(r.uint()), r.uint());
        e.file = { ctimeNs, ino: r.big(), dev: r.big() };
        if (split) {
          e.payloadOffset = r.uint();
          e.payloadLength = r.uint();
          const xattrs = r.uint();
          if (xattrs > 0) {
            e.xattrs = [];
            for (let x = 1; x < xattrs; x++) e.xattrs.push({ name: r.bytes(), value: r.bytes() });
          }
        }
      } else if (kind === 'symlink' || kind === 'hardlink') {
        e.target = r.bytes();
      }
      all.push(e);
      parents.push(parent);
    }
    if (r.pos !== end) throw corrupt('trailing bytes');
    return new Catalog(all, parents, split);
  }

  get length(): number {
    return this.all.length;
  }

  entries(): readonly CatalogEntry[] {
    return this.all;
  }

  find(path: string | Uint8Array): CatalogEntry | undefined {
    // Raw bytes without a slash to strip are looked up as they are (no copy: once per file in a backup).
    const bare = typeof path !== 'string' && (path.length === 0 || (path[0] !== 0x2f && path[path.length - 1] !== 0x2f));
    const i = this.byPath.get(pathKey(bare ? path : toArchivePath(path)));
    return i === undefined ? undefined : this.all[i];
  }

  /** Regular file at `path`, for the incremental-backup decision. */
  lookup(path: string | Uint8Array): CatalogEntry | undefined {
    const e = this.find(path);
    return e?.kind === 'file' ? e : undefined;
  }

  /** Entries directly inside a directory, in archive (name) order. */
  list(dirPath: string | Uint8Array = ''): CatalogEntry[] {
    const key = toArchivePath(dirPath);
    const i = this.byPath.get(pathKey(key));
    if (i === undefined) throw bulwarkError('BULWARK_NOT_FOUND', `catalog path ${JSON.stringify(displayPath(key))}`);
    if (this.all[i]!.kind !== 'dir') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'catalog path', `${displayPath(key)} is not a directory`);
    if (!this.children) {
      const children = new Map<number, number[]>();
      for (let c = 1; c < this.parents.length; c++) {
        const p = this.parents[c]!;
        const list = children.get(p);
        if (list) list.push(c);
        else children.set(p, [c]);
      }
      this.children = children;
    }
    return (this.children.get(i) ?? []).map((c) => this.all[c]!);
  }
}

/** True when a file's stat says its archived bytes are still current (size, mtime, ctime, inode). */
export function isUnchanged(prev: CatalogEntry, st: EntryStat): boolean {
  return (
    prev.kind === 'file' && prev.file !== undefined && st.isFile() && BigInt(prev.size) === st.size &&
    prev.mtimeNs === st.mtimeNs && prev.file.ctimeNs === st.ctimeNs && prev.file.ino === st.ino
  );
}

/**
 * The encoder's `previous` hook answered from the last backup's catalog:
 * the file's range in the archive stream, or for a split catalog its range
 * in the payload stream (and its xattrs, when recorded).
 */
export function previousFromCatalog(cat: Catalog): PreviousFileLookup {
  return (relPath, st) => {
    const prev = cat.lookup(relPath);
    if (!prev || !isUnchanged(prev, st)) return undefined;
    if (!cat.split) return { offset: prev.offset, length: prev.end - prev.offset };
    const range: PreviousRange = { offset: prev.payloadOffset!, length: prev.payloadLength! };
    if (prev.xattrs) range.xattrs = prev.xattrs; // not a spread: one after other properties is a slow runtime copy
    return range;
  };
}
