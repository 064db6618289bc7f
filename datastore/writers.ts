/**
 * Registry of running backup writers, shared by every process using a store,
 * so GC can bound its cutoff by the oldest running backup (a backup may
 * reference chunks that GC phase 1 never saw in any finished index).
 *
 * One file per writer: `<store>/.locks/writers/<pid>-<random>.json` holding
 * `{ "pid", "startedAt" (epoch ms), "ns", "group" }`, with an exclusive OFD
 * lock held on it for the writer's whole life. A file whose lock can be taken
 * belongs to a dead process and is removed on sight by `listActiveWriters`.
 *
 * Registration never shows an unlocked file: the entry is created under a
 * dot-prefixed `.tmp` name, locked, filled in, and only then renamed to its
 * `.json` name (the lock stays with the inode). A lister that finds a `.tmp`
 * it can lock removes it; the registering side then sees its own lock or
 * rename fail and retries under a new name.
 */
import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { bulwarkError } from '../errors.ts';
import { commitTempFileSync, tempPathFor } from './atomic-write.ts';
import { BackupGroup, BackupNamespace, parseGroupRef } from './backup-ref.ts';
import { writersDir } from './layout.ts';
import { tryLockFd, unlockFd } from './locks.ts';

export interface WriterInfo {
  readonly pid: number;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly group: BackupGroup;
  /** The registration file. */
  readonly file: string;
}

export interface WriterHandle extends WriterInfo {
  readonly active: boolean;
  /** Delete the registration and drop its lock. Idempotent. */
  release(): void;
  [Symbol.dispose](): void;
}

const errCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;
const MAX_ATTEMPTS = 16;

class Registration implements WriterHandle {
  #fd: number | undefined;
  readonly pid = process.pid;
  constructor(fd: number, readonly file: string, readonly group: BackupGroup, readonly startedAt: number) {
    this.#fd = fd;
  }

  get active(): boolean { return this.#fd !== undefined; }

  release(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    // Unlink while still holding the lock, so no lister can mistake it for stale half-way.
    try { unlinkSync(this.file); } catch (err) { if (errCode(err) !== 'ENOENT') throw err; } finally {
      unlockFd(fd);
      closeSync(fd);
    }
  }

  [Symbol.dispose](): void { this.release(); }
}

/** Register a running backup of `group` started at `startedAt` (epoch ms). */
export async function registerWriter(store: string, opts: { group: BackupGroup; startedAt: number }): Promise<WriterHandle> {
  const { group, startedAt } = opts;
  if (!(group instanceof BackupGroup)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'group', 'not a BackupGroup');
  if (!Number.isSafeInteger(startedAt) || startedAt < 0) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'startedAt', String(startedAt));
  const dir = writersDir(store);
  const body = JSON.stringify({ pid: process.pid, startedAt, ns: group.ns.toString(), group: group.toString() });
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${process.pid}-${randomBytes(8).toString('hex')}.json`);
    const tmp = tempPathFor(file);
    let fd: number;
    try {
      fd = openSync(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    } catch (err) {
      if (errCode(err) === 'ENOENT' || errCode(err) === 'EEXIST') continue;
      throw bulwarkError('BULWARK_IO', tmp, (err as Error).message, { cause: err });
    }
    if (!tryLockFd(fd, 'exclusive')) { closeSync(fd); continue; } // a lister took our fresh temp file and will delete it
    try {
      writeSync(fd, body);
      commitTempFileSync(tmp, file);
      return new Registration(fd, file, group, startedAt);
    } catch (err) {
      unlockFd(fd);
      closeSync(fd);
      if (errCode(err) === 'ENOENT') continue; // the temp file was removed under us
      try { unlinkSync(tmp); } catch { /* best effort */ }
      throw bulwarkError('BULWARK_IO', file, (err as Error).message, { cause: err });
    }
  }
  throw bulwarkError('BULWARK_INTERNAL', `could not register a backup writer in ${dir}`);
}

function parseEntry(file: string, text: string): WriterInfo | undefined {
  try {
    const raw = JSON.parse(text) as { pid?: unknown; startedAt?: unknown; ns?: unknown; group?: unknown };
    if (typeof raw.pid !== 'number' || typeof raw.startedAt !== 'number' || !Number.isSafeInteger(raw.startedAt)) return undefined;
    if (typeof raw.group !== 'string' || typeof raw.ns !== 'string') return undefined;
    return { pid: raw.pid, startedAt: raw.startedAt, group: parseGroupRef(raw.group, BackupNamespace.parse(raw.ns)), file };
  } catch {
    return undefined;
  }
}

/**
 * The backups running right now, oldest first. Entries whose owner died are
 * deleted as they are found; unreadable live entries are skipped.
 */
export async function listActiveWriters(store: string): Promise<WriterInfo[]> {
  const dir = writersDir(store);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return [];
    throw bulwarkError('BULWARK_IO', dir, (err as Error).message, { cause: err });
  }
  const live: WriterInfo[] = [];
  for (const name of names) {
    const isEntry = name.endsWith('.json') && !name.startsWith('.');
    const isTemp = name.startsWith('.') && name.endsWith('.tmp');
    if (!isEntry && !isTemp) continue;
    const file = join(dir, name);
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDWR | constants.O_NOFOLLOW);
    } catch {
      continue; // gone already, or not a plain file
    }
    try {
      if (tryLockFd(fd, 'exclusive')) {
        // Nobody holds it: its writer is dead (or it is a temp we won). Heal now, while holding the lock.
        try { unlinkSync(file); } catch { /* already gone */ }
        unlockFd(fd);
        continue;
      }
      if (isEntry) {
        const info = parseEntry(file, readFileSync(fd, 'utf8'));
        if (info !== undefined) live.push(info);
      }
    } finally {
      closeSync(fd);
    }
  }
  return live.sort((a, b) => a.startedAt - b.startedAt || a.file.localeCompare(b.file));
}

/** Start (epoch ms) of the oldest running backup, or undefined when none runs. */
export async function oldestActiveWriterStart(store: string): Promise<number | undefined> {
  return (await listActiveWriters(store))[0]?.startedAt;
}
