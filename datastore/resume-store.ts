/**
 * ResumeStore: the digests that backup sessions of one group and owner
 * stored, kept for `safety.resumeDigestTtlMs` (24 h) across server restarts,
 * so that a re-run after an interrupted backup can reuse them ("resume")
 * instead of sending them again. A finished backup clears its group's entry.
 *
 * One append-only file per group and owner:
 *   <store>/.locks/resume/<sha256(key) hex>.digests
 *
 *   file    = MAGIC(8) ‖ keyLen u32 ‖ key (UTF-8 JSON {ns, group, owner}) ‖ crc32(key) u32 ‖ segment*
 *   segment = count u32 ‖ addedAt u64 (epoch ms) ‖ crc32(count ‖ addedAt ‖ digests) u32 ‖ digests (count × 32)
 *   (integers little endian; MAGIC = sha256("Bulwark resume digests v1.0")[0..8])
 *
 * Each `add` writes one segment at the end of the last valid one, so expiry
 * is per segment (per upload) and a crash leaves at most a torn last segment:
 * it fails its length or CRC check, readers stop before it and the next
 * `add` truncates it away. No fsync: losing the newest entries to a power cut
 * only costs a re-upload.
 *
 * No existence oracle: a file holds one group-and-owner's digests only (the
 * key is stored in the file and compared, not just hashed into its name), and
 * `take` returns nothing else. Callers still touch each digest and drop the
 * ones that no longer exist (GC may have swept them).
 *
 * Why not RocksDB (level-rocksdb): datastore/ stays free of native
 * dependencies beyond lz4, xxhash and the lock addon, and state kept in a
 * file beside the store moves, backs up and is deleted with the store. It
 * lives under `.locks/` because it is process state, not backup data:
 * nothing in it is needed to restore anything.
 *
 * Concurrency: `add`, `take` and `clear` of one key must run under that
 * group's lock (the BackupWriter holds it for its whole session); `sweep`
 * takes each group's lock itself. All I/O here is synchronous so calls of one
 * process never interleave between reading a file's end and appending.
 */
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { crc32 } from './crc32.ts';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { atomicWriteFileSync } from './atomic-write.ts';
import { BackupGroup, BackupNamespace, parseGroupRef } from './backup-ref.ts';
import { DIGEST_SIZE } from './formats.ts';
import { KnownChunks, digestAt } from './known-chunks.ts';
import { locksRoot } from './layout.ts';
import { lockGroup } from './locks.ts';
import { validateAuthId } from './names.ts';
import { SAFETY_FULL, type SafetyParameters } from './safety.ts';

export const RESUME_DIR = 'resume';
const MAGIC = createHash('sha256').update('Bulwark resume digests v1.0').digest().subarray(0, 8);
const SEGMENT_HEADER = 16;
const MAX_KEY_LENGTH = 4096;

export interface ResumeKey {
  readonly group: BackupGroup;
  readonly owner: string;
}

interface Segment {
  readonly addedAt: number;
  /** The whole segment, header included. */
  readonly bytes: Buffer;
  readonly digests: Buffer;
}

interface ParsedFile {
  readonly keyText: string;
  readonly header: Buffer;
  readonly segments: Segment[];
  /** End of the last intact segment. */
  readonly validEnd: number;
}

const errCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;
const ioError = (path: string, err: unknown): Error =>
  isBulwarkError(err) ? err : bulwarkError('BULWARK_IO', path, (err as Error).message, { cause: err });

function keyText(key: ResumeKey): string {
  if (!(key.group instanceof BackupGroup)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'group', 'not a BackupGroup');
  return JSON.stringify({ ns: key.group.ns.toString(), group: key.group.toString(), owner: validateAuthId(key.owner) });
}

function encodeHeader(text: string): Buffer {
  const key = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(MAGIC.length + 8 + key.length);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(key.length, 8);
  key.copy(out, 12);
  out.writeUInt32LE(crc32(key), 12 + key.length);
  return out;
}

function encodeSegment(digests: Uint8Array, addedAt: number): Buffer {
  const out = Buffer.alloc(SEGMENT_HEADER + digests.length);
  out.writeUInt32LE(digests.length / DIGEST_SIZE, 0);
  out.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(addedAt))), 4);
  out.set(digests, SEGMENT_HEADER);
  out.writeUInt32LE(crc32(out.subarray(SEGMENT_HEADER), crc32(out.subarray(0, 12))), 12);
  return out;
}

/** undefined when the header is not intact; segments stop at the first torn one. */
function parseFile(buf: Buffer): ParsedFile | undefined {
  if (buf.length < MAGIC.length + 8 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const keyLength = buf.readUInt32LE(8);
  const keyEnd = 12 + keyLength;
  if (keyLength > MAX_KEY_LENGTH || buf.length < keyEnd + 4) return undefined;
  const key = buf.subarray(12, keyEnd);
  if (crc32(key) !== buf.readUInt32LE(keyEnd)) return undefined;
  const segments: Segment[] = [];
  let at = keyEnd + 4;
  while (at + SEGMENT_HEADER <= buf.length) {
    const count = buf.readUInt32LE(at);
    const end = at + SEGMENT_HEADER + count * DIGEST_SIZE;
    if (count === 0 || end > buf.length) break;
    const crc = crc32(buf.subarray(at + SEGMENT_HEADER, end), crc32(buf.subarray(at, at + 12)));
    if (crc !== buf.readUInt32LE(at + 12)) break;
    segments.push({ addedAt: Number(buf.readBigUInt64LE(at + 4)), bytes: buf.subarray(at, end), digests: buf.subarray(at + SEGMENT_HEADER, end) });
    at = end;
  }
  return { keyText: key.toString('utf8'), header: buf.subarray(0, keyEnd + 4), segments, validEnd: at };
}

function readAll(fd: number, size: number): Buffer {
  const buf = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** The file's bytes, or undefined when it does not exist. Never follows a symlink. */
function readFileNoFollow(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw ioError(path, err);
  }
  try {
    return readAll(fd, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

export class ResumeStore {
  readonly dir: string;
  readonly #ttlMs: number;
  /** Where this process last left each file, so appends skip re-reading it. */
  readonly #ends = new Map<string, { ino: number; end: number }>();

  constructor(readonly storePath: string, opts: { safety?: SafetyParameters } = {}) {
    this.dir = join(locksRoot(storePath), RESUME_DIR);
    this.#ttlMs = (opts.safety ?? SAFETY_FULL).resumeDigestTtlMs;
  }

  pathOf(key: ResumeKey): string {
    return join(this.dir, `${createHash('sha256').update(keyText(key)).digest('hex')}.digests`);
  }

  /** Remember `digests` (n × 32 bytes) as stored by a session of `key` at `now` (epoch ms). */
  add(key: ResumeKey, digests: Uint8Array, now: number): void {
    if (digests.length % DIGEST_SIZE !== 0) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'digests', `${digests.length} bytes is not a multiple of ${DIGEST_SIZE}`);
    if (digests.length === 0) return;
    const text = keyText(key);
    const path = this.pathOf(key);
    let fd: number;
    try {
      mkdirSync(this.dir, { recursive: true });
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);
    } catch (err) {
      throw ioError(path, err);
    }
    try {
      const st = fstatSync(fd);
      const cached = this.#ends.get(path);
      this.#ends.delete(path);
      const end = cached !== undefined && cached.ino === st.ino && cached.end === st.size ? cached.end : repair(fd, st.size, text);
      const segment = encodeSegment(digests, now);
      for (let done = 0; done < segment.length;) done += writeSync(fd, segment, done, segment.length - done, end + done);
      this.#ends.set(path, { ino: st.ino, end: end + segment.length });
    } catch (err) {
      throw ioError(path, err);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Distinct digests of `key` added less than the TTL before `now`, in the
   * order they were added. Reading does not consume them (a session that is
   * interrupted in turn must not lose what earlier ones stored); expired
   * segments are dropped from the file on the way.
   */
  take(key: ResumeKey, now: number): Buffer {
    const text = keyText(key);
    const path = this.pathOf(key);
    const buf = readFileNoFollow(path);
    const parsed = buf && parseFile(buf);
    if (buf === undefined || parsed === undefined || parsed.keyText !== text) return Buffer.alloc(0);
    const live = parsed.segments.filter((s) => now - s.addedAt < this.#ttlMs);
    if (live.length < parsed.segments.length || parsed.validEnd < buf.length) {
      this.#ends.delete(path);
      try {
        if (live.length === 0) rmSync(path, { force: true });
        else atomicWriteFileSync(path, Buffer.concat([parsed.header, ...live.map((s) => s.bytes)]), { mode: 0o640 });
      } catch (err) {
        throw ioError(path, err);
      }
    }
    const seen = new KnownChunks();
    const out: Buffer[] = [];
    for (const s of live) {
      for (let i = 0; i < s.digests.length / DIGEST_SIZE; i++) {
        const d = digestAt(s.digests, i);
        if (seen.add(d, false)) out.push(d);
      }
    }
    return Buffer.concat(out);
  }

  /** Forget every digest of `key` (a backup of the group finished). */
  clear(key: ResumeKey): void {
    const path = this.pathOf(key);
    this.#ends.delete(path);
    try {
      rmSync(path, { force: true });
    } catch (err) {
      throw ioError(path, err);
    }
  }

  /**
   * Delete files whose every segment has expired (groups no backup came back
   * to). Each file is handled under its group's lock; files of groups with a
   * running backup, and unreadable ones, are left alone.
   */
  async sweep(now: number): Promise<{ removed: number }> {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith('.digests'));
    } catch (err) {
      if (errCode(err) === 'ENOENT') return { removed: 0 };
      throw ioError(this.dir, err);
    }
    let removed = 0;
    for (const name of names) {
      const path = join(this.dir, name);
      const key = keyOfFile(readFileNoFollow(path));
      if (key === undefined) continue;
      let lock;
      try {
        lock = await lockGroup(this.storePath, key.group);
      } catch (err) {
        if (isBulwarkError(err, 'BULWARK_LOCKED')) continue;
        throw err;
      }
      try {
        if (this.pathOf(key) !== path) continue; // not where this key lives: not ours to judge
        const parsed = parseFile(readFileNoFollow(path) ?? Buffer.alloc(0));
        if (parsed !== undefined && parsed.segments.every((s) => now - s.addedAt >= this.#ttlMs)) {
          this.#ends.delete(path);
          rmSync(path, { force: true });
          removed++;
        }
      } finally {
        lock.release();
      }
    }
    return { removed };
  }
}

/** The key a file belongs to, or undefined when its header is unreadable. */
function keyOfFile(buf: Buffer | undefined): ResumeKey | undefined {
  const parsed = buf && parseFile(buf);
  if (parsed === undefined) return undefined;
  try {
    const raw = JSON.parse(parsed.keyText) as { ns?: unknown; group?: unknown; owner?: unknown };
    if (typeof raw.ns !== 'string' || typeof raw.group !== 'string' || typeof raw.owner !== 'string') return undefined;
    return { group: parseGroupRef(raw.group, BackupNamespace.parse(raw.ns)), owner: validateAuthId(raw.owner) };
  } catch (err) {
    if (err instanceof SyntaxError || isBulwarkError(err)) return undefined;
    throw err;
  }
}

/** Valid end of an existing file, truncating a torn tail; a new or foreign file starts over with our header. */
function repair(fd: number, size: number, text: string): number {
  const parsed = parseFile(readAll(fd, size));
  if (parsed === undefined || parsed.keyText !== text) {
    const header = encodeHeader(text);
    ftruncateSync(fd, 0);
    for (let done = 0; done < header.length;) done += writeSync(fd, header, done, header.length - done, done);
    return header.length;
  }
  if (parsed.validEnd < size) ftruncateSync(fd, parsed.validEnd);
  return parsed.validEnd;
}
