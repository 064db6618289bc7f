/**
 * Where things live in a store (after PBS):
 *
 *   <store>/                                  root namespace
 *   <store>/ns/<a>/ns/<b>/                     namespace a/b
 *   <ns dir>/<type>/<id>/                      backup group: `owner`, `notes`
 *   <group dir>/<RFC 3339 time>/               snapshot: `index.json.blob`,
 *                                              archives, `.protected`
 *   <store>/.locks/<same relative path>.lock   group and snapshot lock files
 *   <store>/.locks/jobs/<job>.lock             store-wide job locks (gc)
 *   <store>/.locks/writers/<pid>-<rand>.json   running backup writers
 *
 * Paths are built only from validated `BackupNamespace`/`BackupGroup`/
 * `BackupDir` values (no `/`, `..` or control characters can reach here), so
 * they can never leave the store. Lock files live outside the snapshot tree
 * so that removing a snapshot dir never removes a lock someone holds.
 *
 * Everything here is pure except `requireDir`, the one guard that checks a
 * path on disk before an operation uses it.
 */
import { lstat, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { bulwarkError } from '../errors.ts';
import type { BackupDir, BackupGroup, BackupNamespace } from './backup-ref.ts';
import { validateSafeId } from './names.ts';

export const NS_DIR = 'ns';
export const MANIFEST_NAME = 'index.json.blob';
export const OWNER_FILE = 'owner';
export const NOTES_FILE = 'notes';
export const PROTECTED_MARKER = '.protected';
export const LOCKS_DIR = '.locks';
export const LOCK_SUFFIX = '.lock';
export const JOBS_DIR = 'jobs';
export const WRITERS_DIR = 'writers';

// ── relative parts ─────────────────────────────────────────────────────────

/** `a/b` → `['ns','a','ns','b']`; root → `[]`. */
export function namespaceParts(ns: BackupNamespace): string[] {
  return ns.components.flatMap((c) => [NS_DIR, c]);
}

export function groupParts(group: BackupGroup): string[] {
  return [...namespaceParts(group.ns), group.type, group.id];
}

export function snapshotParts(dir: BackupDir): string[] {
  return [...groupParts(dir.group), dir.timeString];
}

// ── data paths ─────────────────────────────────────────────────────────────

export function namespacePath(store: string, ns: BackupNamespace): string {
  return join(resolve(store), ...namespaceParts(ns));
}

export function groupPath(store: string, group: BackupGroup): string {
  return join(resolve(store), ...groupParts(group));
}

export function snapshotPath(store: string, dir: BackupDir): string {
  return join(resolve(store), ...snapshotParts(dir));
}

export function manifestPath(store: string, dir: BackupDir): string {
  return join(snapshotPath(store, dir), MANIFEST_NAME);
}

export function protectedMarkerPath(store: string, dir: BackupDir): string {
  return join(snapshotPath(store, dir), PROTECTED_MARKER);
}

export function ownerPath(store: string, group: BackupGroup): string {
  return join(groupPath(store, group), OWNER_FILE);
}

export function notesPath(store: string, group: BackupGroup): string {
  return join(groupPath(store, group), NOTES_FILE);
}

// ── lock paths ─────────────────────────────────────────────────────────────

export function locksRoot(store: string): string {
  return join(resolve(store), LOCKS_DIR);
}

/** `.locks/ns/a/host/web1.lock` */
export function groupLockPath(store: string, group: BackupGroup): string {
  return join(locksRoot(store), ...groupParts(group)) + LOCK_SUFFIX;
}

/** `.locks/ns/a/host/web1/` — holds the group's snapshot lock files. */
export function groupSnapshotLocksDir(store: string, group: BackupGroup): string {
  return join(locksRoot(store), ...groupParts(group));
}

/** `.locks/ns/a/host/web1/2026-11-24T10:00:00Z.lock` */
export function snapshotLockPath(store: string, dir: BackupDir): string {
  return join(groupSnapshotLocksDir(store, dir.group), dir.timeString + LOCK_SUFFIX);
}

/** `.locks/jobs/gc.lock` */
export function jobLockPath(store: string, job: string): string {
  return join(locksRoot(store), JOBS_DIR, validateSafeId('job name', job) + LOCK_SUFFIX);
}

export function writersDir(store: string): string {
  return join(locksRoot(store), WRITERS_DIR);
}

// ── the on-disk guard ──────────────────────────────────────────────────────

/**
 * Check that `store/parts...` exists as a chain of real directories and
 * return its path. A missing level → BULWARK_NOT_FOUND naming `what`; a
 * symlink or non-directory anywhere below the store → BULWARK_IO, because
 * Bulwark never follows a link inside a store (one could point out of it).
 * The store dir itself may be a symlink: that is the admin's configuration.
 */
export async function requireDir(store: string, parts: readonly string[], what: string): Promise<string> {
  let path = resolve(store);
  try {
    if (!(await stat(path)).isDirectory()) throw bulwarkError('BULWARK_IO', path, 'datastore path is not a directory');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw bulwarkError('BULWARK_NOT_FOUND', `datastore directory ${path}`);
    throw err;
  }
  for (const part of parts) {
    path = join(path, part);
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw bulwarkError('BULWARK_NOT_FOUND', what);
      throw bulwarkError('BULWARK_IO', path, (err as Error).message, { cause: err });
    }
    if (st.isSymbolicLink()) throw bulwarkError('BULWARK_IO', path, 'is a symbolic link; links inside a store are never followed');
    if (!st.isDirectory()) throw bulwarkError('BULWARK_IO', path, 'is not a directory');
  }
  return path;
}
