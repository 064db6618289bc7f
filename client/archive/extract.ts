/**
 * Restores a bxar stream into a directory: content (holes stay holes),
 * permissions, owners (only when running as root), xattrs, nanosecond mtimes,
 * symlinks, hard links, fifos and device nodes (devices only as root).
 *
 * The decoding thread walks the archive, creates directories and decides
 * per entry (skip, replace, create); files and symlinks are created in
 * batches (write-batch.ts) that run on a pool of worker threads
 * (write-pool.ts, option `writers`) or inline. So that the order in which
 * batches finish does not matter, what depends on a directory's complete
 * contents waits for the end: hard links (their target must exist) and then
 * every directory's mode, owner, xattrs and times, deepest first (the order
 * directories close in), so a read-only directory still receives its files
 * and no later entry disturbs its mtime.
 *
 * Safety: names come validated from the decoder (no '/', '.', '..', NUL);
 * existing path components must be real directories (lstat, never
 * followed), files are created O_EXCL | O_NOFOLLOW after removing whatever
 * was there, and a hard link may only point at a file restored earlier in
 * this same run.
 *
 * Times are exact to the nanosecond through the native addon (utimensat,
 * futimens); without it, to about a microsecond. Fifos and device nodes are
 * made by coreutils in a child process (fs-meta.ts).
 *
 * A split archive is restored from its metadata stream plus a PayloadSource
 * for the payload stream (`payload` option); single files are streamed by
 * single-file.ts (re-exported here).
 */
import fs, { constants as C } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { type ArchiveEntry, decodeArchive } from './decoder.ts';
import {
  type EntryMeta, FLAG_HAS_LINKS, type WarningHandler, type Xattr, devMajor, devMinor, displayPath, pathKey, pathMatcher,
} from './format.ts';
import { isRoot, makeNode, writeXattrs } from './fs-meta.ts';
import type { PayloadSource } from './payload.ts';
import { type ContentSink, readRangeContent } from './range-content.ts';
import type { ChunkArena } from '../chunk-arena.ts';
import { BatchBuilder, DEFAULT_BATCH_BYTES, type WriteSettings } from './write-batch.ts';
import { type BatchExecutor, InlineExecutor, type WriteRun, WritePool } from './write-pool.ts';
import { nativeLoadError, utimensNs } from '../../native/index.ts';

export interface ExtractOptions {
  /** Glob on archive paths (format.ts pathMatcher); a matching directory brings its whole subtree. */
  pattern?: string;
  /** 'always' (default) replaces what is there; 'skip-unchanged' leaves a file with the same size and mtime untouched. */
  overwrite?: 'always' | 'skip-unchanged';
  onWarning?: WarningHandler;
  /** Exact nanosecond times (default true; needs the native addon); false: microsecond precision. */
  preciseTimes?: boolean;
  /** Restore uid/gid (default: only when running as root). */
  restoreOwner?: boolean;
  /** Restore xattrs (default true). */
  xattrs?: boolean;
  /** The payload stream, when the source is a split archive's metadata stream. */
  payload?: PayloadSource;
  /**
   * Where files are written: a number of worker threads to start for this
   * call (0, the default: inline, on this thread), or an executor the
   * caller owns (a WritePool started ahead, reused across calls).
   */
  writers?: number | BatchExecutor;
  /** The arena the payload decodes into (RemotePayloadOptions.arena): content in it is written without a copy. */
  arena?: ChunkArena;
  /** Called after each entry with the counts so far (the same object each time). */
  onProgress?: (stats: Readonly<ExtractStats>) => void;
}

export interface ExtractStats {
  entries: number;
  bytes: number;
  /** Entries left as they were by 'skip-unchanged'. */
  unchanged: number;
}

type Source = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

interface Frame {
  /** Numbers the directories of a run (write batches keep a directory on one thread). */
  id: number;
  path: Buffer;
  abs: Buffer;
  meta: EntryMeta;
  selected: boolean;
  /** Exists on disk as a directory (created or merged) in this run. */
  made: boolean;
  /** Created empty by this run: nothing below it can exist yet, so no lookups are needed. */
  fresh: boolean;
}

/** A directory whose metadata waits for the end (copied out of the stream's buffers). */
interface DirMeta {
  abs: Buffer;
  path: Buffer;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  xattrs: Xattr[];
}

interface PendingLink {
  abs: Buffer;
  path: Buffer;
  target: Buffer;
  /** Its directory was created by this run: nothing can be in the way. */
  fresh: boolean;
}

const SLASH = Buffer.from('/');
const seconds = (ns: bigint): number => Number(ns) / 1e9;
const copy = (b: Buffer): Buffer => Buffer.from(b);

let warnedImprecise = false;

export async function extractArchive(source: Source, targetDir: string, opts: ExtractOptions = {}): Promise<ExtractStats> {
  const writers = opts.writers ?? 0;
  const own = typeof writers === 'number' ? (writers > 0 ? new WritePool(writers) : new InlineExecutor()) : undefined;
  try {
    return await new Extractor(Buffer.from(path.resolve(targetDir)), opts, own ?? (writers as BatchExecutor)).run(source);
  } finally {
    if (own instanceof WritePool) await own.close();
  }
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
  private readonly batches: BatchBuilder;
  private readonly writeRun: WriteRun;
  /** Directories in the order they closed: every one after all its subdirectories. */
  private readonly dirs: DirMeta[] = [];
  private readonly links: PendingLink[] = [];
  private dirCount = 0;
  /** File content from a payload range goes straight into the batches. */
  private readonly content: ContentSink = {
    data: (pos, data) => {
      this.batches.write(pos, data);
      return this.batches.pending > 0 ? this.send() : undefined;
    },
  };

  constructor(private readonly target: Buffer, private readonly opts: ExtractOptions, private readonly exec: BatchExecutor) {
    this.batches = new BatchBuilder(DEFAULT_BATCH_BYTES, opts.arena);
    if (opts.pattern !== undefined) this.matches = pathMatcher([opts.pattern]);
    this.warn = opts.onWarning ?? (() => {});
    this.owner = opts.restoreOwner ?? isRoot();
    this.precise = (opts.preciseTimes ?? true) && nativeLoadError() === undefined;
    this.skipUnchanged = opts.overwrite === 'skip-unchanged';
    const settings: WriteSettings = { owner: this.owner, precise: this.precise, xattrs: opts.xattrs !== false };
    this.writeRun = {
      settings,
      warn: (p, message) => this.warn({ path: displayPath(p), message }),
      recycle: (data) => this.batches.recycle(data),
      release: (built) => this.batches.release(built),
    };
    const missing = nativeLoadError();
    if ((opts.preciseTimes ?? true) && missing && !warnedImprecise) {
      warnedImprecise = true;
      process.emitWarning(`${missing.message}; restored times are exact to microseconds only`, { code: missing.code });
    }
  }

  async run(source: Source): Promise<ExtractStats> {
    fs.mkdirSync(this.target, { recursive: true });
    try {
      for await (const e of decodeArchive(source, this.opts.payload ? { payload: this.opts.payload } : {})) {
        if (e.kind === 'dir-end') {
          this.closeDir(this.stack.pop()!);
          continue;
        }
        const parent = this.stack[this.stack.length - 1];
        const selected = !this.matches || (parent?.selected ?? false) || (e.path.length > 0 && this.matches(displayPath(e.path)));
        if (e.kind === 'dir') {
          const abs = parent ? Buffer.concat([parent.abs, SLASH, e.name]) : this.target;
          this.stack.push({ id: this.dirCount++, path: e.path, abs, meta: e, selected, made: !parent, fresh: false });
          if (selected && parent) this.materialize();
          continue;
        }
        if (!selected || !parent) continue;
        this.materialize();
        this.batches.enterDir(parent.id);
        await this.restore(parent, e);
        this.opts.onProgress?.(this.stats);
      }
      this.batches.flush();
      await this.send();
      await this.exec.finish();
    } catch (err) {
      await this.exec.finish().catch(() => {}); // nothing may still be writing once this rejects
      throw err;
    }
    this.makeLinks();
    this.applyDirs();
    return this.stats;
  }

  /** Hands the complete batches to the executor (waiting while it is full). */
  private async send(): Promise<void> {
    for (const b of this.batches.takeReady()) await this.exec.submit(b, this.writeRun);
  }

  /** Creates every directory on the stack not yet on disk (parents of a selected entry). */
  private materialize(): void {
    for (let i = 0; i < this.stack.length; i++) {
      const f = this.stack[i]!;
      if (f.made) continue;
      const st = this.stack[i - 1]?.fresh === true ? null : lstatOrNull(f.abs);
      if (st && !st.isDirectory()) fs.unlinkSync(f.abs);
      if (!st?.isDirectory()) {
        fs.mkdirSync(f.abs, 0o700);
        f.fresh = true;
      }
      f.made = true;
      this.stats.entries++;
    }
  }

  private closeDir(f: Frame): void {
    if (!f.made) return;
    if (f.path.length === 0 && this.matches) return; // a partial restore leaves the target directory itself alone
    const m = f.meta;
    const xattrs = this.opts.xattrs === false ? [] : m.xattrs.map((x) => ({ name: copy(x.name), value: copy(x.value) }));
    this.dirs.push({ abs: f.abs, path: copy(f.path), mode: m.mode, uid: m.uid, gid: m.gid, mtimeNs: m.mtimeNs, xattrs });
  }

  private async restore(parent: Frame, e: Exclude<ArchiveEntry, { kind: 'dir' | 'dir-end' }>): Promise<void> {
    const abs = Buffer.concat([parent.abs, SLASH, e.name]);
    if ((e.kind === 'char' || e.kind === 'block') && !isRoot()) {
      this.warn({ path: displayPath(e.path), message: 'device node skipped: restoring devices needs root' });
      return;
    }
    if (e.kind === 'hardlink') {
      if (!this.linkable.has(pathKey(e.target))) {
        this.warn({ path: displayPath(e.path), message: `hard link skipped: its target ${displayPath(e.target)} was not restored` });
        return;
      }
      this.links.push({ abs, path: copy(e.path), target: copy(e.target), fresh: parent.fresh });
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
      // Created with its final mode (so no chmod later) unless the mode has
      // setuid/setgid/sticky bits, which chown clears, or xattrs must be set
      // first (user.* needs write permission on the inode).
      const direct = (e.mode & 0o7000) === 0 && (e.xattrs.length === 0 || this.opts.xattrs === false);
      this.batches.beginFile(abs, e.path, direct ? e.mode : 0o600);
      if (e.payloadOffset !== undefined && this.opts.payload) {
        await readRangeContent(this.opts.payload, e.payloadOffset, e.payloadLength!, e.size, this.content);
      } else {
        let pos = 0;
        for await (const s of e.segments()) {
          if (s.kind === 'hole') {
            pos += s.length;
            continue;
          }
          this.batches.write(pos, s.data);
          pos += s.data.length;
          if (this.batches.pending > 0) await this.send();
        }
      }
      this.batches.endFile(e, this.opts.xattrs !== false);
      if (this.batches.pending > 0) await this.send();
      this.stats.bytes += e.size;
      if (e.flags & FLAG_HAS_LINKS) this.linkable.add(pathKey(e.path));
    } else if (e.kind === 'symlink') {
      this.batches.symlink(abs, e.path, e.target, e);
      if (this.batches.pending > 0) await this.send();
    } else {
      await makeNode(parent.abs, e.name, e.kind, e.kind === 'fifo' ? 0 : e.major, e.kind === 'fifo' ? 0 : e.minor);
      if (this.owner) fs.lchownSync(abs, e.uid, e.gid);
      fs.chmodSync(abs, e.mode);
      this.setTimes(abs, e.mtimeNs);
    }
    this.stats.entries++;
  }

  /** Hard links, once every file (their targets) is written. */
  private makeLinks(): void {
    for (const l of this.links) {
      const src = Buffer.concat([this.target, SLASH, l.target]);
      const st = l.fresh ? null : lstatOrNull(l.abs);
      if (st && this.skipUnchanged && st.ino === fs.lstatSync(src, { bigint: true }).ino) {
        this.stats.unchanged++;
        continue;
      }
      if (st) removeExisting(l.abs, st);
      fs.linkSync(src, l.abs);
      this.stats.entries++;
    }
  }

  /** Directory metadata, deepest first, once nothing is written into them any more. */
  private applyDirs(): void {
    for (const d of this.dirs) {
      if (d.xattrs.length > 0) {
        const fd = fs.openSync(d.abs, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
        try {
          for (const msg of writeXattrs(fd, d.xattrs)) this.warn({ path: displayPath(d.path), message: msg });
        } finally {
          fs.closeSync(fd);
        }
      }
      const st = fs.lstatSync(d.abs);
      const chown = this.owner && (st.uid !== d.uid || st.gid !== d.gid);
      if (chown) fs.lchownSync(d.abs, d.uid, d.gid);
      if (chown || (st.mode & 0o7777) !== d.mode) fs.chmodSync(d.abs, d.mode);
      this.setTimes(d.abs, d.mtimeNs);
    }
  }

  /** The entry's own times (a symlink's too): exact through the addon, else microseconds. */
  private setTimes(abs: Buffer, ns: bigint): void {
    if (this.precise) utimensNs(abs, ns, ns, { noFollow: true });
    else fs.lutimesSync(abs, seconds(ns), seconds(ns));
  }
}

function lstatOrNull(p: Buffer): BigIntStats | null {
  return fs.lstatSync(p, { bigint: true, throwIfNoEntry: false }) ?? null;
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

export { extractSingleFile, extractSingleFileFromCatalog } from './single-file.ts';
