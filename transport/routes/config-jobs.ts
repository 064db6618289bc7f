/**
 * Job configuration under /config/prune, /config/verify and /config/sync,
 * PBS's paths, parameters and privileges (src/api2/config/{prune,verify,sync}.rs).
 * Each kind has `GET` (list, with digest) and `POST` (create) on the
 * collection, `GET`/`PUT`/`DELETE` on `{id}`; updates take PBS's `delete`
 * list and `digest`. Privileges are checked on the job's ACL path
 * (/datastore/{store}[/{ns}]), on the old and, when store or ns change, the
 * new one:
 * - prune: Datastore.Modify to write, Datastore.Audit to read (a list shows
 *   jobs where the caller has either);
 * - verify: Datastore.Verify to write, Datastore.Audit or Datastore.Verify to read;
 * - sync: Datastore.Backup to write, plus Datastore.Prune for
 *   remove-vanished, Datastore.Modify for an owner other than the caller
 *   (no owner means root@pam), and Remote.Read on
 *   /remote/{remote}/{remote-store}; reading needs Datastore.Audit on the
 *   target and Remote.Audit on the remote (Datastore.Audit on the source
 *   store for a local sync).
 * A job must name a configured datastore (and remote) when created or moved.
 */
import type { Loaded } from '../../config/config-file.ts';
import { loadDatastoreConfig } from '../../config/datastore-config.ts';
import type { ConfigPaths } from '../../config/paths.ts';
import { deletePruneJob, loadPruneJobs, savePruneJob, validatePruneJob, type PruneJob } from '../../config/prune-job-config.ts';
import { loadRemotes } from '../../config/remote-config.ts';
import { deleteSyncJob, loadSyncJobs, saveSyncJob, syncOwner, validateSyncJob, type SyncJob } from '../../config/sync-job-config.ts';
import { deleteVerifyJob, loadVerifyJobs, saveVerifyJob, validateVerifyJob, type VerifyJob } from '../../config/verify-job-config.ts';
import { ownsGroup } from '../../auth/acl.ts';
import type { Privilege } from '../../auth/privileges.ts';
import { bulwarkError } from '../../errors.ts';
import { authenticated, authenticatedWrite, type ApiContext } from '../api-context.ts';
import { apiRoute } from '../http-api.ts';
import type { TemplatedApp } from '../uws.ts';
import { aclPath } from '../ws-upgrade.ts';
import { configInput, deleteList, digestParam, expectDigest, mergeUpdate, typedFields, withDigest, withoutEmptyComment, type FieldTypes } from './config-params.ts';

interface Job {
  readonly id: string;
  readonly store: string;
  readonly ns?: string;
}

interface JobKind<J extends Job> {
  readonly path: string;
  readonly kind: string;
  readonly file: string;
  /** Parameters of an update; create adds `id`. */
  readonly types: FieldTypes;
  readonly deletable: readonly string[];
  load(file: string): Loaded<Readonly<Record<string, J>>>;
  validate(input: unknown): J;
  save(file: string, job: J, expectedDigest: string): unknown;
  remove(file: string, id: string, expectedDigest: string): unknown;
  /** Throws BULWARK_FORBIDDEN naming the missing privilege. */
  checkRead(authid: string, job: J): void;
  /** Whether a list shows the job to the caller (default: when it may read it). */
  visible?(authid: string, job: J): boolean;
  checkWrite(authid: string, job: J): void;
  /** Datastores and remotes it names that must exist (400 naming the parameter otherwise). */
  checkRefs(job: J, before?: J): void;
}

const jobPath = (job: Job): string => aclPath(job.store, job.ns ?? '');

const KEEP_TYPES: FieldTypes = {
  'keep-last': 'int', 'keep-hourly': 'int', 'keep-daily': 'int', 'keep-weekly': 'int', 'keep-monthly': 'int', 'keep-yearly': 'int',
};
const LOCATION_TYPES: FieldTypes = { store: 'string', ns: 'string', 'max-depth': 'int' };

function jobRoutes<J extends Job>(app: TemplatedApp, ctx: ApiContext, spec: JobKind<J>): void {
  const { file, kind } = spec;
  const notFound = (id: string): never => { throw bulwarkError('BULWARK_NOT_FOUND', `${kind} ${JSON.stringify(id)}`); };
  const readable = (authid: string, job: J): boolean => {
    if (spec.visible) return spec.visible(authid, job);
    try {
      spec.checkRead(authid, job);
      return true;
    } catch {
      return false;
    }
  };

  apiRoute(app, ctx.log, 'get', spec.path, (req) => {
    const { authid } = authenticated(ctx, req);
    const loaded = spec.load(file);
    return withDigest(Object.values(loaded.data).filter((job) => readable(authid, job)), loaded.digest);
  });

  apiRoute(app, ctx.log, 'post', spec.path, (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    const job = spec.validate(withoutEmptyComment(typedFields(configInput(req), { id: 'string', ...spec.types })));
    spec.checkWrite(authid, job);
    spec.checkRefs(job);
    const loaded = spec.load(file);
    if (Object.hasOwn(loaded.data, job.id)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `${kind} ${JSON.stringify(job.id)}`);
    spec.save(file, job, loaded.digest);
    return null;
  });

  apiRoute(app, ctx.log, 'get', `${spec.path}/:id`, (req) => {
    const { authid } = authenticated(ctx, req);
    const loaded = spec.load(file);
    const job = loaded.data[req.params.id!] ?? notFound(req.params.id!);
    spec.checkRead(authid, job);
    return withDigest(job, loaded.digest);
  });

  apiRoute(app, ctx.log, 'put', `${spec.path}/:id`, (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    const id = req.params.id!;
    const input = configInput(req);
    const update = typedFields(input, spec.types);
    const deletes = deleteList(input, spec.deletable);
    const digest = digestParam(input);
    const loaded = spec.load(file);
    expectDigest(file, digest, loaded.digest);
    const current = loaded.data[id] ?? notFound(id);
    spec.checkWrite(authid, current);
    const next = spec.validate({ ...mergeUpdate(current, update, deletes), id });
    spec.checkWrite(authid, next);
    spec.checkRefs(next, current);
    spec.save(file, next, digest ?? loaded.digest);
    return null;
  });

  apiRoute(app, ctx.log, 'del', `${spec.path}/:id`, (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    const id = req.params.id!;
    const input = configInput(req);
    typedFields(input, {});
    const digest = digestParam(input);
    const loaded = spec.load(file);
    expectDigest(file, digest, loaded.digest);
    const current = loaded.data[id] ?? notFound(id);
    spec.checkWrite(authid, current);
    spec.remove(file, id, digest ?? loaded.digest);
    return null;
  });
}

export function configJobRoutes(app: TemplatedApp, ctx: ApiContext, paths: ConfigPaths): void {
  const check = (authid: string, path: string, need: Privilege | readonly Privilege[], partial = false): void =>
    ctx.auth.check(authid, path, need, { partial });

  /** A job's store must be configured when it is created or moved to another store. */
  const storeExists = (param: string, store: string, before?: string): void => {
    if (store === before) return;
    if (!Object.hasOwn(loadDatastoreConfig(paths.datastoreConfig).data, store)) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', param, `datastore ${JSON.stringify(store)} does not exist`);
    }
  };

  jobRoutes<PruneJob>(app, ctx, {
    path: '/config/prune', kind: 'prune job', file: paths.pruneJobs,
    types: { ...LOCATION_TYPES, schedule: 'string', ...KEEP_TYPES, disable: 'bool', comment: 'string' },
    deletable: ['comment', 'disable', 'ns', 'max-depth', ...Object.keys(KEEP_TYPES)],
    load: loadPruneJobs, validate: validatePruneJob, save: savePruneJob, remove: deletePruneJob,
    checkRead: (authid, job) => check(authid, jobPath(job), 'Datastore.Audit'),
    visible: (authid, job) => {
      const privs = ctx.auth.privileges(authid, jobPath(job));
      return privs.has('Datastore.Audit') || privs.has('Datastore.Modify');
    },
    checkWrite: (authid, job) => check(authid, jobPath(job), 'Datastore.Modify'),
    checkRefs: (job, before) => storeExists('store', job.store, before?.store),
  });

  jobRoutes<VerifyJob>(app, ctx, {
    path: '/config/verify', kind: 'verify job', file: paths.verifyJobs,
    types: { ...LOCATION_TYPES, schedule: 'string', 'ignore-verified': 'bool', 'outdated-after': 'int', disable: 'bool', comment: 'string' },
    deletable: ['ignore-verified', 'comment', 'schedule', 'outdated-after', 'ns', 'max-depth', 'disable'],
    load: loadVerifyJobs, validate: validateVerifyJob, save: saveVerifyJob, remove: deleteVerifyJob,
    checkRead: (authid, job) => check(authid, jobPath(job), ['Datastore.Audit', 'Datastore.Verify'], true),
    checkWrite: (authid, job) => check(authid, jobPath(job), 'Datastore.Verify'),
    checkRefs: (job, before) => storeExists('store', job.store, before?.store),
  });

  jobRoutes<SyncJob>(app, ctx, {
    path: '/config/sync', kind: 'sync job', file: paths.syncJobs,
    types: {
      ...LOCATION_TYPES, owner: 'string', remote: 'string', 'remote-store': 'string', 'remote-ns': 'string',
      'remove-vanished': 'bool', schedule: 'string', 'group-filter': 'list',
      'rate-in': 'string', 'burst-in': 'string', 'rate-out': 'string', 'burst-out': 'string',
      'transfer-last': 'int', comment: 'string',
    },
    deletable: ['remote', 'owner', 'comment', 'schedule', 'remove-vanished', 'group-filter', 'rate-in', 'burst-in', 'rate-out', 'burst-out', 'ns', 'remote-ns', 'max-depth', 'transfer-last'],
    load: loadSyncJobs, validate: validateSyncJob, save: saveSyncJob, remove: deleteSyncJob,
    checkRead: (authid, job) => {
      check(authid, jobPath(job), 'Datastore.Audit');
      if (job.remote !== undefined) check(authid, `/remote/${job.remote}`, 'Remote.Audit');
      else check(authid, `/datastore/${job['remote-store']}`, 'Datastore.Audit');
    },
    // PBS check_sync_job_modify_access, one privilege at a time so the refusal names it.
    checkWrite: (authid, job) => {
      check(authid, jobPath(job), 'Datastore.Backup');
      if (job['remove-vanished'] === true) check(authid, jobPath(job), 'Datastore.Prune');
      if (!ownsGroup(syncOwner(job), authid)) check(authid, jobPath(job), 'Datastore.Modify');
      if (job.remote !== undefined) check(authid, `/remote/${job.remote}/${job['remote-store']}`, 'Remote.Read');
    },
    checkRefs: (job, before) => {
      storeExists('store', job.store, before?.store);
      if (job.remote === undefined) {
        storeExists('remote-store', job['remote-store'], before?.remote === undefined ? before?.['remote-store'] : undefined);
      } else if (job.remote !== before?.remote && !Object.hasOwn(loadRemotes(paths.remoteConfig).data, job.remote)) {
        throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'remote', `remote ${JSON.stringify(job.remote)} does not exist`);
      }
    },
  });
}
