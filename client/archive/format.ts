/**
 * bxar: Bulwark's file-tree archive (its analogue of PBS's pxar). One byte
 * stream, entries depth-first, each directory's entries sorted by name (byte
 * order), so the same tree always gives the same bytes and unchanged files
 * keep their bytes (and chunks) from one backup to the next.
 *
 * All integers little endian.
 *
 *   stream  = MAGIC(8) ‖ record(root dir, empty name) ‖ … ‖ record(END_DIR)
 *   record  = kind u8 ‖ bodyLen u32 ‖ body ‖ crc32 u32   (crc over kind‖bodyLen‖body)
 *   body    = nameLen u8 ‖ name ‖ flags u8 ‖ mode u16 ‖ uid u32 ‖ gid u32
 *             ‖ mtimeSec i64 ‖ mtimeNsec u32 ‖ xattrCount u16
 *             ‖ xattrCount × (nameLen u8 ‖ name ‖ valueLen u32 ‖ value)
 *             ‖ kind-specific:
 *               FILE      size u64                    (content segments follow the record)
 *               FILE_REF  size u64 ‖ payloadOffset u64 ‖ payloadLength u64   (split archives only)
 *               SYMLINK   targetLen u16 ‖ target      (raw bytes, as readlink gave them)
 *               HARDLINK  targetLen u16 ‖ target      (archive path of the first occurrence)
 *               CHAR/BLOCK major u32 ‖ minor u32
 *               DIR, FIFO nothing (a DIR's entries follow it, closed by END_DIR)
 *   END_DIR = record with an empty body
 *   content = segment* ‖ 'E'
 *   segment = 'D' ‖ len u32 (1..16 MiB) ‖ bytes      data
 *           | 'H' ‖ len u64 (> 0)                   hole: len zero bytes, restored sparse
 *
 * Data + hole lengths add up to the FILE's size exactly. The CRC on every
 * record makes a flipped kind, length or name byte a clean error instead of
 * a misparse; content bytes carry no checksum here because chunk digests in
 * the datastore already cover every byte of the stream.
 *
 * Names: 1..255 bytes, anything but '/' and NUL, never "." or ".."; not
 * necessarily UTF-8. Only the root has an empty name. Archive paths are the
 * names joined by '/', relative, the root being "". mode holds the
 * permission bits only (07777); the kind byte holds the file type. flags bit
 * 0 (HAS_LINKS) marks a FILE whose inode had more than one link, so a
 * restore knows which paths later HARDLINK records may point at. Hard links
 * are tracked for regular files only; other kinds are stored per name.
 *
 * Split archives (PBS's .mpxar + .ppxar) are two streams: the metadata
 * stream starts with SPLIT_META_MAGIC and holds the same records, except
 * that a regular file is a FILE_REF record (kind 9) with nothing after it;
 * its content (segment* ‖ 'E', as above) lies in the payload stream at
 * [payloadOffset, payloadOffset + payloadLength). A single stream has no
 * FILE_REF, a metadata stream no FILE. See payload.ts.
 *
 * Sparse files: runs of all-zero 4 KiB pages (aligned in the file) become
 * holes, so a mostly empty file costs a few bytes and stays sparse when
 * restored. Sockets are not archived (a warning says so).
 *
 * xattrs are stored for regular files and directories (read through an open
 * fd with fs-native-extensions); symlinks cannot be opened, and opening
 * fifos or devices can have side effects, so theirs are not read.
 */
import { bulwarkError } from '../../errors.ts';

/** sha256("Bulwark file archive v1.0")[0..8]. NEVER CHANGE. */
export const ARCHIVE_MAGIC = Buffer.from([70, 198, 145, 219, 188, 244, 189, 225]);

/** sha256("Bulwark split archive metadata v1.0")[0..8]: the metadata stream of a split archive. NEVER CHANGE. */
export const SPLIT_META_MAGIC = Buffer.from([156, 227, 16, 172, 94, 153, 197, 98]);

export const KIND_CODES = { dir: 1, file: 2, symlink: 3, hardlink: 4, char: 5, block: 6, fifo: 7, 'dir-end': 8 } as const;
export type RecordKind = keyof typeof KIND_CODES;
export type EntryKind = Exclude<RecordKind, 'dir-end'>;
export const KIND_BY_CODE: ReadonlyMap<number, RecordKind> = new Map(
  Object.entries(KIND_CODES).map(([k, v]) => [v, k as RecordKind]),
);

/** Record kind of a split archive's regular file: a FILE whose content is in the payload stream. Not an entry kind of its own. */
export const FILE_REF_CODE = 9;

export const FLAG_HAS_LINKS = 0x01;
export const KNOWN_FLAGS = FLAG_HAS_LINKS;

export const SEG_DATA = 0x44; // 'D'
export const SEG_HOLE = 0x48; // 'H'
export const SEG_END = 0x45; // 'E'

export const RECORD_PREFIX = 5; // kind + bodyLen
export const RECORD_CRC = 4;
/** Largest record body a decoder accepts (names + xattrs); anything bigger is corrupt. */
export const MAX_BODY = 4 * 1024 * 1024;
export const MAX_NAME = 255;
export const MAX_LINK_TARGET = 65535;
export const MAX_XATTR_VALUE = 1024 * 1024;
export const MAX_SEGMENT = 16 * 1024 * 1024;
/** Granule of hole detection: the page size of every Linux file system we care about. */
export const HOLE_GRANULE = 4096;

export interface Xattr {
  name: Buffer;
  value: Buffer;
}

/** What every entry carries. mtimeNs is since the epoch, in nanoseconds. */
export interface EntryMeta {
  name: Buffer;
  flags: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  xattrs: Xattr[];
}

export type EntryHeader = EntryMeta &
  (
    | { kind: 'dir' }
    /** payloadOffset/payloadLength: only in a split archive's metadata stream (a FILE_REF record). */
    | { kind: 'file'; size: number; payloadOffset?: number; payloadLength?: number }
    | { kind: 'symlink'; target: Buffer }
    | { kind: 'hardlink'; target: Buffer }
    | { kind: 'char' | 'block'; major: number; minor: number }
    | { kind: 'fifo' }
  );

/** Something the encoder or extractor skipped or could not do fully. */
export interface ArchiveWarning {
  path: string;
  message: string;
}
export type WarningHandler = (w: ArchiveWarning) => void;

// ── names and paths ──────────────────────────────────────────────────────

/** Why a name is not allowed, or undefined when it is. */
export function nameProblem(name: Uint8Array): string | undefined {
  if (name.length === 0) return 'empty';
  if (name.length > MAX_NAME) return `longer than ${MAX_NAME} bytes`;
  if (name.length <= 2 && name.every((b) => b === 0x2e)) return 'is "." or ".."';
  if (name.includes(0x2f)) return "contains '/'";
  if (name.includes(0)) return 'contains NUL';
  return undefined;
}

/** Refuses names that could escape a restore target. */
export function assertSafeName(name: Uint8Array): void {
  const problem = nameProblem(name);
  if (problem) throw bulwarkError('BULWARK_INVALID_NAME', 'archive entry name', JSON.stringify(Buffer.from(name).toString('utf8')), problem);
}

/** Validates an archive-relative path (hard link targets): safe names joined by '/'. */
export function assertSafePath(path: Uint8Array): void {
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === 0x2f) {
      assertSafeName(path.subarray(start, i));
      start = i + 1;
    }
  }
}

export function joinPath(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 0 ? name : Buffer.concat([dir, SLASH, name]);
}
const SLASH = Buffer.from('/');

/** Display form of an archive path: UTF-8, invalid bytes shown as U+FFFD. */
export function displayPath(path: Uint8Array): string {
  return Buffer.from(path.buffer, path.byteOffset, path.byteLength).toString('utf8');
}

/** Map key for a path: latin1 maps every byte to one char, so distinct paths stay distinct. */
export function pathKey(path: Uint8Array): string {
  return Buffer.from(path.buffer, path.byteOffset, path.byteLength).toString('latin1');
}

/** Accepts a path as string (UTF-8) or raw bytes; strips leading and trailing '/'. */
export function toArchivePath(path: string | Uint8Array): Buffer {
  let b = typeof path === 'string' ? Buffer.from(path, 'utf8') : Buffer.from(path);
  let s = 0;
  let e = b.length;
  while (s < e && b[s] === 0x2f) s++;
  while (e > s && b[e - 1] === 0x2f) e--;
  b = b.subarray(s, e);
  return b;
}

// ── time ─────────────────────────────────────────────────────────────────

const NS = 1_000_000_000n;

/**
 * Splits nanoseconds into (seconds, nanoseconds in 0..1e9-1), flooring for
 * times before 1970. Seconds of any int64 nanosecond time (|sec| < 9.3e9)
 * are exact as a Number, which spares the per-file BigInt arithmetic.
 */
export function splitNs(ns: bigint): { sec: number; nsec: number } {
  let sec = Number(ns / NS);
  let nsec = Number(ns % NS);
  if (nsec < 0) {
    sec -= 1;
    nsec += 1e9;
  }
  return { sec, nsec };
}

export function joinNs(sec: number | bigint, nsec: number): bigint {
  return BigInt(sec) * NS + BigInt(nsec);
}

/** Writes a safe integer as int64 little endian (no BigInt). */
export function writeI64(b: Buffer, v: number, o: number): number {
  b.writeUInt32LE(v >>> 0, o);
  b.writeInt32LE(Math.floor(v / 0x1_0000_0000), o + 4);
  return o + 8;
}

// ── devices ──────────────────────────────────────────────────────────────

/** glibc's gnu_dev_major/minor for a Linux dev_t. */
export function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)) >>> 0;
}
export function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)) >>> 0;
}

// ── globs ────────────────────────────────────────────────────────────────

/**
 * Glob → RegExp: `*` any run within one name, `**` any run across names
 * (`a/**\/b` also matches `a/b`), `?` one char other than '/', `[...]` and
 * `[!...]` classes, `\x` a literal x. (node:path's matchesGlob exists in
 * Node 20.20 but is experimental and prints a warning on first use.)
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        while (glob[i + 1] === '*') i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close);
      const negate = body[0] === '!' || body[0] === '^';
      if (negate) body = body.slice(1);
      re += `[${negate ? '^/' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else if (c === '\\' && i + 1 < glob.length) {
      re += glob[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`, 's');
}

/**
 * Compiles globs into one predicate over archive paths (display form).
 * A glob with a '/' (a leading one is dropped) is anchored at the archive
 * root; one without matches a name at any depth, like `*.tmp`. Callers
 * apply it to every path, and treat a match of a directory as a match of
 * everything under it.
 */
export function pathMatcher(globs: readonly string[]): (path: string) => boolean {
  const tests = globs.map((g) => {
    const anchored = g.includes('/');
    const body = g.replace(/^\/+/, '').replace(/\/+$/, '');
    const re = globToRegExp(body);
    return anchored ? (p: string) => re.test(p) : (p: string) => re.test(p.slice(p.lastIndexOf('/') + 1));
  });
  return (path) => tests.some((t) => t(path));
}
