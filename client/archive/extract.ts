/**
 * Restores a bxar stream into a directory: content (holes stay holes),
 * permissions, owners (only when running as root), xattrs, nanosecond mtimes,
 * symlinks, hard links, fifos and device nodes (devices only as root).
 * A directory's own metadata is applied after its entries, so a read-only
 * directory still receives its files and its mtime is not disturbed.
 *
 * Safety: names come validated from the decoder (no '/', '.', '..', NUL);
 * existing path components must be real directories (lstat, never
 * followed), files are created O_EXCL | O_NOFOLLOW after removing whatever
 * was there, and a hard link may only point at a file restored earlier in
 * this same run.
 *
 * File system calls are synchronous, as in the encoder (a thread-pool round
 * trip costs 20-40× the syscall on small files); only the coreutils helpers
 * run as child processes, and the `touch` batches for exact times run in the
 * background, at most two at a time, while extraction goes on.
 *
 * A split archive is restored from its metadata stream plus a PayloadSource
 * for the payload stream (`payload` option); one file of it can be streamed
 * from the catalog and the payload alone (extractSingleFileFromCatalog).
 */
import { once } from 'node:events';
import fs, { constants as C } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { bulwarkError } from '../../errors.ts';
import type { Catalog } from './catalog.ts';
import { type ArchiveEntry, type FileEntry, decodeArchive } from './decoder.ts';
import { FileBody } from './file-content.ts';
import {
  type EntryMeta, FLAG_HAS_LINKS, type WarningHandler, devMajor, devMinor, displayPath, pathKey, pathMatcher, toArchivePath,
} from './format.ts';
import { isCode, isRoot, isUtf8Clean, makeNode, setTimesPrecise, writeXattrs } from './fs-meta.ts';
import type { PayloadSource } from './payload.ts';
import { futimensNs, nativeLoadError } from '../../native/index.ts';

export interface ExtractOptions {
  /** Glob on archive paths (format.ts pathMatcher); a matching directory brings its whole subtree. */
  pattern?: string;
  /** 'always' (default) replaces what is there; 'skip-unchanged' leaves a file with the same size and mtime untouched. */
  overwrite?: 'always' | 'skip-unchanged';
  onWarning?: WarningHandler;
  /** Exact nanosecond times via `touch` (default true); false: fs.utimes only, about µs precision. */
  preciseTimes?: boolean;
  /** Restore uid/gid (default: only when running as root). */
  restoreOwner?: boolean;
  /** Restore xattrs (default true). */
  xattrs?: boolean;
  /** The payload stream, when the source is a split archive's metadata stream. */
  payload?: PayloadSource;
}

export interface ExtractStats {
  entries: number;
  bytes: number;
  /** Entries left as they were by 'skip-unchanged'. */
  unchanged: number;
}

type Source = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
type TimeFix = { name: Buffer; mtimeNs: bigint };

interface Frame {
  path: Buffer;
  abs: Buffer;
  meta: EntryMeta;
  selected: boolean;
  /** Exists on disk as a directory (created or merged) in this run. */
  made: boolean;
  /** Created empty by this run: nothing below it can exist yet, so no lookups are needed. */
  fresh: boolean;
  /** Children whose time needs the precise (touch) path. */
  times: TimeFix[];
}

const SLASH = Buffer.from('/');
const seconds = (ns: bigint): number => Number(ns) / 1e9;

export async function extractArchive(source: Source, targetDir: string, opts: ExtractOptions = {}): Promise<ExtractStats> {
  return new Extractor(Buffer.from(path.resolve(targetDir)), opts).run(source);
}

class Extractor {
  private readonly matches?: (p: string) => boolean;
  private readonly warn: WarningHandler;
  private readonly owner: boolean;
  private readonly precise: boolean;
  private readonly skipUnchanged: boolean;
  private readonly stack: Frame[] = [];
  /** Paths of multiply-linked files restored (or kept) in this run: the only valid hard link targets. */
  private readonly linkable = new Set<string>();
  private readonly stats: ExtractStats = { entries: 0, bytes: 0, unchanged: 0 };
  /** Background `touch` batches in flight. */
  private readonly timeJobs: Promise<void>[] = [];

  constructor(private readonly target: Buffer, private readonly opts: ExtractOptions) {
    if (opts.pattern !== undefined) this.matches = pathMatcher([opts.pattern]);
    this.warn = opts.onWarning ?? (() => {});
    this.owner = opts.restoreOwner ?? isRoot();
    this.precise = opts.preciseTimes ?? true;
    this.skipUnchanged = opts.overwrite === 'skip-unchanged';
  }

  async run(source: Source): Promise<ExtractStats> {
    fs.mkdirSync(this.target, { recursive: true });
    for await (const e of decodeArchive(source, this.opts.payload ? { payload: this.opts.payload } : {})) {
      if (e.kind === 'dir-end') {
        await this.closeDir(this.stack.pop()!);
        continue;
      }
      const parent = this.stack[this.stack.length - 1];
      const selected = !this.matches || (parent?.selected ?? false) || (e.path.length > 0 && this.matches(displayPath(e.path)));
      if (e.kind === 'dir') {
        const abs = parent ? Buffer.concat([parent.abs, SLASH, e.name]) : this.target;
        this.stack.push({ path: e.path, abs, meta: e, selected, made: !parent, fresh: false, times: [] });
        if (selected && parent) this.materialize();
        continue;
      }
      if (!selected || !parent) continue;
      this.materialize();
      await this.restore(parent, e);
    }
    await Promise.all(this.timeJobs);
    return this.stats;
  }

  /** Creates every directory on the stack not yet on disk (parents of a selected entry). */
  private materialize(): void {
    for (const f of this.stack) {
      if (f.made) continue;
      const parentFresh = this.stack[this.stack.indexOf(f) - 1]?.fresh === true;
      const st = parentFresh ? null : lstatOrNull(f.abs);
      if (st && !st.isDirectory()) fs.unlinkSync(f.abs);
      if (!st?.isDirectory()) {
        fs.mkdirSync(f.abs, 0o700);
        f.fresh = true;
      }
      f.made = true;
      this.stats.entries++;
    }
  }

  private async closeDir(f: Frame): Promise<void> {
    if (!f.made) return;
    // Precise child times first, in the background unless odd names must be renamed for
    // `touch`: that changes this directory's mtime, so it has to finish before utimes below.
    if (f.times.length > 0) await this.setTimes(f.abs, f.times);
    if (f.path.length === 0 && this.matches) return; // a partial restore leaves the target directory itself alone
    const m = f.meta;
    this.applyXattrs(f.abs, m, C.O_RDONLY | C.O_DIRECTORY);
    if (this.owner) fs.lchownSync(f.abs, m.uid, m.gid);
    fs.chmodSync(f.abs, m.mode);
    fs.utimesSync(f.abs, seconds(m.mtimeNs), seconds(m.mtimeNs));
    if (this.needsPrecise(m.mtimeNs)) {
      const parent = this.stack[this.stack.length - 1];
      if (parent) {
        parent.times.push({ name: m.name, mtimeNs: m.mtimeNs });
      } else {
        const slash = f.abs.lastIndexOf(0x2f);
        await this.setTimes(slash > 0 ? f.abs.subarray(0, slash) : SLASH, [{ name: f.abs.subarray(slash + 1), mtimeNs: m.mtimeNs }]);
      }
    }
  }

  private async setTimes(dir: Buffer, items: TimeFix[]): Promise<void> {
    const job = setTimesPrecise(dir, items);
    if (!items.every((t) => isUtf8Clean(t.name))) return job;
    job.catch(() => {}); // awaited in run(); this only keeps it from counting as unhandled meanwhile
    this.timeJobs.push(job);
    if (this.timeJobs.length > 2) await this.timeJobs.shift();
  }

  private async restore(parent: Frame, e: Exclude<ArchiveEntry, { kind: 'dir' | 'dir-end' }>): Promise<void> {
    const abs = Buffer.concat([parent.abs, SLASH, e.name]);
    const show = displayPath(e.path);
    if ((e.kind === 'char' || e.kind === 'block') && !isRoot()) {
      this.warn({ path: show, message: 'device node skipped: restoring devices needs root' });
      return;
    }
    if (e.kind === 'hardlink') {
      if (!this.linkable.has(pathKey(e.target))) {
        this.warn({ path: show, message: `hard link skipped: its target ${displayPath(e.target)} was not restored` });
        return;
      }
      const src = Buffer.concat([this.target, SLASH, e.target]);
      const st = parent.fresh ? null : lstatOrNull(abs);
      if (st && this.skipUnchanged && st.ino === fs.lstatSync(src, { bigint: true }).ino) {
        this.stats.unchanged++;
        return;
      }
      if (st) removeExisting(abs, st);
      fs.linkSync(src, abs);
      this.stats.entries++;
      return;
    }
    const st = parent.fresh ? null : lstatOrNull(abs);
    if (st && this.skipUnchanged && unchanged(st, abs, e)) {
      if (e.kind === 'file' && e.flags & FLAG_HAS_LINKS) this.linkable.add(pathKey(e.path));
      this.stats.unchanged++;
      return;
    }
    if (st) removeExisting(abs, st);
    if (e.kind === 'file') {
      await this.writeFile(abs, e);
      if (e.flags & FLAG_HAS_LINKS) this.linkable.add(pathKey(e.path));
    } else if (e.kind === 'symlink') {
      fs.symlinkSync(e.target, abs);
      if (this.owner) fs.lchownSync(abs, e.uid, e.gid);
      fs.lutimesSync(abs, seconds(e.mtimeNs), seconds(e.mtimeNs));
    } else {
      await makeNode(parent.abs, e.name, e.kind, e.kind === 'fifo' ? 0 : e.major, e.kind === 'fifo' ? 0 : e.minor);
      if (this.owner) fs.lchownSync(abs, e.uid, e.gid);
      fs.chmodSync(abs, e.mode);
      fs.lutimesSync(abs, seconds(e.mtimeNs), seconds(e.mtimeNs));
    }
    // Files got their exact time through their descriptor already (writeFile).
    const timedByFd = e.kind === 'file' && nativeLoadError() === undefined;
    if (this.needsPrecise(e.mtimeNs) && !timedByFd) parent.times.push({ name: e.name, mtimeNs: e.mtimeNs });
    this.stats.entries++;
  }

  private async writeFile(abs: Buffer, e: FileEntry): Promise<void> {
    const fd = fs.openSync(abs, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      let pos = 0;
      let written = 0;
      for await (const s of e.segments()) {
        if (s.kind === 'hole') {
          pos += s.length;
          continue;
        }
        for (let off = 0; off < s.data.length; ) {
          const n = fs.writeSync(fd, s.data, off, s.data.length - off, pos);
          off += n;
          pos += n;
        }
        written = pos;
      }
      // Trailing holes exist only through the file's size.
      if (written < e.size) fs.ftruncateSync(fd, e.size);
      this.stats.bytes += e.size;
      if (this.opts.xattrs !== false) for (const msg of writeXattrs(fd, e.xattrs)) this.warn({ path: displayPath(e.path), message: msg });
      if (this.owner) fs.fchownSync(fd, e.uid, e.gid);
      fs.fchmodSync(fd, e.mode); // after chown, which clears setuid/setgid
      if (this.precise && nativeLoadError() === undefined) futimensNs(fd, e.mtimeNs, e.mtimeNs);
      else fs.futimesSync(fd, seconds(e.mtimeNs), seconds(e.mtimeNs));
    } finally {
      fs.closeSync(fd);
    }
  }

  private applyXattrs(abs: Buffer, m: EntryMeta, flags: number): void {
    if (m.xattrs.length === 0 || this.opts.xattrs === false) return;
    const fd = fs.openSync(abs, flags | C.O_NOFOLLOW);
    try {
      for (const msg of writeXattrs(fd, m.xattrs)) this.warn({ path: displayPath(m.name), message: msg });
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Whole seconds are exact through fs.utimes; anything finer needs `touch`. */
  private needsPrecise(ns: bigint): boolean {
    return this.precise && ns % 1_000_000_000n !== 0n;
  }
}

function lstatOrNull(p: Buffer): BigIntStats | null {
  try {
    return fs.lstatSync(p, { bigint: true });
  } catch (err) {
    if (isCode(err, 'ENOENT')) return null;
    throw err;
  }
}

function removeExisting(abs: Buffer, st: BigIntStats): void {
  if (st.isDirectory()) fs.rmSync(abs, { recursive: true, force: true });
  else fs.unlinkSync(abs);
}

/** 'skip-unchanged': the same kind with the same size and mtime (and target, for symlinks). */
function unchanged(st: BigIntStats, abs: Buffer, e: Exclude<ArchiveEntry, { kind: 'dir' | 'dir-end' | 'hardlink' }>): boolean {
  if (st.mtimeNs !== e.mtimeNs) return false;
  switch (e.kind) {
    case 'file':
      return st.isFile() && st.size === BigInt(e.size);
    case 'symlink':
      return st.isSymbolicLink() && fs.readlinkSync(abs, { encoding: 'buffer' }).equals(e.target);
    case 'fifo':
      return st.isFIFO();
    default:
      return (e.kind === 'char' ? st.isCharacterDevice() : st.isBlockDevice()) && devMajor(st.rdev) === e.major && devMinor(st.rdev) === e.minor;
  }
}

/**
 * Streams the content of one regular file to `out` (which is not ended).
 * The source is either a whole archive, or, with `startsAtEntry`, bytes
 * starting at the entry's catalog offset; of a split archive, the metadata
 * stream, with `payload`.
 */
export async function extractSingleFile(
  source: Source,
  archivePath: string | Uint8Array,
  out: NodeJS.WritableStream,
  opts: { startsAtEntry?: boolean; payload?: PayloadSource } = {},
): Promise<{ size: number }> {
  const want = toArchivePath(archivePath);
  const base = want.subarray(want.lastIndexOf(0x2f) + 1);
  for await (const e of decodeArchive(source, opts)) {
    if (e.kind === 'dir-end' || !(opts.startsAtEntry ? e.name.equals(base) : e.path.equals(want))) {
      if (opts.startsAtEntry) break;
      continue;
    }
    if (e.kind === 'hardlink') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive path', `${displayPath(want)} is a hard link to ${displayPath(e.target)}; restore that path`);
    if (e.kind !== 'file') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive path', `${displayPath(want)} is a ${e.kind}, not a regular file`);
    return await pipeContent(e.content(), out); // awaited here: leaving the loop closes the decoder
  }
  throw bulwarkError('BULWARK_NOT_FOUND', `archive path ${JSON.stringify(displayPath(want))}`);
}

/**
 * Streams one regular file of a split archive to `out` (not ended) from its
 * catalog entry's payload range alone: no metadata stream needed.
 */
export async function extractSingleFileFromCatalog(
  catalog: Catalog,
  archivePath: string | Uint8Array,
  payload: PayloadSource,
  out: NodeJS.WritableStream,
): Promise<{ size: number }> {
  const want = toArchivePath(archivePath);
  const e = catalog.find(want);
  if (!e) throw bulwarkError('BULWARK_NOT_FOUND', `archive path ${JSON.stringify(displayPath(want))}`);
  if (e.kind === 'hardlink') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive path', `${displayPath(want)} is a hard link to ${displayPath(e.target ?? Buffer.alloc(0))}; restore that path`);
  if (e.kind !== 'file') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive path', `${displayPath(want)} is a ${e.kind}, not a regular file`);
  if (e.payloadOffset === undefined || e.payloadLength === undefined) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'catalog', 'not the catalog of a split archive (no payload ranges); use extractSingleFile with the archive');
  }
  return pipeContent(new FileBody({ payload, offset: e.payloadOffset, length: e.payloadLength }, e.size).content(), out);
}

async function pipeContent(content: AsyncIterable<Buffer>, out: NodeJS.WritableStream): Promise<{ size: number }> {
  let size = 0;
  for await (const b of content) {
    size += b.length;
    if (!out.write(b)) await once(out, 'drain');
  }
  return { size };
}
