/**
 * Creating, listing and removing namespaces, groups and snapshot dirs.
 *
 * Listings skip whatever does not fit the layout (stray files, invalid names,
 * symlinks) instead of failing: a store must stay usable when someone drops a
 * file into it. Operations on a named target check the path chain first
 * (`requireDir`) and never follow a symlink inside the store.
 *
 * Removal rules: protected snapshots are never removed; a snapshot is removed
 * only under its exclusive lock (so not while it is written or read), its
 * manifest first, so a crash half-way leaves an unfinished snapshot rather
 * than a "finished" one with missing archives; a group only under its group
 * lock; containers (group, namespace) stay while anything protected is left.
 */
import { mkdir, readdir, rm, rmdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { BackupDir, BackupGroup, BackupNamespace, compareGroups, compareNamespaces } from './backup-ref.ts';
import { createOwnerIfAbsent, isProtected, readOwner } from './group-meta.ts';
import {
  MANIFEST_NAME, NS_DIR, PROTECTED_MARKER, groupParts, groupSnapshotLocksDir, namespaceParts, requireDir,
  snapshotLockPath, snapshotParts,
} from './layout.ts';
import { type Lock, lockGroup, lockSnapshot, pruneEmptyLockDirs } from './locks.ts';
import { BACKUP_TYPES, MAX_NAMESPACE_DEPTH, validateAuthId } from './names.ts';

export interface SnapshotInfo {
  readonly dir: BackupDir;
  /** The manifest (`index.json.blob`) exists. */
  readonly finished: boolean;
  readonly protected: boolean;
  readonly path: string;
}

export interface GroupInfo {
  readonly group: BackupGroup;
  readonly type: BackupGroup['type'];
  readonly id: string;
  /** Undefined when the `owner` file is missing or unreadable. */
  readonly owner: string | undefined;
  /** Newest snapshot of any state (epoch s). */
  readonly lastSnapshotTime: number | undefined;
  /** Newest finished snapshot (epoch s); PBS's `last-backup`. */
  readonly lastFinishedTime: number | undefined;
  readonly snapshotCount: number;
  readonly path: string;
}

const errCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

const nsDirOf = (store: string, ns: BackupNamespace): Promise<string> =>
  requireDir(store, namespaceParts(ns), ns.describe());
const groupDirOf = (store: string, group: BackupGroup): Promise<string> =>
  requireDir(store, groupParts(group), `backup group ${group.describe()}`);

/** Real subdirectories of `dir` (no symlinks); [] when `dir` is missing. */
async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return [];
    throw bulwarkError('BULWARK_IO', dir, (err as Error).message, { cause: err });
  }
}

/** `make()` for each name that it accepts; invalid names are skipped. */
function validOnly<T>(names: string[], make: (name: string) => T): T[] {
  const out: T[] = [];
  for (const name of names) {
    try { out.push(make(name)); } catch (err) { if (!isBulwarkError(err)) throw err; }
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try { await lstat(path); return true; } catch (err) { if (errCode(err) === 'ENOENT') return false; throw err; }
}

async function mkdirOnce(path: string): Promise<boolean> {
  try { await mkdir(path); return true; } catch (err) { if (errCode(err) === 'EEXIST') return false; throw err; }
}

// ── namespaces ─────────────────────────────────────────────────────────────

/** Create `ns`; its parent must exist (BULWARK_NOT_FOUND), `ns` must not (BULWARK_ALREADY_EXISTS). */
export async function createNamespace(store: string, ns: BackupNamespace): Promise<BackupNamespace> {
  const parent = ns.parent;
  if (parent === undefined) throw bulwarkError('BULWARK_ALREADY_EXISTS', 'the root namespace');
  const parentDir = await nsDirOf(store, parent);
  await mkdirOnce(join(parentDir, NS_DIR));
  const container = await requireDir(store, [...namespaceParts(parent), NS_DIR], parent.describe());
  if (!(await mkdirOnce(join(container, ns.name)))) throw bulwarkError('BULWARK_ALREADY_EXISTS', ns.describe());
  return ns;
}

/**
 * `parent` and the namespaces below it, at most `maxDepth` levels down
 * (0: only `parent`), in depth-first name order (PBS includes the base too).
 */
export async function listNamespaces(store: string, parent: BackupNamespace = BackupNamespace.root, maxDepth = MAX_NAMESPACE_DEPTH): Promise<BackupNamespace[]> {
  const out: BackupNamespace[] = [parent];
  const walk = async (ns: BackupNamespace, dir: string, left: number): Promise<void> => {
    if (left <= 0 || ns.depth >= MAX_NAMESPACE_DEPTH) return;
    const children = validOnly(await subdirs(join(dir, NS_DIR)), (name) => ns.child(name));
    for (const child of children) {
      out.push(child);
      await walk(child, join(dir, NS_DIR, child.name), left - 1);
    }
  };
  await walk(parent, await nsDirOf(store, parent), maxDepth);
  return out.sort(compareNamespaces);
}

/** Group refs directly in `ns` (no metadata). */
async function groupsIn(ns: BackupNamespace, nsDir: string): Promise<BackupGroup[]> {
  const groups: BackupGroup[] = [];
  const types = (await subdirs(nsDir)).filter((t) => (BACKUP_TYPES as readonly string[]).includes(t));
  for (const type of types) {
    groups.push(...validOnly(await subdirs(join(nsDir, type)), (id) => new BackupGroup(ns, type, id)));
  }
  return groups.sort(compareGroups);
}

/** Remove the empty skeleton of a namespace dir. False when something else is still in it. */
async function removeNamespaceSkeleton(nsDir: string): Promise<boolean> {
  for (const sub of [...BACKUP_TYPES, NS_DIR]) {
    try { await rmdir(join(nsDir, sub)); } catch (err) { if (errCode(err) !== 'ENOENT' && errCode(err) !== 'ENOTEMPTY') throw err; }
  }
  try {
    await rmdir(nsDir);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return true;
    if (errCode(err) === 'ENOTEMPTY') return false;
    throw err;
  }
}

export interface RemoveNamespaceResult {
  readonly removedNamespaces: BackupNamespace[];
  readonly removedGroups: BackupGroup[];
  readonly removedSnapshots: BackupDir[];
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Remove `ns` and everything below it. Without `deleteGroups` it must be
 * empty (no groups, no child namespaces). With it, groups are removed as by
 * `removeGroup`; if protected snapshots remain, their groups and namespaces
 * stay and BULWARK_NAMESPACE_NOT_EMPTY lists them (after removing the rest).
 * BULWARK_LOCKED from a busy group or snapshot aborts the walk.
 */
export async function removeNamespace(store: string, ns: BackupNamespace, opts: { deleteGroups?: boolean } = {}): Promise<RemoveNamespaceResult> {
  if (ns.isRoot) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'namespace', 'the root namespace cannot be removed');
  const nsDir = await nsDirOf(store, ns);
  if (!opts.deleteGroups) {
    const groups = await groupsIn(ns, nsDir);
    const children = (await listNamespaces(store, ns, 1)).length - 1;
    if (groups.length > 0 || children > 0) {
      throw bulwarkError('BULWARK_NAMESPACE_NOT_EMPTY', ns.toString(),
        `it holds ${plural(groups.length, 'backup group')} and ${plural(children, 'child namespace')}; delete the groups first, or delete with delete-groups (bulwark-client namespace delete --delete-groups)`);
    }
    if (!(await removeNamespaceSkeleton(nsDir))) throw bulwarkError('BULWARK_NAMESPACE_NOT_EMPTY', ns.toString(), 'it contains files that are not backups');
    return { removedNamespaces: [ns], removedGroups: [], removedSnapshots: [] };
  }

  const result = { removedNamespaces: [] as BackupNamespace[], removedGroups: [] as BackupGroup[], removedSnapshots: [] as BackupDir[] };
  const kept: BackupDir[] = [];
  // Children before parents, so a parent's skeleton is empty when we reach it.
  for (const sub of (await listNamespaces(store, ns)).reverse()) {
    const subDir = await nsDirOf(store, sub);
    for (const group of await groupsIn(sub, subDir)) {
      const r = await removeGroup(store, group);
      result.removedSnapshots.push(...r.removedSnapshots);
      kept.push(...r.protectedSnapshots);
      if (r.groupRemoved) result.removedGroups.push(group);
    }
    if (await removeNamespaceSkeleton(subDir)) result.removedNamespaces.push(sub);
  }
  if (await exists(nsDir)) {
    const why = kept.length > 0
      ? `${plural(kept.length, 'protected snapshot')} must stay: ${kept.slice(0, 5).map((d) => d.describe()).join(', ')}${kept.length > 5 ? ', …' : ''}`
      : 'it contains files that are not backups';
    throw bulwarkError('BULWARK_NAMESPACE_NOT_EMPTY', ns.toString(), why);
  }
  return result;
}

// ── groups ─────────────────────────────────────────────────────────────────

export interface EnsureGroupResult {
  /** The group's owner: always equal to the requested one (else OWNER_MISMATCH). */
  readonly owner: string;
  /** True when this call created the group dir. */
  readonly created: boolean;
  readonly path: string;
}

/**
 * Make sure `group` exists and is owned by `owner`, creating it if needed
 * (its namespace must exist: BULWARK_NOT_FOUND). An existing group owned by
 * someone else → BULWARK_OWNER_MISMATCH. Owner comparison is exact; whether a
 * token may act for its user is the caller's (auth) decision. Safe against a
 * concurrent first backup of the same group (see createOwnerIfAbsent).
 */
export async function ensureGroup(store: string, group: BackupGroup, owner: string): Promise<EnsureGroupResult> {
  validateAuthId(owner);
  const nsDir = await nsDirOf(store, group.ns);
  await mkdirOnce(join(nsDir, group.type));
  await requireDir(store, [...namespaceParts(group.ns), group.type], `backup type dir ${group.type}`);
  const created = await mkdirOnce(join(nsDir, group.type, group.id));
  const path = await groupDirOf(store, group);
  const actual = await createOwnerIfAbsent(store, group, owner);
  if (actual.owner !== owner) throw bulwarkError('BULWARK_OWNER_MISMATCH', group.describe(), actual.owner, owner);
  return { owner, created, path };
}

/** Like ensureGroup, but the group must not exist yet (BULWARK_ALREADY_EXISTS). */
export async function createGroup(store: string, group: BackupGroup, owner: string): Promise<EnsureGroupResult> {
  const nsDir = await nsDirOf(store, group.ns);
  if (await exists(join(nsDir, group.type, group.id))) throw bulwarkError('BULWARK_ALREADY_EXISTS', `backup group ${group.describe()}`);
  const r = await ensureGroup(store, group, owner);
  if (!r.created) throw bulwarkError('BULWARK_ALREADY_EXISTS', `backup group ${group.describe()}`);
  return r;
}

/** Groups directly in `ns`, sorted by type then id, with owner and snapshot summary. */
export async function listGroups(store: string, ns: BackupNamespace): Promise<GroupInfo[]> {
  const nsDir = await nsDirOf(store, ns);
  const out: GroupInfo[] = [];
  for (const group of await groupsIn(ns, nsDir)) {
    let snaps: SnapshotInfo[];
    try { snaps = await listSnapshots(store, group); } catch (err) { if (isBulwarkError(err)) continue; throw err; }
    const owner = await readOwner(store, group).catch((err: unknown) => { if (isBulwarkError(err)) return undefined; throw err; });
    const finished = snaps.filter((s) => s.finished);
    out.push({
      group, type: group.type, id: group.id, owner,
      lastSnapshotTime: snaps[snaps.length - 1]?.dir.time,
      lastFinishedTime: finished[finished.length - 1]?.dir.time,
      snapshotCount: snaps.length,
      path: join(nsDir, group.type, group.id),
    });
  }
  return out;
}

export interface RemoveGroupResult {
  readonly removedSnapshots: BackupDir[];
  readonly protectedSnapshots: BackupDir[];
  /** False when protected snapshots kept the group. */
  readonly groupRemoved: boolean;
}

/**
 * Remove every unprotected snapshot of `group` under the group lock, then the
 * group itself (owner, notes and all) if nothing protected is left.
 * BULWARK_LOCKED when a backup runs in the group or a snapshot is in use.
 */
export async function removeGroup(store: string, group: BackupGroup): Promise<RemoveGroupResult> {
  const path = await groupDirOf(store, group);
  const lock = await lockGroup(store, group);
  const removedSnapshots: BackupDir[] = [];
  const protectedSnapshots: BackupDir[] = [];
  let groupRemoved = false;
  try {
    for (const snap of await listSnapshots(store, group)) {
      if (snap.protected) { protectedSnapshots.push(snap.dir); continue; }
      try {
        await removeSnapshot(store, snap.dir);
        removedSnapshots.push(snap.dir);
      } catch (err) {
        if (!isBulwarkError(err, 'BULWARK_SNAPSHOT_PROTECTED')) throw err;
        protectedSnapshots.push(snap.dir); // protected since we listed it
      }
    }
    if (protectedSnapshots.length === 0) {
      await rm(path, { recursive: true, force: true });
      try { await rmdir(join(path, '..')); } catch { /* other groups of this type remain */ }
      groupRemoved = true;
    }
  } finally {
    if (groupRemoved) {
      lock.discard();
      pruneEmptyLockDirs(store, groupSnapshotLocksDir(store, group));
    } else {
      lock.release();
    }
  }
  return { removedSnapshots, protectedSnapshots, groupRemoved };
}

// ── snapshots ──────────────────────────────────────────────────────────────

/**
 * Create the snapshot dir; its group must exist (BULWARK_NOT_FOUND), the dir
 * must not (BULWARK_ALREADY_EXISTS). A backup takes the group lock and the
 * snapshot's exclusive lock *before* calling this.
 */
export async function createSnapshotDir(store: string, dir: BackupDir): Promise<string> {
  const path = join(await groupDirOf(store, dir.group), dir.timeString);
  if (!(await mkdirOnce(path))) throw bulwarkError('BULWARK_ALREADY_EXISTS', `snapshot ${dir.describe()}`);
  return path;
}

/** Snapshots of `group`, oldest first. */
export async function listSnapshots(store: string, group: BackupGroup): Promise<SnapshotInfo[]> {
  const gdir = await groupDirOf(store, group);
  const dirs = validOnly(await subdirs(gdir), (name) => {
    const d = new BackupDir(group, name);
    if (d.timeString !== name) throw bulwarkError('BULWARK_INVALID_BACKUP_TIME', name, 'not in canonical form');
    return d;
  });
  const out: SnapshotInfo[] = [];
  for (const dir of dirs.sort((a, b) => a.time - b.time)) {
    const path = join(gdir, dir.timeString);
    out.push({ dir, path, finished: await exists(join(path, MANIFEST_NAME)), protected: await exists(join(path, PROTECTED_MARKER)) });
  }
  return out;
}

export interface RemoveSnapshotOptions {
  /**
   * The caller already holds this snapshot's exclusive lock (the backup
   * session dropping its own unfinished snapshot); use it instead of locking.
   */
  readonly lock?: Lock;
  /** PBS's `force`: skip locking because the caller holds the lock. Prefer `lock`. */
  readonly force?: boolean;
}

/**
 * Remove one snapshot under its exclusive lock. Protected → BULWARK_SNAPSHOT_PROTECTED
 * (always, also with `force`); in use by a reader or a backup → BULWARK_LOCKED.
 */
export async function removeSnapshot(store: string, dir: BackupDir, opts: RemoveSnapshotOptions = {}): Promise<void> {
  const path = await requireDir(store, snapshotParts(dir), `snapshot ${dir.describe()}`);
  const given = opts.lock;
  if (given !== undefined && (!given.held || given.mode !== 'exclusive' || given.path !== snapshotLockPath(store, dir))) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'lock', `not a held exclusive lock of snapshot ${dir.describe()}`);
  }
  const own = given === undefined && !opts.force ? await lockSnapshot(store, dir, { exclusive: true }) : undefined;
  let removed = false;
  try {
    if (await isProtected(store, dir)) throw bulwarkError('BULWARK_SNAPSHOT_PROTECTED', dir.describe());
    await rm(join(path, MANIFEST_NAME), { force: true });
    await rm(path, { recursive: true, force: true });
    removed = true;
  } finally {
    if (own !== undefined) {
      if (removed) own.discard();
      else own.release();
    }
  }
}
