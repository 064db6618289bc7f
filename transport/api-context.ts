/**
 * What route handlers get: the logger, the auth service, and read access to
 * the actor system (configuration via the config store's snapshot,
 * datastore state via `datastore:<name>` actors). Routes never hold module
 * singletons; everything comes through here.
 */
import type { Logger } from 'pino';
import type { AnyActorRef } from 'xstate';
import type { AuthContext } from '../auth/authenticate.ts';
export { ownsGroup } from '../auth/acl.ts';
import type { AuthService } from '../auth/auth-service.ts';
import type { JobService } from '../actors/job-service.ts';
import type { ConfigSnapshot } from '../config/config-store.ts';
import type { DatastoreConfig } from '../config/datastore-config.ts';
import { bulwarkError } from '../errors.ts';
import type { ApiRequest } from './http-api.ts';
import type { ActorSystemLike } from './ws-upgrade.ts';

export interface ApiContext {
  readonly log: Logger;
  readonly auth: AuthService;
  readonly system: ActorSystemLike;
  /** Maintenance tasks; absent in servers started without the job service. */
  readonly jobs?: JobService;
}

export function jobService(ctx: ApiContext): JobService {
  if (!ctx.jobs) throw bulwarkError('BULWARK_INTERNAL', 'the job service is not running');
  return ctx.jobs;
}

export function currentConfig(ctx: ApiContext): ConfigSnapshot {
  const ref = ctx.system.get('config') as AnyActorRef | undefined;
  if (!ref) throw bulwarkError('BULWARK_INTERNAL', 'config store is not running');
  return (ref.getSnapshot() as { context: ConfigSnapshot }).context;
}

export function datastoreConfig(ctx: ApiContext, store: string): DatastoreConfig {
  const cfg = currentConfig(ctx).datastores[store];
  if (!cfg) throw bulwarkError('BULWARK_NOT_FOUND', `datastore ${store}`);
  return cfg;
}

export function authenticated(ctx: ApiContext, req: ApiRequest): AuthContext {
  return ctx.auth.authenticate(req.headers, req.remoteAddress);
}

/** For requests that change something: a ticket must come with its CSRF token (PBS's rule); tokens need none. */
export function authenticatedWrite(ctx: ApiContext, req: ApiRequest): AuthContext {
  const who = authenticated(ctx, req);
  ctx.auth.requireCsrf(who, req.headers);
  return who;
}
