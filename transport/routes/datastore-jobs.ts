/**
 * Maintenance on a datastore, PBS's endpoints and privileges:
 * - `POST {store}/gc` starts garbage collection (Datastore.Modify), `GET` the last status (Datastore.Audit);
 * - `POST {store}/prune` prunes one group at once and lists keep/remove (Datastore.Modify, or Datastore.Prune on an owned group);
 * - `POST {store}/prune-datastore` prunes a namespace as a task (Datastore.Modify, or Datastore.Prune);
 * - `POST {store}/verify` verifies a namespace or a group as a task (Datastore.Verify, or Datastore.Backup on an owned group).
 * Task-starting calls return the UPID.
 */
import { gcStatusKey } from '../../actors/job-service.ts';
import { BackupGroup, BackupNamespace } from '../../datastore/backup-ref.ts';
import { readOwner } from '../../datastore/group-meta.ts';
import { isBackupType } from '../../datastore/names.ts';
import { pruneGroup } from '../../datastore/prune-apply.ts';
import { bulwarkError } from '../../errors.ts';
import { keepOptionsOf } from '../../actors/job-work.ts';
import { apiRoute } from '../http-api.ts';
import { requestParams, type Params } from '../params.ts';
import type { TemplatedApp } from '../uws.ts';
import { authenticated, authenticatedWrite, datastoreConfig, jobService, ownsGroup, type ApiContext } from '../api-context.ts';
import { aclPath } from '../ws-upgrade.ts';
import { resolveStore } from '../../actors/store-access.ts';

const KEEP = ['keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-yearly'] as const;

function keepParams(p: Params): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of KEEP) {
    const v = p.int(k, { min: 0 });
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function namespaceParam(p: Params): BackupNamespace {
  return BackupNamespace.parse(p.string('ns') ?? '');
}

function groupParam(p: Params, ns: BackupNamespace): BackupGroup {
  const type = p.required('backup-type');
  if (!isBackupType(type)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'backup-type', `${JSON.stringify(type)} is not vm, ct or host`);
  return new BackupGroup(ns, type, p.required('backup-id'));
}

/** Full privilege, or the lesser one plus ownership of the group (PBS's pattern for prune and verify). */
async function checkOwnedOr(ctx: ApiContext, authid: string, storePath: string, path: string, full: 'Datastore.Modify' | 'Datastore.Verify', lesser: 'Datastore.Prune' | 'Datastore.Backup', group?: BackupGroup): Promise<void> {
  const privs = ctx.auth.privileges(authid, path);
  if (privs.has(full)) return;
  ctx.auth.check(authid, path, lesser);
  if (!group) throw bulwarkError('BULWARK_FORBIDDEN', authid, `${full} on ${path} (${lesser} reaches only owned groups)`);
  if (!ownsGroup(await readOwner(storePath, group), authid)) throw bulwarkError('BULWARK_FORBIDDEN', authid, `${full} on ${path} (not the owner of ${group.describe()})`);
}

export function datastoreJobRoutes(app: TemplatedApp, ctx: ApiContext): void {
  apiRoute(app, ctx.log, 'post', '/admin/datastore/:store/gc', async (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    const cfg = datastoreConfig(ctx, req.params.store!);
    ctx.auth.check(authid, aclPath(cfg.name, ''), 'Datastore.Modify');
    return jobService(ctx).start({ kind: 'gc', store: cfg.name, user: authid });
  });

  apiRoute(app, ctx.log, 'get', '/admin/datastore/:store/gc', async (req) => {
    const { authid } = authenticated(ctx, req);
    const cfg = datastoreConfig(ctx, req.params.store!);
    ctx.auth.check(authid, aclPath(cfg.name, ''), 'Datastore.Audit');
    const jobs = jobService(ctx);
    const status = await jobs.state.get<Record<string, unknown>>(gcStatusKey(cfg.name));
    const run = await jobs.state.jobRun('garbage_collection', cfg.name);
    return {
      ...(status ?? {}),
      ...(run?.upid && run.state !== 'created' && { 'last-run-upid': run.upid }),
      ...(run?.endedAt && { 'last-run-endtime': Math.floor(run.endedAt / 1000) }),
      ...(run?.status && { 'last-run-state': run.status }),
      ...(cfg['gc-schedule'] && { schedule: cfg['gc-schedule'] }),
      ...(run?.nextRun !== undefined && { 'next-run': Math.floor(run.nextRun / 1000) }),
    };
  });

  apiRoute(app, ctx.log, 'post', '/admin/datastore/:store/prune', async (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    const cfg = datastoreConfig(ctx, req.params.store!);
    const p = requestParams(req);
    const ns = namespaceParam(p);
    const group = groupParam(p, ns);
    const keep = keepOptionsOf(keepParams(p));
    const storePath = resolveStore(ctx.system, cfg.name, 'writable', 'pruning is');
    await checkOwnedOr(ctx, authid, storePath, aclPath(cfg.name, ns.toString()), 'Datastore.Modify', 'Datastore.Prune', group);
    const result = await pruneGroup(storePath, group, keep, { dryRun: p.bool('dry-run') ?? false });
    return result.snapshots.map((s) => ({
      'backup-type': group.type,
      'backup-id': group.id,
      'backup-time': s.dir.time,
      keep: s.mark !== 'remove',
      protected: s.mark === 'protected',
      ...(s.error && { error: s.message ?? s.error }),
    }));
  });

  apiRoute(app, ctx.log, 'post', '/admin/datastore/:store/prune-datastore', async (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    const cfg = datastoreConfig(ctx, req.params.store!);
    const p = requestParams(req);
    const ns = namespaceParam(p);
    ctx.auth.check(authid, aclPath(cfg.name, ns.toString()), 'Datastore.Modify');
    const keep = keepParams(p);
    keepOptionsOf(keep); // refuse bad values before a task exists
    const maxDepth = p.int('max-depth', { min: 0, max: 7 });
    return jobService(ctx).start({
      kind: 'prune', store: cfg.name, user: authid,
      params: { ...keep, ns: ns.toString(), 'dry-run': p.bool('dry-run') ?? false, ...(maxDepth !== undefined && { 'max-depth': maxDepth }) },
    });
  });

  apiRoute(app, ctx.log, 'post', '/admin/datastore/:store/verify', async (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    const cfg = datastoreConfig(ctx, req.params.store!);
    const p = requestParams(req);
    const ns = namespaceParam(p);
    const hasGroup = p.string('backup-type') !== undefined || p.string('backup-id') !== undefined;
    const group = hasGroup ? groupParam(p, ns) : undefined;
    const storePath = resolveStore(ctx.system, cfg.name, 'readable', 'verification is');
    await checkOwnedOr(ctx, authid, storePath, aclPath(cfg.name, ns.toString()), 'Datastore.Verify', 'Datastore.Backup', group);
    const maxDepth = p.int('max-depth', { min: 0, max: 7 });
    const outdated = p.int('outdated-after', { min: 0 });
    return jobService(ctx).start({
      kind: 'verify', store: cfg.name, user: authid,
      params: {
        ns: ns.toString(),
        ...(group && { 'backup-type': group.type, 'backup-id': group.id }),
        'ignore-verified': p.bool('ignore-verified') ?? false,
        ...(outdated !== undefined && { 'outdated-after': outdated }),
        ...(maxDepth !== undefined && { 'max-depth': maxDepth }),
      },
    });
  });
}
