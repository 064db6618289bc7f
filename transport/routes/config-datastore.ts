/**
 * Datastore configuration under /config/datastore, PBS's paths, parameters
 * and privileges:
 * - `GET` lists the stores the caller may audit (Datastore.Audit on
 *   /datastore/{name}), with the config digest;
 * - `POST` creates one (Datastore.Allocate on /datastore) as a
 *   `create-datastore` task returning its UPID: the chunk store is made (in
 *   a worker thread), the entry written, and the running system told, so
 *   the store's actor comes online; `prune-schedule` + `keep-*` become a
 *   prune job, as in PBS;
 * - `GET {name}` reads one (Datastore.Audit), `PUT {name}` updates it with
 *   `delete` and `digest` (Datastore.Modify); a maintenance-mode change
 *   reaches the store's actor at once;
 * - `DELETE {name}` (Datastore.Allocate) takes the store offline, refuses
 *   while tasks or sessions still use it, removes the entry (and, unless
 *   `keep-job-configs`, its prune/verify/sync jobs), stops its actor, and as
 *   a `delete-datastore` task removes the data when `destroy-data` is set.
 * `maintenance-mode` uses PBS's property string (`type=read-only`, or just
 * `offline`); `tuning` accepts PBS's `sync-level=…` beside Bulwark's own
 * `sync-level`.
 */
import { randomUUID } from 'node:crypto';
import { isAbsolute, resolve, sep } from 'node:path';
import { updateConfigFile, type Loaded } from '../../config/config-file.ts';
import { loadDatastoreConfig, parseDatastoreConfig, saveDatastoreEntry, type DatastoreConfig, type DatastoreConfigMap } from '../../config/datastore-config.ts';
import type { ConfigPaths } from '../../config/paths.ts';
import { deletePruneJob, loadPruneJobs, savePruneJob, validatePruneJob, type PruneJob } from '../../config/prune-job-config.ts';
import { deleteSyncJob, loadSyncJobs } from '../../config/sync-job-config.ts';
import { deleteVerifyJob, loadVerifyJobs } from '../../config/verify-job-config.ts';
import { bulwarkError, isBulwarkError } from '../../errors.ts';
import type { TaskHandle } from '../../actors/tasks/task-store.ts';
import { authenticated, authenticatedWrite, jobService, type ApiContext } from '../api-context.ts';
import { apiRoute } from '../http-api.ts';
import type { TemplatedApp } from '../uws.ts';
import { configInput, deleteList, digestParam, expectDigest, mergeUpdate, typedFields, withDigest, withoutEmptyComment, type FieldTypes } from './config-params.ts';
import { storeFields, renderDatastore, DATASTORE_DELETABLE } from './datastore-fields.ts';
import {
  addStoreActor, announceDatastores, creatablePathProblem, createDatastoreOffThread, destroyDatastoreData,
  removeStoreActor, setStoreMode, storeUsers,
} from './datastore-lifecycle.ts';

const KEEP = ['keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-yearly'] as const;
const KEEP_TYPES = Object.fromEntries(KEEP.map((k) => [k, 'int'])) as FieldTypes;
const UPDATE_TYPES: FieldTypes = { comment: 'string', 'gc-schedule': 'string', 'maintenance-mode': 'string', 'sync-level': 'string', tuning: 'string', ...KEEP_TYPES, 'prune-schedule': 'string' };
const CREATE_TYPES: FieldTypes = { name: 'string', path: 'string', ...UPDATE_TYPES };

/** What the routes hand back to their owner: a way to wait until no create/delete task is running (shutdown, tests). */
export interface DatastoreConfigTasks {
  idle(): Promise<void>;
}

const overlaps = (a: string, b: string): boolean => a === b || a.startsWith(b + sep) || b.startsWith(a + sep);

/** PBS turns a new store's prune options into a prune job named `default-<store>-<uuid>`. */
function pruneJobOf(store: string, fields: Readonly<Record<string, unknown>>): PruneJob | undefined {
  const schedule = fields['prune-schedule'];
  if (schedule === undefined) return undefined;
  const keep = Object.fromEntries(KEEP.filter((k) => fields[k] !== undefined).map((k) => [k, fields[k]]));
  try {
    return validatePruneJob({ id: `default-${store}-${randomUUID()}`.slice(0, 32), store, schedule, ...keep });
  } catch (err) {
    if (isBulwarkError(err, 'BULWARK_BAD_SCHEDULE')) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'prune-schedule', err.message);
    throw err;
  }
}

function addEntry(file: string, entry: DatastoreConfig): Loaded<DatastoreConfigMap> {
  return updateConfigFile<DatastoreConfigMap>(file, parseDatastoreConfig, () => ({}), (cur) => {
    if (Object.hasOwn(cur, entry.name)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `datastore ${entry.name}`);
    return { ...cur, [entry.name]: entry };
  });
}

function removeEntry(file: string, name: string, expectedDigest: string): Loaded<DatastoreConfigMap> {
  return updateConfigFile<DatastoreConfigMap>(file, parseDatastoreConfig, () => ({}), (cur) => {
    if (!Object.hasOwn(cur, name)) throw bulwarkError('BULWARK_NOT_FOUND', `datastore ${name}`);
    const { [name]: _gone, ...rest } = cur;
    return rest;
  }, expectedDigest);
}

/** PBS deletes a removed store's jobs unless asked to keep them. */
function removeStoreJobs(paths: ConfigPaths, store: string): string[] {
  const removed: string[] = [];
  for (const job of Object.values(loadPruneJobs(paths.pruneJobs).data)) if (job.store === store) { deletePruneJob(paths.pruneJobs, job.id); removed.push(`prune job ${job.id}`); }
  for (const job of Object.values(loadVerifyJobs(paths.verifyJobs).data)) if (job.store === store) { deleteVerifyJob(paths.verifyJobs, job.id); removed.push(`verify job ${job.id}`); }
  for (const job of Object.values(loadSyncJobs(paths.syncJobs).data)) if (job.store === store) { deleteSyncJob(paths.syncJobs, job.id); removed.push(`sync job ${job.id}`); }
  return removed;
}

async function endTask(handle: TaskHandle, work: () => Promise<void>): Promise<void> {
  try {
    await work();
    await handle.finish({ state: 'ok' });
  } catch (err) {
    await handle.finish({ state: 'error', message: (err as Error).message });
  }
}

export function configDatastoreRoutes(app: TemplatedApp, ctx: ApiContext, paths: ConfigPaths): DatastoreConfigTasks {
  const file = paths.datastoreConfig;
  /** Stores being created or deleted by a task (name → path): their names and paths are taken. */
  const busy = new Map<string, string>();
  const running = new Set<Promise<void>>();
  const track = (p: Promise<void>): void => {
    running.add(p);
    void p.finally(() => running.delete(p));
  };

  apiRoute(app, ctx.log, 'get', '/config/datastore', (req) => {
    const { authid } = authenticated(ctx, req);
    const loaded = loadDatastoreConfig(file);
    const visible = Object.values(loaded.data).filter((cfg) => ctx.auth.privileges(authid, `/datastore/${cfg.name}`).has('Datastore.Audit'));
    return withDigest(visible.map(renderDatastore), loaded.digest);
  });

  apiRoute(app, ctx.log, 'post', '/config/datastore', async (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    ctx.auth.check(authid, '/datastore', 'Datastore.Allocate');
    const fields = withoutEmptyComment(typedFields(configInput(req), CREATE_TYPES));
    const name = storeFields.name(fields.name);
    const path = fields.path;
    if (typeof path !== 'string') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'path', 'parameter is missing');
    if (!isAbsolute(path) || path.length > 4096) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'path', `${JSON.stringify(path)} is not an absolute path`);
    const entry = { name, path: resolve(path), ...storeFields.settings(fields) } as DatastoreConfig;
    const prune = pruneJobOf(entry.name, fields);
    const loaded = loadDatastoreConfig(file);
    if (Object.hasOwn(loaded.data, entry.name) || busy.has(entry.name)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `datastore ${entry.name}`);
    const taken = [...Object.values(loaded.data).map((c) => [c.name, c.path] as const), ...busy];
    const clash = taken.find(([, p]) => overlaps(p, entry.path));
    if (clash) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'path', `${entry.path} overlaps datastore ${clash[0]} at ${clash[1]}`);
    const problem = creatablePathProblem(entry.path);
    if (problem !== undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'path', problem);

    busy.set(entry.name, entry.path); // before the first await: a second request for this name or path is refused
    let handle: TaskHandle;
    try {
      handle = await jobService(ctx).tasks.start({ type: 'create-datastore', id: entry.name, user: authid });
    } catch (err) {
      busy.delete(entry.name);
      throw err;
    }
    track(endTask(handle, async () => {
      try {
        handle.log(`create datastore '${entry.name}' at ${entry.path}`);
        const { created } = await createDatastoreOffThread(entry.path);
        handle.log(created ? 'Chunkstore created (65536 chunk directories)' : `${entry.path} already holds a datastore: reusing it`);
        const saved = addEntry(file, entry);
        announceDatastores(ctx.system, saved);
        addStoreActor(ctx.system, entry);
        handle.log(`datastore '${entry.name}' added to the configuration`);
        if (prune) {
          savePruneJob(paths.pruneJobs, prune);
          handle.log(`Prune job created: ${prune.id}`);
        }
      } finally {
        busy.delete(entry.name);
      }
    }));
    return handle.upid;
  });

  apiRoute(app, ctx.log, 'get', '/config/datastore/:name', (req) => {
    const { authid } = authenticated(ctx, req);
    const name = req.params.name!;
    ctx.auth.check(authid, `/datastore/${name}`, 'Datastore.Audit');
    const loaded = loadDatastoreConfig(file);
    const cfg = loaded.data[name];
    if (!cfg) throw bulwarkError('BULWARK_NOT_FOUND', `datastore ${name}`);
    return withDigest(renderDatastore(cfg), loaded.digest);
  });

  apiRoute(app, ctx.log, 'put', '/config/datastore/:name', (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    const name = req.params.name!;
    ctx.auth.check(authid, `/datastore/${name}`, 'Datastore.Modify');
    const input = configInput(req);
    const update = typedFields(input, UPDATE_TYPES);
    for (const k of [...KEEP, 'prune-schedule']) {
      if (update[k] !== undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', k, 'datastore prune settings have been replaced by prune jobs');
    }
    const deletes = deleteList(input, DATASTORE_DELETABLE).map((d) => (d === 'tuning' ? 'sync-level' : d));
    const digest = digestParam(input);
    const loaded = loadDatastoreConfig(file);
    expectDigest(file, digest, loaded.digest);
    const current = loaded.data[name];
    if (!current || busy.has(name)) throw bulwarkError('BULWARK_NOT_FOUND', `datastore ${name}`);
    const next = mergeUpdate(current, storeFields.settings(update), deletes) as unknown as DatastoreConfig;
    const saved = saveDatastoreEntry(file, next, digest ?? loaded.digest);
    announceDatastores(ctx.system, saved);
    const mode = next['maintenance-mode'] ?? 'online';
    if (mode !== (current['maintenance-mode'] ?? 'online')) setStoreMode(ctx.system, name, mode);
    return null;
  });

  apiRoute(app, ctx.log, 'del', '/config/datastore/:name', async (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    const name = req.params.name!;
    ctx.auth.check(authid, `/datastore/${name}`, 'Datastore.Allocate');
    const input = configInput(req);
    const opts = typedFields(input, { 'keep-job-configs': 'bool', 'destroy-data': 'bool' });
    const digest = digestParam(input);
    const loaded = loadDatastoreConfig(file);
    expectDigest(file, digest, loaded.digest);
    const cfg = loaded.data[name];
    if (!cfg || busy.has(name)) throw bulwarkError('BULWARK_NOT_FOUND', `datastore ${name}`);
    const jobs = jobService(ctx);

    // Offline first, so nothing new starts on it; then nothing may still be running.
    const before = cfg['maintenance-mode'] ?? 'online';
    setStoreMode(ctx.system, name, 'offline');
    let saved: Loaded<DatastoreConfigMap>;
    try {
      const users = storeUsers(ctx.system, name);
      if (users.length > 0) throw bulwarkError('BULWARK_LOCKED', `datastore ${name}`, `in use by ${users.join(', ')}`);
      saved = removeEntry(file, name, digest ?? loaded.digest);
    } catch (err) {
      setStoreMode(ctx.system, name, before);
      throw err;
    }
    announceDatastores(ctx.system, saved);
    removeStoreActor(ctx.system, name);
    const removedJobs = opts['keep-job-configs'] === true ? [] : removeStoreJobs(paths, name);

    busy.set(name, cfg.path);
    let handle: TaskHandle;
    try {
      handle = await jobs.tasks.start({ type: 'delete-datastore', id: name, user: authid });
    } catch (err) {
      busy.delete(name);
      throw err;
    }
    track(endTask(handle, async () => {
      try {
        for (const job of removedJobs) handle.log(`removed ${job}`);
        handle.log(`Removed datastore '${name}' from config`);
        if (opts['destroy-data'] === true) await destroyDatastoreData(cfg.path, handle);
      } finally {
        busy.delete(name);
      }
    }));
    return handle.upid;
  });

  return {
    async idle() {
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}
