/**
 * Changing what a datastore holds, under /api2/json/admin/datastore/{store},
 * with PBS's paths, parameters and privileges (src/api2/admin/datastore.rs,
 * namespace.rs). ACL paths are `/datastore/{store}[/{ns}]`.
 * - `DELETE snapshots`, `DELETE groups`: Datastore.Modify, or Datastore.Prune
 *   on an owned group. Protected snapshots stay: deleting one is a 409 and
 *   removes nothing; a group delete removes the rest and then answers 409.
 * - `namespace`: GET lists (any of Audit/Modify/Read/Backup, per namespace);
 *   POST creates and DELETE removes, both with Datastore.Modify on the
 *   *parent* (PBS check_ns_modification_privs).
 * - `protected`, `notes` (the manifest's unprotected part, so a signature
 *   stays valid), `group-notes`: reading needs Datastore.Audit, writing
 *   Datastore.Modify; Datastore.Backup does both on owned groups.
 * - `POST change-owner`: Datastore.Modify; Datastore.Backup only moves an
 *   owned group between a user and that user's own tokens.
 * Order of refusals, as in PBS: bad parameters (400) before privileges (403)
 * before the store's state (503) before ownership and existence.
 */
import { join } from 'node:path';
import { parseAuthid } from '../../auth/acl.ts';
import type { Privilege } from '../../auth/privileges.ts';
import { resolveStore, type StoreAccess } from '../../actors/store-access.ts';
import { BackupDir, BackupGroup, BackupNamespace } from '../../datastore/backup-ref.ts';
import { isProtected, readNotes, readOwner, setProtected, writeNotes, writeOwner } from '../../datastore/group-meta.ts';
import { MANIFEST_NAME, requireDir, snapshotParts } from '../../datastore/layout.ts';
import { lockSnapshot } from '../../datastore/locks.ts';
import { readManifest, updateUnprotected, type Manifest } from '../../datastore/manifest.ts';
import { MAX_NAMESPACE_DEPTH, isBackupType, validateBackupId, validateNamespaceComponent } from '../../datastore/names.ts';
import { createNamespace, listNamespaces, removeGroup, removeNamespace, removeSnapshot } from '../../datastore/snapshots.ts';
import { bulwarkError, isBulwarkError } from '../../errors.ts';
import { apiRoute, type ApiRequest } from '../http-api.ts';
import { requestParams, type Params } from '../params.ts';
import type { TemplatedApp } from '../uws.ts';
import { authenticated, authenticatedWrite, datastoreConfig, ownsGroup, type ApiContext } from '../api-context.ts';
import { aclPath } from '../ws-upgrade.ts';

/** PBS NS_PRIVS_OK: any of these on a namespace makes it visible. */
const NS_PRIVS: readonly Privilege[] = ['Datastore.Modify', 'Datastore.Read', 'Datastore.Backup', 'Datastore.Audit'];
/** PBS limits the `name` of a new namespace to 32 characters. */
const MAX_NEW_NAMESPACE_NAME = 32;

// ── parameters ─────────────────────────────────────────────────────────────

/** Run a validator; a 400 it throws becomes BULWARK_INVALID_ARGUMENT naming the request parameter. */
function asParam<T>(name: string, make: () => T): T {
  try {
    return make();
  } catch (err) {
    if (isBulwarkError(err) && err.http === 400 && err.code !== 'BULWARK_INVALID_ARGUMENT') {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, err.message, { cause: err });
    }
    throw err;
  }
}

const nsParam = (p: Params, name = 'ns'): BackupNamespace => asParam(name, () => BackupNamespace.parse(p.string(name) ?? ''));

function groupParam(p: Params, ns: BackupNamespace): BackupGroup {
  const type = p.required('backup-type');
  if (!isBackupType(type)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'backup-type', `${JSON.stringify(type)} is not vm, ct or host`);
  const id = asParam('backup-id', () => validateBackupId(p.required('backup-id')));
  return new BackupGroup(ns, type, id);
}

function snapshotParam(p: Params, ns: BackupNamespace): BackupDir {
  const group = groupParam(p, ns);
  const time = p.int('backup-time', { min: 0 });
  if (time === undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'backup-time', 'parameter is missing');
  return asParam('backup-time', () => new BackupDir(group, time));
}

/** A text parameter that may be empty (notes are cleared with ''), but must be sent. */
function textParam(p: Params, name: string): string {
  const v = p.string(name);
  if (v === undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, 'parameter is missing');
  return v;
}

function boolParam(p: Params, name: string): boolean {
  const v = p.bool(name);
  if (v === undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, 'parameter is missing');
  return v;
}

// ── access ─────────────────────────────────────────────────────────────────

interface Target {
  readonly authid: string;
  readonly store: string;
  readonly p: Params;
  readonly ns: BackupNamespace;
}

function target(ctx: ApiContext, req: ApiRequest, write: boolean): Target {
  const { authid } = write ? authenticatedWrite(ctx, req) : authenticated(ctx, req);
  const store = datastoreConfig(ctx, req.params.store!).name;
  const p = requestParams(req);
  return { authid, store, p, ns: nsParam(p) };
}

/**
 * PBS check_privs_and_load_store: `full` on the namespace reaches every
 * group, `lesser` only groups the caller (or, for a user, their token) owns.
 * Returns the store's path once the store may be used for `use`.
 */
async function groupAccess(ctx: ApiContext, t: Target, group: BackupGroup, full: Privilege, lesser: Privilege, use: StoreAccess): Promise<string> {
  const path = aclPath(t.store, t.ns.toString());
  const limited = !ctx.auth.privileges(t.authid, path).has(full);
  if (limited) ctx.auth.check(t.authid, path, [full, lesser], { partial: true });
  const storePath = resolveStore(ctx.system, t.store, use);
  if (limited && !ownsGroup(await readOwner(storePath, group), t.authid)) {
    throw bulwarkError('BULWARK_FORBIDDEN', t.authid, `${full} on ${path} (${lesser} reaches only owned groups, and ${group.describe()} is not owned by ${t.authid})`);
  }
  return storePath;
}

/** PBS check_ns_modification_privs: creating or deleting `ns` needs Datastore.Modify on its parent. */
function checkNamespaceModify(ctx: ApiContext, t: Target, ns: BackupNamespace): void {
  ctx.auth.check(t.authid, aclPath(t.store, ns.parent!.toString()), 'Datastore.Modify');
}

/**
 * PBS set_backup_owner without Datastore.Modify: the caller, a user, moves
 * an owned group between themselves and their own tokens (token → token of
 * the same user included); user → other user never.
 */
function mayMoveOwnership(caller: string, owner: string | undefined, newOwner: string): boolean {
  if (owner === undefined) return false;
  const ownerUser = parseAuthid(owner).userid;
  const newUser = parseAuthid(newOwner).userid;
  const ownerIsToken = owner.includes('!');
  const newIsToken = newOwner.includes('!');
  // A token caller never equals a user id, so only users pass.
  if (ownerIsToken && newIsToken) return ownerUser === caller && newUser === caller;
  if (ownerIsToken) return ownerUser === caller && newOwner === caller;
  if (newIsToken) return owner === caller && newUser === caller;
  return false;
}

const snapshotPath = (storePath: string, dir: BackupDir): Promise<string> =>
  requireDir(storePath, snapshotParts(dir), `snapshot ${dir.describe()}`);

/** The manifest, or 404 naming the snapshot (not the server path) when it is unfinished. */
function loadManifest(path: string, dir: BackupDir): Manifest {
  try {
    return readManifest(join(path, MANIFEST_NAME));
  } catch (err) {
    if (isBulwarkError(err, 'BULWARK_NOT_FOUND')) throw bulwarkError('BULWARK_NOT_FOUND', `manifest of unfinished snapshot ${dir.describe()}`, { cause: err });
    throw err;
  }
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

// ── routes ─────────────────────────────────────────────────────────────────

export function datastoreContentRoutes(app: TemplatedApp, ctx: ApiContext): void {
  const route = (method: 'get' | 'post' | 'put' | 'del', sub: string, handler: (req: ApiRequest) => unknown): void =>
    apiRoute(app, ctx.log, method, `/admin/datastore/:store/${sub}`, handler);

  route('del', 'snapshots', async (req) => {
    const t = target(ctx, req, true);
    const dir = snapshotParam(t.p, t.ns);
    const storePath = await groupAccess(ctx, t, dir.group, 'Datastore.Modify', 'Datastore.Prune', 'writable');
    await removeSnapshot(storePath, dir);
    return null;
  });

  route('del', 'groups', async (req) => {
    const t = target(ctx, req, true);
    const group = groupParam(t.p, t.ns);
    const storePath = await groupAccess(ctx, t, group, 'Datastore.Modify', 'Datastore.Prune', 'writable');
    const r = await removeGroup(storePath, group);
    if (!r.groupRemoved) {
      const kept = r.protectedSnapshots.map((d) => d.timeString);
      throw bulwarkError('BULWARK_GROUP_NOT_EMPTY', group.describe(),
        `${plural(kept.length, 'protected snapshot')} must stay (${kept.slice(0, 5).join(', ')}${kept.length > 5 ? ', …' : ''}); ${plural(r.removedSnapshots.length, 'snapshot')} deleted`);
    }
    return null;
  });

  // ── namespaces ───────────────────────────────────────────────────────────

  route('get', 'namespace', async (req) => {
    const t = target(ctx, req, false);
    const parent = nsParam(t.p, 'parent');
    const maxDepth = t.p.int('max-depth', { min: 0, max: MAX_NAMESPACE_DEPTH }) ?? MAX_NAMESPACE_DEPTH;
    const parentPath = aclPath(t.store, parent.toString());
    const parentOk = NS_PRIVS.some((priv) => ctx.auth.privileges(t.authid, parentPath).has(priv));
    const refuse = (): never => { throw bulwarkError('BULWARK_FORBIDDEN', t.authid, `${NS_PRIVS.join('|')} on ${parentPath}`); };
    const storePath = resolveStore(ctx.system, t.store, 'readable');
    let all: BackupNamespace[];
    try {
      all = await listNamespaces(storePath, parent, maxDepth);
    } catch (err) {
      if (!parentOk) refuse(); // say nothing about whether it exists
      throw err;
    }
    const visible = all.filter((ns) => {
      const privs = ctx.auth.privileges(t.authid, aclPath(t.store, ns.toString()));
      return NS_PRIVS.some((priv) => privs.has(priv));
    });
    if (visible.length === 0 && !parentOk) refuse();
    return visible.map((ns) => ({ ns: ns.toString() }));
  });

  route('post', 'namespace', async (req) => {
    const t = target(ctx, req, true);
    const parent = nsParam(t.p, 'parent');
    const name = asParam('name', () => validateNamespaceComponent(t.p.required('name')));
    if (name.length > MAX_NEW_NAMESPACE_NAME) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'name', `longer than ${MAX_NEW_NAMESPACE_NAME} characters`);
    const ns = asParam('name', () => parent.child(name));
    checkNamespaceModify(ctx, t, ns);
    const storePath = resolveStore(ctx.system, t.store, 'writable');
    return (await createNamespace(storePath, ns)).toString();
  });

  route('del', 'namespace', async (req) => {
    const t = target(ctx, req, true);
    if (t.ns.isRoot) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'ns', 'the root namespace cannot be deleted');
    const deleteGroups = t.p.bool('delete-groups') ?? false;
    checkNamespaceModify(ctx, t, t.ns);
    const storePath = resolveStore(ctx.system, t.store, 'writable');
    await removeNamespace(storePath, t.ns, { deleteGroups });
    return null;
  });

  // ── protection and notes ─────────────────────────────────────────────────

  route('get', 'protected', async (req) => {
    const t = target(ctx, req, false);
    const dir = snapshotParam(t.p, t.ns);
    const storePath = await groupAccess(ctx, t, dir.group, 'Datastore.Audit', 'Datastore.Backup', 'readable');
    return isProtected(storePath, dir);
  });

  route('put', 'protected', async (req) => {
    const t = target(ctx, req, true);
    const dir = snapshotParam(t.p, t.ns);
    const value = boolParam(t.p, 'protected');
    const storePath = await groupAccess(ctx, t, dir.group, 'Datastore.Modify', 'Datastore.Backup', 'writable');
    await setProtected(storePath, dir, value);
    return null;
  });

  route('get', 'notes', async (req) => {
    const t = target(ctx, req, false);
    const dir = snapshotParam(t.p, t.ns);
    const storePath = await groupAccess(ctx, t, dir.group, 'Datastore.Audit', 'Datastore.Backup', 'readable');
    return loadManifest(await snapshotPath(storePath, dir), dir).unprotected.notes ?? '';
  });

  route('put', 'notes', async (req) => {
    const t = target(ctx, req, true);
    const dir = snapshotParam(t.p, t.ns);
    const notes = textParam(t.p, 'notes');
    const storePath = await groupAccess(ctx, t, dir.group, 'Datastore.Modify', 'Datastore.Backup', 'writable');
    const path = await snapshotPath(storePath, dir);
    // Shared, as verify takes it when it records its state: not while the
    // snapshot is written or removed. updateUnprotected reads and writes
    // synchronously, so two updates in this process cannot interleave.
    const lock = await lockSnapshot(storePath, dir, { shared: true });
    try {
      loadManifest(path, dir); // 404 for an unfinished snapshot, before writing
      updateUnprotected(join(path, MANIFEST_NAME), (u) => { u.notes = notes; });
    } finally {
      lock.release();
    }
    return null;
  });

  route('get', 'group-notes', async (req) => {
    const t = target(ctx, req, false);
    const group = groupParam(t.p, t.ns);
    const storePath = await groupAccess(ctx, t, group, 'Datastore.Audit', 'Datastore.Backup', 'readable');
    return readNotes(storePath, group);
  });

  route('put', 'group-notes', async (req) => {
    const t = target(ctx, req, true);
    const group = groupParam(t.p, t.ns);
    const notes = textParam(t.p, 'notes');
    const storePath = await groupAccess(ctx, t, group, 'Datastore.Modify', 'Datastore.Backup', 'writable');
    await writeNotes(storePath, group, notes);
    return null;
  });

  // ── ownership ────────────────────────────────────────────────────────────

  route('post', 'change-owner', async (req) => {
    const t = target(ctx, req, true);
    const group = groupParam(t.p, t.ns);
    const newOwner = asParam('new-owner', () => parseAuthid(t.p.required('new-owner')).authid);
    const path = aclPath(t.store, t.ns.toString());
    const limited = !ctx.auth.privileges(t.authid, path).has('Datastore.Modify');
    if (limited) ctx.auth.check(t.authid, path, ['Datastore.Modify', 'Datastore.Backup'], { partial: true });
    const storePath = resolveStore(ctx.system, t.store, 'writable');
    const owner = await readOwner(storePath, group);
    if (limited && !mayMoveOwnership(t.authid, owner, newOwner)) {
      throw bulwarkError('BULWARK_FORBIDDEN', t.authid,
        `Datastore.Modify on ${path} to give ${group.describe()} to ${newOwner} (Datastore.Backup only moves an owned group between a user and their own tokens)`);
    }
    if (!ctx.auth.isActive(newOwner)) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'new-owner', `${newOwner.includes('!') ? 'API token' : 'user'} '${newOwner}' is inactive or does not exist`);
    }
    await writeOwner(storePath, group, newOwner);
    return null;
  });
}
