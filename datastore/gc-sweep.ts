/**
 * GC phase 2 (sweep): walk every prefix dir of `.chunks` and remove chunk
 * files whose atime is before the cutoff, i.e. that phase 1 did not touch
 * and no backup touched since the safety window began.
 *
 * Each chunk file ends up in exactly one bucket:
 * - atime < cutoff: removed;
 * - cutoff ≤ atime < pendingBefore (= min(phase-1 start, oldest running
 *   backup), PBS's rule): pending, i.e. unreferenced but inside the window;
 * - otherwise: in use (disk chunks).
 * `<digest>.<n>.bad` copies (verify's) are removed once a good copy exists,
 * or when nothing touched them before the cutoff (mark touches them while an
 * index needs the missing chunk); otherwise they are still bad. Insert temp
 * files (`.*.tmp`) older than the cutoff are leftovers of a crash: removed.
 *
 * A touch racing the removal. A backup that starts after phase 1 may reuse
 * an old unreferenced chunk: insertChunk sees it exists and touches it. If
 * the sweep had read the old atime just before, a plain unlink would remove
 * a chunk that backup now references. So removal renames the chunk aside
 * first (`.<digest>.gc-sweep`) and reads its atime again: a touch before the
 * rename shows there and the chunk is linked back; a touch after it fails
 * with ENOENT, which makes insertChunk write the chunk anew. A crash between
 * the two steps leaves the aside file, which the next sweep settles by the
 * same atime rule. Only the GC lock holder sweeps, so an aside file seen in
 * a listing is always such a leftover.
 *
 * Speed and memory: one prefix listing at a time (about chunks/65536
 * names), read and stat'ed synchronously (see GcPacer). The unlink that
 * finally frees a removed chunk is the one slow call: on ext4 it frees the
 * chunk's blocks and waits on bitmap I/O (measured here: ~200-500 µs each,
 * against ~12 µs for the rename), so it runs on the thread pool with up to
 * UNLINK_WINDOW in flight while the scan goes on (about 2.5× faster).
 */
import { linkSync, lstatSync, readdirSync, renameSync, unlinkSync, type Stats } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { parseBadName } from './chunk-backend.ts';
import { CHUNK_DIR_NAME } from './fs-chunk-backend.ts';
import { percentReporter, type GcCounters, type GcPhaseContext } from './gc-stats.ts';

export const GC_ASIDE_SUFFIX = '.gc-sweep';
/** Unlinks of removed chunks kept in flight (see header). */
const UNLINK_WINDOW = 8;
const HEX64 = /^[0-9a-f]{64}$/;
const PREFIX = /^[0-9a-f]{4}$/;
const ASIDE = /^\.([0-9a-f]{64})\.gc-sweep$/;

/**
 * Atime in whole ms. Touches write a ms clock through utimes' float seconds,
 * which libuv truncates to µs, so `t` can read back as t − 0.001: rounding
 * keeps a chunk touched in the very millisecond of the cutoff from looking older.
 */
const atimeOf = (st: Stats): number => Math.round(st.atimeMs);
const errCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;
const ioError = (path: string, err: unknown) => bulwarkError('BULWARK_IO', path, (err as Error).message, { cause: err });

function unlinkIfPresent(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw ioError(path, err);
  }
}

/** Put an aside file back under its chunk name; a copy written meanwhile wins (same content). */
function restoreAside(aside: string, path: string): boolean {
  let linked = true;
  try {
    linkSync(aside, path);
  } catch (err) {
    if (errCode(err) !== 'EEXIST') throw ioError(path, err);
    linked = false;
  }
  unlinkIfPresent(aside);
  return linked;
}

export type RemoveOutcome =
  | { readonly outcome: 'removed'; readonly size: number }
  | { readonly outcome: 'kept'; readonly stat: Stats }
  | { readonly outcome: 'gone' };

/**
 * Remove chunk file `dir/name` unless its atime is (by now) at or after
 * `cutoff`: rename aside, re-check, then unlink or link back (see header).
 * `unlinkAside` may defer the unlink: once aside, no one can touch the chunk.
 */
export function removeIfStillUnused(dir: string, name: string, cutoff: number,
  unlinkAside: (path: string) => void = unlinkIfPresent): RemoveOutcome {
  const path = join(dir, name);
  const aside = join(dir, `.${name}${GC_ASIDE_SUFFIX}`);
  try {
    renameSync(path, aside);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return { outcome: 'gone' };
    throw ioError(path, err);
  }
  let st: Stats;
  try {
    st = lstatSync(aside);
  } catch (err) {
    restoreAside(aside, path);
    throw ioError(aside, err);
  }
  if (atimeOf(st) < cutoff) {
    unlinkAside(aside);
    return { outcome: 'removed', size: st.size };
  }
  restoreAside(aside, path);
  return { outcome: 'kept', stat: st };
}

export interface SweepOptions {
  /** Epoch ms: files with an older atime are removed. */
  readonly cutoff: number;
  /** Epoch ms: unremoved chunks older than this count as pending. */
  readonly pendingBefore: number;
}

export interface SweepResult {
  /** Chunk files looked at. */
  readonly chunksSeen: number;
  readonly staleTempFiles: number;
}

/** Unlinks in flight on the thread pool, at most about `width` at a time. */
class UnlinkWindow {
  readonly #inflight = new Set<Promise<void>>();
  #failure: Error | undefined;
  constructor(readonly width: number) {}

  add(path: string): void {
    const p: Promise<void> = unlink(path)
      .catch((err: unknown) => {
        if (errCode(err) !== 'ENOENT') this.#failure ??= ioError(path, err);
      })
      .finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
  }

  /** Wait until at most `limit` unlinks are in flight; then report the first failure. */
  async settle(limit = this.width): Promise<void> {
    while (this.#inflight.size > limit) await Promise.race(this.#inflight);
    if (this.#failure !== undefined) throw this.#failure;
  }
}

class Sweeper {
  chunksSeen = 0;
  staleTempFiles = 0;
  readonly unlinks = new UnlinkWindow(UNLINK_WINDOW);
  readonly #unlinkAside = (path: string) => this.unlinks.add(path);
  constructor(readonly c: GcCounters, readonly cutoff: number, readonly pendingBefore: number) {}

  keep(atimeMs: number, size: number): void {
    if (atimeMs < this.pendingBefore) {
      this.c.pendingChunks++;
      this.c.pendingBytes += size;
    } else {
      this.c.diskChunks++;
      this.c.diskBytes += size;
    }
  }

  chunk(dir: string, name: string): void {
    const st = lstatSync(join(dir, name), { throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) return;
    this.chunksSeen++;
    if (atimeOf(st) >= this.cutoff) return this.keep(atimeOf(st), st.size);
    const r = removeIfStillUnused(dir, name, this.cutoff, this.#unlinkAside);
    if (r.outcome === 'removed') {
      this.c.removedChunks++;
      this.c.removedBytes += r.size;
    } else if (r.outcome === 'kept') {
      this.keep(atimeOf(r.stat), r.stat.size); // touched after our first look
    }
  }

  bad(dir: string, name: string, digest: string): void {
    const path = join(dir, name);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) return;
    const goodCopy = lstatSync(join(dir, digest), { throwIfNoEntry: false })?.isFile() === true;
    if (goodCopy || atimeOf(st) < this.cutoff) {
      if (unlinkIfPresent(path)) {
        this.c.removedBad++;
        this.c.removedBytes += st.size;
      }
      return;
    }
    this.c.stillBad++;
    if (atimeOf(st) < this.pendingBefore) this.c.pendingBytes += st.size;
    else this.c.diskBytes += st.size;
  }

  dotFile(dir: string, name: string): void {
    const aside = ASIDE.exec(name);
    if (aside !== null) return this.leftoverAside(dir, name, aside[1]!);
    if (!name.endsWith('.tmp')) return;
    const path = join(dir, name);
    const st = lstatSync(path, { throwIfNoEntry: false });
    // mtime, not atime: a temp file is only written, and every write moves mtime.
    if (st?.isFile() && st.mtimeMs < this.cutoff && unlinkIfPresent(path)) this.staleTempFiles++;
  }

  /** A crash interrupted removeIfStillUnused: finish it by the same rule. */
  leftoverAside(dir: string, name: string, digest: string): void {
    const path = join(dir, name);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) return;
    if (atimeOf(st) < this.cutoff) {
      if (unlinkIfPresent(path)) {
        this.c.removedChunks++;
        this.c.removedBytes += st.size;
      }
    } else if (restoreAside(path, join(dir, digest))) {
      this.keep(atimeOf(st), st.size);
    }
  }

  dir(dir: string): void {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if (errCode(err) === 'ENOENT') return;
      throw ioError(dir, err);
    }
    try {
      let bad: Array<[string, string]> | undefined;
      for (const name of names) {
        if (name.length === 64) {
          if (HEX64.test(name)) this.chunk(dir, name);
        } else if (name.charCodeAt(0) === 0x2e /* '.' */) {
          this.dotFile(dir, name);
        } else if (name.endsWith('.bad')) {
          const parsed = parseBadName(name);
          if (parsed) (bad ??= []).push([name, parsed.digest]);
        }
      }
      // After the chunks, so a good copy removed as garbage just now no longer counts.
      for (const [name, digest] of bad ?? []) this.bad(dir, name, digest);
    } catch (err) {
      throw isBulwarkError(err) ? err : ioError(dir, err);
    }
  }
}

/** Phase 2 over every prefix dir; fills the disk, removed, pending and bad counters. */
export async function sweepUnusedChunks(store: string, counters: GcCounters, ctx: GcPhaseContext, opts: SweepOptions): Promise<SweepResult> {
  const root = join(resolve(store), CHUNK_DIR_NAME);
  let prefixes: string[];
  try {
    // The existing prefix dirs only: one readdir on a full store, cheap on a sparse one.
    prefixes = readdirSync(root).filter((n) => PREFIX.test(n)).sort();
  } catch (err) {
    throw ioError(root, err);
  }
  const s = new Sweeper(counters, opts.cutoff, opts.pendingBefore);
  const report = percentReporter(ctx, 'sweep', (pct) => `processed ${pct}% (${s.chunksSeen} chunks)`);
  try {
    for (let i = 0; i < prefixes.length; i++) {
      await ctx.pacer.step();
      s.dir(join(root, prefixes[i]!));
      await s.unlinks.settle();
      report(i + 1, prefixes.length);
    }
    await s.unlinks.settle(0);
  } finally {
    await s.unlinks.settle(0).catch(() => undefined); // never leave unlinks running behind an error
  }
  if (prefixes.length === 0) report(0, 0);
  if (s.staleTempFiles > 0) ctx.log(`removed ${s.staleTempFiles} stale temporary chunk files`);
  return { chunksSeen: s.chunksSeen, staleTempFiles: s.staleTempFiles };
}
