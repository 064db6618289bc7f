/**
 * Group, snapshot and store-job locks, held by the kernel.
 *
 * Each lock is an open file description with an OFD fcntl lock on it
 * (`fs-native-extensions`: F_OFD_SETLK on Linux). OFD locks conflict between
 * any two open() calls, even inside one process, and the kernel drops them
 * when the descriptor is closed or the process dies (kill -9 included), so no
 * lock ever needs to be removed by hand.
 *
 * What is locked (as in PBS; there is no store-wide exclusive lock):
 * - group, exclusive: one backup writer per group; group removal.
 * - snapshot, shared: readers, verify, setting protection.
 *   snapshot, exclusive: the backup writing it, prune/remove.
 *   A writer takes its snapshot lock *before* creating the snapshot dir,
 *   which works because lock files live in `<store>/.locks/`, not in the dir.
 * - store job (`gc`), exclusive: one garbage collection per store.
 * Every call is a try-lock: failure is BULWARK_LOCKED at once, or after
 * `timeoutMs` of polling when asked for.
 *
 * Lock files and removal. Unlinking a lock file that another process has just
 * opened would let two processes "hold" the same lock on two different
 * inodes. Bulwark therefore (1) unlinks a lock file only while holding it
 * exclusively (`Lock.discard()`), and (2) after every successful lock checks
 * that the locked inode is still the one at the path, and if not drops it and
 * starts over. Whoever wins the lock on a discarded inode sees the mismatch,
 * so discard is safe. Lock dirs are pruned only when empty; acquirers re-create
 * them (mkdir -p) and retry when a dir vanishes between mkdir and open.
 * Shared locks never discard: a reader can't know it is the last one.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bulwarkError } from '../errors.ts';
import { lazyAddon } from '../native/lazy-addon.ts';
import type { BackupDir, BackupGroup } from './backup-ref.ts';
import { groupLockPath, jobLockPath, locksRoot, snapshotLockPath } from './layout.ts';

// ── native binding ─────────────────────────────────────────────────────────

interface NativeLocks {
  tryLock(fd: number, opts?: { shared?: boolean }): boolean;
  unlock(fd: number): void;
}

const nativeLocks = lazyAddon<NativeLocks>('fs-native-extensions');

/** Kernel try-lock on an fd opened read-write. False when someone else holds a conflicting lock. */
export function tryLockFd(fd: number, mode: LockMode): boolean {
  return nativeLocks().tryLock(fd, { shared: mode === 'shared' });
}

export function unlockFd(fd: number): void {
  nativeLocks().unlock(fd);
}

// ── the lock handle ────────────────────────────────────────────────────────

export type LockMode = 'shared' | 'exclusive';

export interface Lock {
  readonly path: string;
  readonly mode: LockMode;
  readonly held: boolean;
  /** Unlock and close. Idempotent. */
  release(): void;
  /**
   * Unlink the lock file while still holding it, then release (exclusive
   * only; safe because acquirers verify the inode after locking).
   */
  discard(): void;
  [Symbol.dispose](): void;
}

class FileLock implements Lock {
  #fd: number | undefined;
  constructor(fd: number, readonly path: string, readonly mode: LockMode) {
    this.#fd = fd;
  }

  get held(): boolean { return this.#fd !== undefined; }

  release(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    try { unlockFd(fd); } finally { closeSync(fd); }
  }

  discard(): void {
    if (this.#fd === undefined) return;
    if (this.mode !== 'exclusive') throw bulwarkError('BULWARK_INTERNAL', `cannot discard shared lock ${this.path}`);
    try {
      unlinkSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') { this.release(); throw err; }
    }
    this.release();
  }

  [Symbol.dispose](): void { this.release(); }
}

const isCode = (err: unknown, ...codes: string[]): boolean => codes.includes((err as NodeJS.ErrnoException).code ?? '');

function sameInode(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch (err) {
    if (isCode(err, 'ENOENT')) return false;
    throw err;
  }
}

const OPEN_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW;
const MAX_RACE_RETRIES = 16;

/** One attempt: the lock, or undefined when someone holds it. Sync on purpose: no interleaving between open, lock and check. */
function tryAcquire(path: string, mode: LockMode): FileLock | undefined {
  for (let i = 0; i < MAX_RACE_RETRIES; i++) {
    mkdirSync(dirname(path), { recursive: true });
    let fd: number;
    try {
      fd = openSync(path, OPEN_FLAGS, 0o644);
    } catch (err) {
      if (isCode(err, 'ENOENT')) continue; // lock dir pruned between mkdir and open
      if (isCode(err, 'ELOOP')) throw bulwarkError('BULWARK_IO', path, 'lock file is a symbolic link', { cause: err });
      throw bulwarkError('BULWARK_IO', path, (err as Error).message, { cause: err });
    }
    let locked: boolean;
    try {
      locked = tryLockFd(fd, mode);
    } catch (err) {
      closeSync(fd);
      throw bulwarkError('BULWARK_IO', path, (err as Error).message, { cause: err });
    }
    if (!locked) {
      closeSync(fd);
      return undefined;
    }
    if (sameInode(fd, path)) return new FileLock(fd, path, mode);
    // We locked an inode that its holder discarded after our open: start over.
    unlockFd(fd);
    closeSync(fd);
  }
  throw bulwarkError('BULWARK_INTERNAL', `lock file ${path} kept being replaced while locking`);
}

export interface LockWaitOptions {
  /** Keep retrying this long before BULWARK_LOCKED (default 0: try once). */
  readonly timeoutMs?: number;
  /** Pause between retries (default 50 ms). */
  readonly retryIntervalMs?: number;
}

async function acquire(path: string, mode: LockMode, what: string, busy: string, opts: LockWaitOptions): Promise<Lock> {
  const timeoutMs = opts.timeoutMs ?? 0;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const lock = tryAcquire(path, mode);
    if (lock !== undefined) return lock;
    const left = deadline - performance.now();
    if (left <= 0) throw bulwarkError('BULWARK_LOCKED', what, busy);
    await sleep(Math.min(opts.retryIntervalMs ?? 50, left));
  }
}

// ── public lock kinds ──────────────────────────────────────────────────────

export interface GroupLockOptions extends LockWaitOptions {
  /** Group locks are always exclusive; accepted for readability. */
  readonly exclusive?: true;
}

/** One writer (or remover) per group. */
export async function lockGroup(store: string, group: BackupGroup, opts: GroupLockOptions = {}): Promise<Lock> {
  return acquire(groupLockPath(store, group), 'exclusive', `backup group ${group.describe()}`,
    'another backup is running in this group (or the group is being removed)', opts);
}

export type SnapshotLockOptions = LockWaitOptions &
  ({ readonly shared: true; readonly exclusive?: false } | { readonly exclusive: true; readonly shared?: false });

/** Shared for readers/verify, exclusive for the backup writing it and for prune/remove. */
export async function lockSnapshot(store: string, dir: BackupDir, opts: SnapshotLockOptions): Promise<Lock> {
  const shared = opts.shared === true;
  if (shared === (opts.exclusive === true)) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'snapshot lock mode', 'pass exactly one of { shared: true } or { exclusive: true }');
  }
  return acquire(snapshotLockPath(store, dir), shared ? 'shared' : 'exclusive', `snapshot ${dir.describe()}`,
    shared ? 'snapshot is being written or removed' : 'snapshot is in use by a reader or backup', opts);
}

const JOB_BUSY: Record<string, string> = { gc: 'garbage collection is already running on this datastore' };

/** Store-wide single-instance job lock, e.g. `lockStoreJob(store, 'gc')`. */
export async function lockStoreJob(store: string, job: string, opts: LockWaitOptions = {}): Promise<Lock> {
  return acquire(jobLockPath(store, job), 'exclusive', `${job} job on datastore ${resolve(store)}`,
    JOB_BUSY[job] ?? `a ${job} job is already running on this datastore`, opts);
}

/**
 * Remove now-empty lock directories from `dir` up to (not including)
 * `<store>/.locks`. Stops at the first non-empty one. Safe at any time:
 * acquirers re-create dirs and retry.
 */
export function pruneEmptyLockDirs(store: string, dir: string): void {
  const root = locksRoot(store);
  let d = resolve(dir);
  while (d.startsWith(root + '/') && d !== root) {
    try {
      rmdirSync(d);
    } catch {
      return; // ENOTEMPTY, ENOENT or anything else: leave it
    }
    d = dirname(d);
  }
}
