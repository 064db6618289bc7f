/**
 * Read-only datastore views under /api2/json/admin/datastore, in PBS's
 * shapes: store list, `{store}/status`, `{store}/groups`, `{store}/snapshots`.
 * Datastore.Audit sees every group; Datastore.Backup alone sees only groups
 * the caller owns (PBS's rule).
 */
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupGroup, BackupNamespace } from '../../datastore/backup-ref.ts';
import { readManifest, MANIFEST_BLOB_NAME } from '../../datastore/manifest.ts';
import { isBackupType } from '../../datastore/names.ts';
import { listGroups, listSnapshots } from '../../datastore/snapshots.ts';
import { bulwarkError } from '../../errors.ts';
import { apiRoute, type ApiRequest } from '../http-api.ts';
import type { TemplatedApp } from '../uws.ts';
import { authenticated, currentConfig, datastoreConfig, ownsGroup, type ApiContext } from '../api-context.ts';
import { aclPath } from '../ws-upgrade.ts';

interface Access {
  readonly authid: string;
  /** Sees every group (Datastore.Audit); otherwise only owned ones. */
  readonly all: boolean;
}

function access(ctx: ApiContext, req: ApiRequest, store: string, ns: string): Access {
  const { authid } = authenticated(ctx, req);
  const path = aclPath(store, ns);
  const privs = ctx.auth.privileges(authid, path);
  if (privs.has('Datastore.Audit')) return { authid, all: true };
  ctx.auth.check(authid, path, ['Datastore.Backup', 'Datastore.Read'], { partial: true });
  return { authid, all: false };
}

function namespaceOf(req: ApiRequest): BackupNamespace {
  return BackupNamespace.parse(req.query.get('ns') ?? '');
}

export function datastoreAdminRoutes(app: TemplatedApp, ctx: ApiContext): void {
  // PBS DataStoreListItem: `maintenance` is the mode as a property string (`type=read-only`); usage is in /status/datastore-usage.
  apiRoute(app, ctx.log, 'get', '/admin/datastore', (req) => {
    const { authid } = authenticated(ctx, req);
    return Object.values(currentConfig(ctx).datastores)
      .filter((s) => ctx.auth.privileges(authid, `/datastore/${s.name}`).size > 0)
      .map((s) => ({ store: s.name, ...(s.comment && { comment: s.comment }), ...(s['maintenance-mode'] && { maintenance: `type=${s['maintenance-mode']}` }) }));
  });

  apiRoute(app, ctx.log, 'get', '/admin/datastore/:store/status', async (req) => {
    const cfg = datastoreConfig(ctx, req.params.store!);
    access(ctx, req, cfg.name, '');
    const fs = await statfs(cfg.path);
    return { total: fs.blocks * fs.bsize, used: (fs.blocks - fs.bfree) * fs.bsize, avail: fs.bavail * fs.bsize };
  });

  apiRoute(app, ctx.log, 'get', '/admin/datastore/:store/groups', async (req) => {
    const cfg = datastoreConfig(ctx, req.params.store!);
    const ns = namespaceOf(req);
    const who = access(ctx, req, cfg.name, ns.toString());
    const groups = await listGroups(cfg.path, ns);
    return groups
      .filter((g) => who.all || ownsGroup(g.owner, who.authid))
      .filter((g) => g.lastFinishedTime !== undefined)
      .map((g) => ({
        'backup-type': g.type,
        'backup-id': g.id,
        'last-backup': g.lastFinishedTime,
        'backup-count': g.snapshotCount,
        ...(g.owner && { owner: g.owner }),
      }));
  });

  apiRoute(app, ctx.log, 'get', '/admin/datastore/:store/snapshots', async (req) => {
    const cfg = datastoreConfig(ctx, req.params.store!);
    const ns = namespaceOf(req);
    const who = access(ctx, req, cfg.name, ns.toString());
    const type = req.query.get('backup-type');
    const id = req.query.get('backup-id');
    if (type !== null && !isBackupType(type)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'backup-type', type);
    const groups = (await listGroups(cfg.path, ns)).filter(
      (g) => (type === null || g.type === type) && (id === null || g.id === id) && (who.all || ownsGroup(g.owner, who.authid)),
    );
    const out: unknown[] = [];
    for (const g of groups) {
      for (const snap of await listSnapshots(cfg.path, new BackupGroup(ns, g.type, g.id))) {
        if (!snap.finished) continue;
        const manifest = await readManifest(join(snap.path, MANIFEST_BLOB_NAME));
        const files = manifest.files.map((f) => ({ filename: f.filename, size: f.size, 'crypt-mode': f['crypt-mode'] }));
        const verify = manifest.unprotected?.verify_state;
        out.push({
          'backup-type': g.type,
          'backup-id': g.id,
          'backup-time': snap.dir.time,
          files,
          size: files.reduce((sum, f) => sum + f.size, 0),
          ...(g.owner && { owner: g.owner }),
          protected: snap.protected,
          ...(verify && { verification: verify }),
          ...(manifest.unprotected?.notes && { comment: manifest.unprotected.notes.split('\n')[0] }),
        });
      }
    }
    return out;
  });
}
