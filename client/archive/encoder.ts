/**
 * Walks a directory tree and produces the bxar stream (layout in format.ts)
 * in buffers of about `bufferSize` bytes, reporting one catalog entry per
 * archived entry as it goes. Files are read in 1 MiB pieces, never whole.
 * Anything that vanishes or cannot be read while walking becomes a warning
 * and is left out (or, once its header is out, padded with a hole to its
 * announced size), so one bad file never fails a backup.
 *
 * Metadata calls (lstat, open, readdir, readlink, close) and reads of files
 * up to 1 MiB are synchronous on purpose: each is a few µs in the kernel,
 * while a round trip through libuv's thread pool costs 80-140 µs on the
 * 2-core machines Bulwark targets, which made a tree of small files 20×
 * slower. Larger files are read asynchronously, so disk waits overlap with
 * whatever else the event loop does (uploading).
 *
 * Split mode (`payload` given): the yielded stream is the metadata stream,
 * file content goes to the PayloadWriter (awaited: its back-pressure slows
 * the walk), and a file the `previous` lookup reports unchanged is not
 * opened at all: its previous payload range is reused (payload.ts) and its
 * xattrs come from the lookup (the catalog keeps them; ctime changes with
 * them). Only when the lookup does not know them is the file opened, for
 * its xattrs, never read.
 */
import fs, { constants as C } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { bulwarkError, isBulwarkError } from '../../errors.ts';
import type { CatalogEntry } from './catalog.ts';
import { type EntryStat, type ScannedEntry, scanDirectory } from './dir-scan.ts';
import { Output, READ_SIZE, encodeContent } from './file-content.ts';
import {
  ARCHIVE_MAGIC, FLAG_HAS_LINKS, MAX_LINK_TARGET, SPLIT_META_MAGIC, type WarningHandler, type Xattr, devMajor, devMinor, displayPath, joinPath,
  nameProblem, pathMatcher,
} from './format.ts';
import { readXattrs, statKind } from './fs-meta.ts';
import type { PayloadWriter } from './payload.ts';
import { NO_XATTRS, baseHeader, encodeDirEnd, encodeRecord, fileHeader, linkHeader, meta, modeOf } from './record-encode.ts';

export { encodeDirEnd, encodeRecord } from './record-encode.ts';

/**
 * A file known unchanged since the previous backup: in a single stream the
 * range of its whole entry in the previous archive; in split mode its range
 * in the previous PAYLOAD stream, plus its xattrs when the previous backup
 * recorded them (else the file is opened to read them).
 */
export type PreviousRange = { offset: number; length: number; xattrs?: Xattr[] };
/** Decides, for a regular file, whether the previous archive holds it unchanged (see catalog.ts previousFromCatalog). */
export type PreviousFileLookup = (relPath: Buffer, stat: EntryStat) => PreviousRange | undefined;

export interface EncodeOptions {
  /** Globs of paths to leave out (format.ts pathMatcher); an excluded directory takes its subtree with it. */
  exclude?: readonly string[];
  onWarning?: WarningHandler;
  /** Called for every archived entry, in archive order, once its bytes are written. */
  onEntry?: (entry: CatalogEntry, previous?: PreviousRange) => void;
  /**
   * Consulted for every regular file; its answer is passed on to onEntry. A
   * single stream stays self-contained; in split mode (with a previous
   * payload in the writer) the file's content is reused from that range.
   */
  previous?: PreviousFileLookup;
  /** Split mode: file content goes here, the yielded stream is the metadata stream. The caller ends it. */
  payload?: PayloadWriter;
  /** Opens a regular file (default fs.openSync); a seam for tests that count which files were opened. */
  openFile?: (path: Buffer, flags: number) => number;
  /** Read and store xattrs (default true). */
  xattrs?: boolean;
  /** Size of the yielded buffers, and of those written to the payload (default 1 MiB). */
  bufferSize?: number;
}

const EMPTY = Buffer.alloc(0);
const SLASH = Buffer.from('/');
const childPath = (dir: Buffer, name: Buffer): Buffer => Buffer.concat([dir, SLASH, name]);

/** What file() needs from fileWithoutReading. */
interface FilePlan {
  readonly linkKey: string | undefined;
  readonly linkable: boolean;
  readonly flags: number;
  readonly previous: PreviousRange | undefined;
  /** The payload writer refused the previous range already (and said why): read the file. */
  readonly reuseRefused: boolean;
}
const FILE_OPEN_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;

export async function* encodeTree(root: string | Buffer, opts: EncodeOptions = {}): AsyncGenerator<Buffer> {
  yield* new TreeEncoder(opts).run(typeof root === 'string' ? Buffer.from(path.resolve(root)) : root);
}

class TreeEncoder {
  private readonly out: Output;
  private readonly excluded: (p: string) => boolean;
  private readonly warn: WarningHandler;
  private readonly withXattrs: boolean;
  private readonly hasExclude: boolean;
  /** dev:ino → archive path of the first occurrence of a multiply linked file. */
  private readonly links = new Map<string, Buffer>();
  private readonly readBuf = Buffer.allocUnsafe(READ_SIZE);
  /** Split mode: the payload's bytes not yet handed to the PayloadWriter. */
  private readonly pout: Output | undefined;

  constructor(private readonly opts: EncodeOptions) {
    this.out = new Output(opts.bufferSize ?? 1024 * 1024);
    if (opts.payload) this.pout = new Output(opts.bufferSize ?? 1024 * 1024, opts.payload.position);
    this.hasExclude = (opts.exclude?.length ?? 0) > 0;
    this.excluded = this.hasExclude ? pathMatcher(opts.exclude!) : () => false;
    this.warn = opts.onWarning ?? (() => {});
    this.withXattrs = opts.xattrs ?? true;
  }

  async *run(root: Buffer): AsyncGenerator<Buffer> {
    let st: BigIntStats;
    try {
      st = fs.lstatSync(root, { bigint: true });
    } catch (err) {
      throw bulwarkError('BULWARK_IO', displayPath(root), (err as Error).message, { cause: err });
    }
    if (!st.isDirectory()) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive root', `${displayPath(root)} is not a directory`);
    this.out.write(this.pout ? SPLIT_META_MAGIC : ARCHIVE_MAGIC);
    yield* this.dir(root, EMPTY, EMPTY, st);
    await this.flushPayload(true);
    yield* this.out.takeAll();
  }

  private async *dir(abs: Buffer, rel: Buffer, name: Buffer, st: EntryStat): AsyncGenerator<Buffer> {
    let xattrs: Xattr[] = [];
    if (this.withXattrs) {
      try {
        const fd = fs.openSync(abs, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
        try {
          xattrs = readXattrs(fd);
        } finally {
          fs.closeSync(fd);
        }
      } catch (err) {
        this.warn({ path: displayPath(rel), message: `xattrs not read: ${(err as Error).message}` });
      }
    }
    const offset = this.out.offset;
    this.out.write(encodeRecord(baseHeader('dir', name, st, xattrs, 0)));
    this.entry({ path: rel, kind: 'dir', mode: modeOf(st), size: 0, mtimeNs: st.mtimeNs, offset, end: this.out.offset });
    let entries: ScannedEntry[] = [];
    try {
      entries = scanDirectory(abs);
    } catch (err) {
      this.warn({ path: displayPath(rel), message: `directory not read: ${(err as Error).message}` });
    }
    for (const { name: child, stat: cst, error } of entries) {
      const childRel = joinPath(rel, child);
      const problem = nameProblem(child);
      if (problem) {
        this.warn({ path: displayPath(childRel), message: `skipped: name ${problem}` });
        continue;
      }
      if (this.hasExclude && this.excluded(displayPath(childRel))) continue;
      if (!cst) {
        this.warn({ path: displayPath(childRel), message: `skipped: ${error!.message}` });
        continue;
      }
      const kind = statKind(cst);
      // The absolute path only where the entry is opened or read: not for an unchanged file.
      if (kind === 'dir') yield* this.dir(childPath(abs, child), childRel, child, cst);
      else if (kind === 'file') {
        // Most files of an incremental backup are done here, synchronously.
        const plan = this.fileWithoutReading(childRel, child, cst);
        if (plan) yield* this.file(childPath(abs, child), childRel, child, cst, plan);
      } else if (kind === undefined || kind === 'socket') this.warn({ path: displayPath(childRel), message: `skipped: ${kind ?? 'unknown file type'}` });
      else this.special(childPath(abs, child), childRel, child, cst, kind);
      if (this.out.ready.length > 0) yield* this.out.take();
    }
    this.out.write(encodeDirEnd());
  }

  private special(abs: Buffer, rel: Buffer, name: Buffer, st: EntryStat, kind: 'symlink' | 'fifo' | 'char' | 'block'): void {
    const offset = this.out.offset;
    const m = meta(name, st, [], 0);
    let target: Buffer | undefined;
    if (kind === 'symlink') {
      try {
        target = fs.readlinkSync(abs, { encoding: 'buffer' });
      } catch (err) {
        this.warn({ path: displayPath(rel), message: `skipped: ${(err as Error).message}` });
        return;
      }
      this.out.write(encodeRecord(linkHeader(kind, name, st, target)));
    } else if (kind === 'fifo') {
      this.out.write(encodeRecord(baseHeader('fifo', name, st, NO_XATTRS, 0)));
    } else {
      this.out.write(encodeRecord({ ...m, kind, major: devMajor(st.rdev), minor: devMinor(st.rdev) }));
    }
    const e: CatalogEntry = { path: rel, kind, mode: m.mode, size: 0, mtimeNs: st.mtimeNs, offset, end: this.out.offset };
    if (target) e.target = target;
    this.entry(e);
  }

  /**
   * A regular file that needs no reading: a further link to a file archived
   * already, or (split mode) an unchanged file whose record needs nothing
   * from it, while no payload bytes wait to be flushed. Returns undefined
   * when it is done, else what file() needs to go on.
   */
  private fileWithoutReading(rel: Buffer, name: Buffer, st: EntryStat): FilePlan | undefined {
    const linkKey = st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined;
    const first = linkKey === undefined ? undefined : this.links.get(linkKey);
    if (first) {
      const offset = this.out.offset;
      this.out.write(encodeRecord(linkHeader('hardlink', name, st, first)));
      this.entry({ path: rel, kind: 'hardlink', mode: modeOf(st), size: 0, mtimeNs: st.mtimeNs, offset, end: this.out.offset, target: first });
      return undefined;
    }
    const linkable = linkKey !== undefined && rel.length <= MAX_LINK_TARGET;
    const flags = linkable ? FLAG_HAS_LINKS : 0;
    const previous = this.opts.previous?.(rel, st);
    const reuse = this.opts.payload?.hasPrevious ? previous : undefined;
    // Unchanged, and everything its record needs is known: the file is not even opened.
    if (reuse && (reuse.xattrs || !this.withXattrs) && this.pout!.empty) {
      if (this.reuseNow(rel, name, st, flags, reuse, this.withXattrs ? reuse.xattrs : undefined)) {
        if (linkable) this.links.set(linkKey, rel);
        return undefined;
      }
      return { linkKey, linkable, flags, previous, reuseRefused: true };
    }
    return { linkKey, linkable, flags, previous, reuseRefused: false };
  }

  private async *file(abs: Buffer, rel: Buffer, name: Buffer, st: EntryStat, plan: FilePlan): AsyncGenerator<Buffer> {
    const { linkKey, linkable, flags, previous } = plan;
    let reuse = this.opts.payload?.hasPrevious && !plan.reuseRefused ? previous : undefined;
    if (reuse && (reuse.xattrs || !this.withXattrs)) {
      if (await this.reuseFile(rel, name, st, flags, reuse, this.withXattrs ? reuse.xattrs : undefined)) {
        if (linkable) this.links.set(linkKey!, rel);
        return;
      }
      reuse = undefined;
    }
    let fd: number;
    try {
      fd = (this.opts.openFile ?? fs.openSync)(abs, FILE_OPEN_FLAGS);
    } catch (err) {
      this.warn({ path: displayPath(rel), message: `skipped: ${(err as Error).message}` });
      return;
    }
    try {
      const fst = fs.fstatSync(fd, { bigint: true });
      if (!fst.isFile() || fst.ino !== st.ino || fst.dev !== st.dev) {
        this.warn({ path: displayPath(rel), message: 'skipped: replaced while being read' });
        return;
      }
      let xattrs: Xattr[] | undefined;
      if (this.withXattrs) {
        try {
          xattrs = readXattrs(fd);
        } catch (err) {
          this.warn({ path: displayPath(rel), message: `xattrs not read: ${(err as Error).message}` });
        }
      }
      if (linkable) this.links.set(linkKey!, rel);
      if (reuse && (await this.reuseFile(rel, name, st, flags, reuse, xattrs))) return;
      const size = Number(st.size);
      const warn = (message: string) => this.warn({ path: displayPath(rel), message });
      if (this.pout) {
        const payloadOffset = this.pout.offset;
        for await (const _ of encodeContent(fd, size, this.pout, this.readBuf, warn)) await this.flushPayload(false);
        this.fileRef(rel, name, st, flags, xattrs, payloadOffset, this.pout.offset - payloadOffset, previous);
        return;
      }
      const offset = this.out.offset;
      this.out.write(encodeRecord(fileHeader(name, st, xattrs ?? NO_XATTRS, flags, size, undefined, undefined)));
      for await (const _ of encodeContent(fd, size, this.out, this.readBuf, warn)) yield* this.out.take();
      const e: CatalogEntry = {
        path: rel, kind: 'file', mode: modeOf(st), size, mtimeNs: st.mtimeNs, offset, end: this.out.offset,
        file: { ino: st.ino, dev: st.dev, ctimeNs: st.ctimeNs },
      };
      this.entry(e, previous);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Split mode, unchanged file: its previous payload range becomes part of
   * this payload. False (with a warning) when the writer refuses the range,
   * and the file is then read like a changed one.
   */
  private async reuseFile(rel: Buffer, name: Buffer, st: EntryStat, flags: number, prev: PreviousRange, xattrs: Xattr[] | undefined): Promise<boolean> {
    await this.flushPayload(true); // queued data must precede the reused chunks
    return this.reuseNow(rel, name, st, flags, prev, xattrs);
  }

  /** reuseFile once no payload bytes are pending. */
  private reuseNow(rel: Buffer, name: Buffer, st: EntryStat, flags: number, prev: PreviousRange, xattrs: Xattr[] | undefined): boolean {
    const payload = this.opts.payload!;
    let payloadOffset: number;
    try {
      payloadOffset = payload.reuse(prev.offset, prev.offset + prev.length);
    } catch (err) {
      if (!isBulwarkError(err, 'BULWARK_INVALID_ARGUMENT')) throw err;
      this.warn({ path: displayPath(rel), message: `read again: ${err.message}` });
      return false;
    }
    this.pout!.rebase(payload.position);
    this.fileRef(rel, name, st, flags, xattrs, payloadOffset, prev.length, prev);
    return true;
  }

  /** A split archive's FILE_REF record and catalog entry; `xattrs` undefined: not read, stored as none. */
  private fileRef(rel: Buffer, name: Buffer, st: EntryStat, flags: number, xattrs: Xattr[] | undefined,
    payloadOffset: number, payloadLength: number, previous: PreviousRange | undefined): void {
    const offset = this.out.offset;
    this.out.write(encodeRecord(fileHeader(name, st, xattrs ?? NO_XATTRS, flags, Number(st.size), payloadOffset, payloadLength)));
    const e: CatalogEntry = {
      path: rel, kind: 'file', mode: modeOf(st), size: Number(st.size), mtimeNs: st.mtimeNs, offset, end: this.out.offset,
      file: { ino: st.ino, dev: st.dev, ctimeNs: st.ctimeNs }, payloadOffset, payloadLength,
    };
    if (xattrs) e.xattrs = xattrs; // so the next backup need not open the file for them
    this.entry(e, previous);
  }

  /** Hands the payload's full buffers (all of it with `all`) to the writer, waiting when it is full. */
  private async flushPayload(all: boolean): Promise<void> {
    if (!this.pout) return;
    for (const b of all ? this.pout.takeAll() : this.pout.take()) await this.opts.payload!.write(b);
  }

  private entry(e: CatalogEntry, previous?: PreviousRange): void {
    this.opts.onEntry?.(e, previous);
  }
}
