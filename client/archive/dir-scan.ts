/**
 * One directory of the backup walk: its entries in name-byte order, each
 * with its lstat or the error that lstat gave. Through the native addon's
 * scanDir (one call per directory: getdents and fstatat in C++) when it is
 * loaded, else readdirSync and one lstatSync per entry.
 *
 * The stats are EntryStat: the part of Node's BigIntStats the encoder and
 * the unchanged-file test use, with the same types, so either source fits.
 */
import fs, { constants as C } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { nativeLoadError, scanDirPacked } from '../../native/index.ts';

export type EntryStat = Pick<
  BigIntStats,
  'mode' | 'uid' | 'gid' | 'nlink' | 'size' | 'ino' | 'dev' | 'rdev' | 'mtimeNs' | 'ctimeNs' |
  'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isCharacterDevice' | 'isBlockDevice' | 'isSocket'
>;

export interface ScannedEntry {
  readonly name: Buffer;
  /** Set unless lstat failed. */
  readonly stat?: EntryStat;
  /** Why lstat failed (a Node-style fs error, syscall 'lstat'). */
  readonly error?: Error;
}

const NS = 1_000_000_000n;
const TWO32 = 0x1_0000_0000;

/** A stat decoded from scanDir's record. */
class ScanStat implements EntryStat {
  readonly mode: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly nlink: bigint;
  readonly size: bigint;
  readonly ino: bigint;
  readonly dev: bigint;
  readonly rdev: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly #type: number;

  constructor(b: Buffer, o: number) {
    const mode = b.readUInt32LE(o);
    this.#type = mode & C.S_IFMT;
    this.mode = BigInt(mode);
    this.uid = BigInt(b.readUInt32LE(o + 4));
    this.gid = BigInt(b.readUInt32LE(o + 8));
    this.nlink = BigInt(b.readUInt32LE(o + 12));
    this.size = u64(b, o + 16);
    this.ino = u64(b, o + 24);
    this.dev = u64(b, o + 32);
    this.rdev = u64(b, o + 40);
    this.mtimeNs = BigInt(b.readInt32LE(o + 52) * TWO32 + b.readUInt32LE(o + 48)) * NS + BigInt(b.readUInt32LE(o + 56));
    this.ctimeNs = BigInt(b.readInt32LE(o + 64) * TWO32 + b.readUInt32LE(o + 60)) * NS + BigInt(b.readUInt32LE(o + 68));
  }

  isFile(): boolean { return this.#type === C.S_IFREG; }
  isDirectory(): boolean { return this.#type === C.S_IFDIR; }
  isSymbolicLink(): boolean { return this.#type === C.S_IFLNK; }
  isFIFO(): boolean { return this.#type === C.S_IFIFO; }
  isCharacterDevice(): boolean { return this.#type === C.S_IFCHR; }
  isBlockDevice(): boolean { return this.#type === C.S_IFBLK; }
  isSocket(): boolean { return this.#type === C.S_IFSOCK; }
}

const STAT_BYTES = 72;

/** A u64 as two u32 halves; exact as a Number below 2^53, else through BigInt. */
function u64(b: Buffer, o: number): bigint {
  const hi = b.readUInt32LE(o + 4);
  const lo = b.readUInt32LE(o);
  return hi < 0x200000 ? BigInt(hi * TWO32 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

/** Node's own wording for a failed lstat: "ENOENT: no such file or directory, lstat '<path>'". */
function lstatError(errno: number, path: Buffer): Error {
  const [code, text] = getSystemErrorMap().get(-errno) ?? [`E${errno}`, 'unknown error'];
  const shown = path.toString('utf8');
  return Object.assign(new Error(`${code}: ${text}, lstat '${shown}'`), { code, errno: -errno, syscall: 'lstat', path: shown });
}

function fromPacked(dir: Buffer, b: Buffer): ScannedEntry[] {
  const out: ScannedEntry[] = [];
  let o = 0;
  while (o < b.length) {
    const n = b.readUInt16LE(o);
    const name = b.subarray(o + 2, o + 2 + n);
    o += 2 + n;
    const err = b.readInt32LE(o);
    o += 4;
    if (err !== 0) {
      out.push({ name, error: lstatError(err, Buffer.concat([dir, SLASH, name])) });
      continue;
    }
    out.push({ name, stat: new ScanStat(b, o) });
    o += STAT_BYTES;
  }
  return out;
}

const SLASH = Buffer.from('/');

/** Reads the directory `dir` (absolute path bytes). Throws when it cannot be read at all. */
export function scanDirectory(dir: Buffer, opts: { native?: boolean } = {}): ScannedEntry[] {
  if (opts.native !== false && nativeLoadError() === undefined) return fromPacked(dir, scanDirPacked(dir));
  const names = fs.readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare);
  return names.map((name) => {
    try {
      return { name, stat: fs.lstatSync(Buffer.concat([dir, SLASH, name]), { bigint: true }) };
    } catch (err) {
      return { name, error: err as Error };
    }
  });
}
