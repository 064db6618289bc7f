/**
 * Small per-group and per-snapshot metadata files:
 * - `<group>/owner`: the auth id owning the group (`admin@pbs`,
 *   `user@pbs!token`), one line with a trailing newline as PBS writes it.
 * - `<group>/notes`: free text (snapshot notes live in the manifest's
 *   unprotected part and are handled by the manifest code).
 * - `<snapshot>/.protected`: empty marker; while it exists the snapshot is
 *   never removed by prune or remove.
 * Files are read with O_NOFOLLOW and replaced through `atomic-write.ts`.
 */
import { constants } from 'node:fs';
import { link, lstat, open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { bulwarkError } from '../errors.ts';
import { atomicWriteFile, fsyncDir, tempPathFor } from './atomic-write.ts';
import type { BackupDir, BackupGroup } from './backup-ref.ts';
import { type Lock, lockSnapshot } from './locks.ts';
import { NOTES_FILE, OWNER_FILE, PROTECTED_MARKER, groupParts, requireDir, snapshotParts, snapshotLockPath } from './layout.ts';
import { validateAuthId } from './names.ts';

/** Owner and notes files are tiny; anything bigger is not ours. */
const MAX_META_FILE = 1024 * 1024;

const errCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

/** File content, or undefined when it does not exist. Never follows a symlink. */
async function readSmallFile(path: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    if (errCode(err) === 'ELOOP') throw bulwarkError('BULWARK_IO', path, 'is a symbolic link; links inside a store are never followed');
    throw bulwarkError('BULWARK_IO', path, (err as Error).message, { cause: err });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw bulwarkError('BULWARK_IO', path, 'is not a regular file');
    if (st.size > MAX_META_FILE) throw bulwarkError('BULWARK_IO', path, `larger than ${MAX_META_FILE} bytes`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

const groupDir = (store: string, group: BackupGroup): Promise<string> =>
  requireDir(store, groupParts(group), `backup group ${group.describe()}`);

const snapshotDir = (store: string, dir: BackupDir): Promise<string> =>
  requireDir(store, snapshotParts(dir), `snapshot ${dir.describe()}`);

function parseOwner(text: string): string {
  return validateAuthId(text.replace(/\r?\n$/, ''));
}

// ── owner ──────────────────────────────────────────────────────────────────

/** The group's owner, or undefined when its `owner` file is missing. BULWARK_NOT_FOUND when the group is. */
export async function readOwner(store: string, group: BackupGroup): Promise<string | undefined> {
  const text = await readSmallFile(join(await groupDir(store, group), OWNER_FILE));
  return text === undefined ? undefined : parseOwner(text);
}

/** Replace the owner (change-owner). Atomic and fsync'd. */
export async function writeOwner(store: string, group: BackupGroup, owner: string): Promise<void> {
  validateAuthId(owner);
  await atomicWriteFile(join(await groupDir(store, group), OWNER_FILE), `${owner}\n`, { fsync: true });
}

/**
 * Set the owner only if the group has none yet, and return whoever owns it
 * afterwards. Exclusive by construction: the file is written under a temp
 * name and hard-linked into place, which fails if `owner` exists, so two
 * first backups racing for a new group get one winner.
 */
export async function createOwnerIfAbsent(store: string, group: BackupGroup, owner: string): Promise<{ owner: string; created: boolean }> {
  validateAuthId(owner);
  const path = join(await groupDir(store, group), OWNER_FILE);
  const tmp = tempPathFor(path);
  const handle = await open(tmp, 'wx', 0o644);
  try {
    await handle.writeFile(`${owner}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, path);
    await fsyncDir(dirname(path));
    return { owner, created: true };
  } catch (err) {
    if (errCode(err) !== 'EEXIST') throw bulwarkError('BULWARK_IO', path, (err as Error).message, { cause: err });
  } finally {
    await rm(tmp, { force: true });
  }
  const existing = await readSmallFile(path);
  if (existing === undefined) throw bulwarkError('BULWARK_IO', path, 'owner file vanished while creating it');
  return { owner: parseOwner(existing), created: false };
}

// ── notes ──────────────────────────────────────────────────────────────────

/** Group notes; `''` when there are none. */
export async function readNotes(store: string, group: BackupGroup): Promise<string> {
  return (await readSmallFile(join(await groupDir(store, group), NOTES_FILE))) ?? '';
}

export async function writeNotes(store: string, group: BackupGroup, notes: string): Promise<void> {
  if (Buffer.byteLength(notes) > MAX_META_FILE) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'notes', `longer than ${MAX_META_FILE} bytes`);
  }
  await atomicWriteFile(join(await groupDir(store, group), NOTES_FILE), notes, { fsync: true });
}

// ── protection ─────────────────────────────────────────────────────────────

/** Anything named `.protected` counts: when in doubt, keep the snapshot. */
export async function isProtected(store: string, dir: BackupDir): Promise<boolean> {
  try {
    await lstat(join(await snapshotDir(store, dir), PROTECTED_MARKER));
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Set or clear the protected marker. Takes the snapshot's shared lock (or
 * uses a lock the caller holds) so it can't interleave with a removal that
 * has already checked the marker; readers don't block it, a running backup
 * or removal does (BULWARK_LOCKED).
 */
export async function setProtected(store: string, dir: BackupDir, value: boolean, opts: { lock?: Lock } = {}): Promise<void> {
  const path = join(await snapshotDir(store, dir), PROTECTED_MARKER);
  if (opts.lock !== undefined && (!opts.lock.held || opts.lock.path !== snapshotLockPath(store, dir))) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'lock', `not a held lock of snapshot ${dir.describe()}`);
  }
  const lock = opts.lock ?? (await lockSnapshot(store, dir, { shared: true }));
  try {
    if (value) {
      const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
      await handle.close();
    } else {
      await rm(path, { force: true });
    }
    await fsyncDir(dirname(path));
  } finally {
    if (opts.lock === undefined) lock.release();
  }
}
