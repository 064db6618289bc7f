/**
 * Traffic-control rules under /config/traffic-control, PBS's paths,
 * parameters and privileges (src/api2/config/traffic_control.rs): listing,
 * creating, updating (`delete`, `digest`) and deleting need Sys.Modify on /,
 * reading one rule Sys.Audit. `network` and `timeframe` are lists: repeat
 * the parameter or send a JSON array (`network` also takes a comma-separated
 * value).
 */
import type { ConfigPaths } from '../../config/paths.ts';
import {
  deleteTrafficControlRule, loadTrafficControl, saveTrafficControlRule, validateTrafficControlRule,
} from '../../config/traffic-control-config.ts';
import { bulwarkError } from '../../errors.ts';
import { authenticated, authenticatedWrite, type ApiContext } from '../api-context.ts';
import { apiRoute } from '../http-api.ts';
import type { TemplatedApp } from '../uws.ts';
import { configInput, deleteList, digestParam, expectDigest, mergeUpdate, typedFields, withDigest, withoutEmptyComment, type FieldTypes } from './config-params.ts';

const UPDATE_TYPES: FieldTypes = {
  comment: 'string', network: 'csv', 'rate-in': 'string', 'burst-in': 'string', 'rate-out': 'string', 'burst-out': 'string', timeframe: 'list',
};
const DELETABLE = ['rate-in', 'rate-out', 'burst-in', 'burst-out', 'comment', 'timeframe'] as const;

export function configTrafficControlRoutes(app: TemplatedApp, ctx: ApiContext, paths: ConfigPaths): void {
  const file = paths.trafficControl;
  const notFound = (name: string): never => { throw bulwarkError('BULWARK_NOT_FOUND', `traffic control rule ${JSON.stringify(name)}`); };

  apiRoute(app, ctx.log, 'get', '/config/traffic-control', (req) => {
    const { authid } = authenticated(ctx, req);
    ctx.auth.check(authid, '/', 'Sys.Modify');
    const loaded = loadTrafficControl(file);
    return withDigest(Object.values(loaded.data), loaded.digest);
  });

  apiRoute(app, ctx.log, 'post', '/config/traffic-control', (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    ctx.auth.check(authid, '/', 'Sys.Modify');
    const rule = validateTrafficControlRule(withoutEmptyComment(typedFields(configInput(req), { name: 'string', ...UPDATE_TYPES })));
    const loaded = loadTrafficControl(file);
    if (Object.hasOwn(loaded.data, rule.name)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `traffic control rule ${JSON.stringify(rule.name)}`);
    saveTrafficControlRule(file, rule, loaded.digest);
    return null;
  });

  apiRoute(app, ctx.log, 'get', '/config/traffic-control/:name', (req) => {
    const { authid } = authenticated(ctx, req);
    ctx.auth.check(authid, '/', 'Sys.Audit');
    const loaded = loadTrafficControl(file);
    return withDigest(loaded.data[req.params.name!] ?? notFound(req.params.name!), loaded.digest);
  });

  apiRoute(app, ctx.log, 'put', '/config/traffic-control/:name', (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    ctx.auth.check(authid, '/', 'Sys.Modify');
    const name = req.params.name!;
    const input = configInput(req);
    const update = typedFields(input, UPDATE_TYPES);
    const deletes = deleteList(input, DELETABLE);
    const digest = digestParam(input);
    const loaded = loadTrafficControl(file);
    expectDigest(file, digest, loaded.digest);
    const current = loaded.data[name] ?? notFound(name);
    saveTrafficControlRule(file, validateTrafficControlRule({ ...mergeUpdate(current, update, deletes), name }), digest ?? loaded.digest);
    return null;
  });

  apiRoute(app, ctx.log, 'del', '/config/traffic-control/:name', (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    ctx.auth.check(authid, '/', 'Sys.Modify');
    const name = req.params.name!;
    const input = configInput(req);
    typedFields(input, {});
    const digest = digestParam(input);
    const loaded = loadTrafficControl(file);
    expectDigest(file, digest, loaded.digest);
    if (!Object.hasOwn(loaded.data, name)) notFound(name);
    deleteTrafficControlRule(file, name, digest ?? loaded.digest);
    return null;
  });
}
