/**
 * Remotes under /config/remote, PBS's paths, parameters and privileges
 * (src/api2/config/remote.rs):
 * - `GET` lists the remotes the caller may audit (Remote.Audit on
 *   /remote/{name}), with the config digest;
 * - `POST` creates one (Remote.Modify on /remote); `password` is required;
 * - `GET {name}` (Remote.Audit), `PUT {name}` with `delete` and `digest`,
 *   `DELETE {name}` (both Remote.Modify on /remote/{name}); a remote still
 *   used by a sync job cannot be deleted.
 * The password goes to remote.shadow and is never part of any reply.
 */
import type { ConfigPaths } from '../../config/paths.ts';
import { deleteRemote, loadRemotes, saveRemote, validateRemote, validateRemotePassword, type Remote } from '../../config/remote-config.ts';
import { loadSyncJobs } from '../../config/sync-job-config.ts';
import { bulwarkError } from '../../errors.ts';
import { authenticated, authenticatedWrite, type ApiContext } from '../api-context.ts';
import { apiRoute } from '../http-api.ts';
import type { TemplatedApp } from '../uws.ts';
import { configInput, deleteList, digestParam, expectDigest, mergeUpdate, typedFields, withDigest, withoutEmptyComment, type FieldTypes } from './config-params.ts';

const UPDATE_TYPES: FieldTypes = { host: 'string', port: 'int', 'auth-id': 'string', password: 'string', fingerprint: 'string', comment: 'string' };
const DELETABLE = ['comment', 'fingerprint', 'port'] as const;

/** Splits the password off the typed input, so it never reaches remote.json. */
function withoutPassword(fields: Record<string, unknown>): { fields: Record<string, unknown>; password: string | undefined } {
  const { password, ...rest } = fields;
  return { fields: rest, password: password === undefined ? undefined : validateRemotePassword(password) };
}

export function configRemoteRoutes(app: TemplatedApp, ctx: ApiContext, paths: ConfigPaths): void {
  const files = { config: paths.remoteConfig, shadow: paths.remoteShadow };
  const notFound = (name: string): never => { throw bulwarkError('BULWARK_NOT_FOUND', `remote ${JSON.stringify(name)}`); };

  apiRoute(app, ctx.log, 'get', '/config/remote', (req) => {
    const { authid } = authenticated(ctx, req);
    const loaded = loadRemotes(files.config);
    const visible = Object.values(loaded.data).filter((r) => ctx.auth.privileges(authid, `/remote/${r.name}`).has('Remote.Audit'));
    return withDigest(visible, loaded.digest);
  });

  apiRoute(app, ctx.log, 'post', '/config/remote', (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    ctx.auth.check(authid, '/remote', 'Remote.Modify');
    const { fields, password } = withoutPassword(withoutEmptyComment(typedFields(configInput(req), { name: 'string', ...UPDATE_TYPES })));
    const remote = validateRemote(fields);
    if (password === undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'password', 'parameter is missing');
    const loaded = loadRemotes(files.config);
    if (Object.hasOwn(loaded.data, remote.name)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `remote ${JSON.stringify(remote.name)}`);
    saveRemote(files, remote, password, loaded.digest);
    return null;
  });

  apiRoute(app, ctx.log, 'get', '/config/remote/:name', (req) => {
    const { authid } = authenticated(ctx, req);
    const name = req.params.name!;
    ctx.auth.check(authid, `/remote/${name}`, 'Remote.Audit');
    const loaded = loadRemotes(files.config);
    return withDigest(loaded.data[name] ?? notFound(name), loaded.digest);
  });

  apiRoute(app, ctx.log, 'put', '/config/remote/:name', (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    const name = req.params.name!;
    ctx.auth.check(authid, `/remote/${name}`, 'Remote.Modify');
    const input = configInput(req);
    const { fields, password } = withoutPassword(typedFields(input, UPDATE_TYPES));
    const deletes = deleteList(input, DELETABLE);
    const digest = digestParam(input);
    const loaded = loadRemotes(files.config);
    expectDigest(files.config, digest, loaded.digest);
    const current = loaded.data[name] ?? notFound(name);
    const next = validateRemote({ ...mergeUpdate(current, fields, deletes), name }) satisfies Remote;
    saveRemote(files, next, password, digest ?? loaded.digest);
    return null;
  });

  apiRoute(app, ctx.log, 'del', '/config/remote/:name', (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    const name = req.params.name!;
    ctx.auth.check(authid, `/remote/${name}`, 'Remote.Modify');
    const input = configInput(req);
    typedFields(input, {});
    const digest = digestParam(input);
    const user = Object.values(loadSyncJobs(paths.syncJobs).data).find((job) => job.remote === name);
    if (user) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'name', `remote ${JSON.stringify(name)} is used by sync job ${JSON.stringify(user.id)} (datastore ${user.store})`);
    const loaded = loadRemotes(files.config);
    expectDigest(files.config, digest, loaded.digest);
    if (!Object.hasOwn(loaded.data, name)) notFound(name);
    deleteRemote(files, name, digest ?? loaded.digest);
    return null;
  });
}
