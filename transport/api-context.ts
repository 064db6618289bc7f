/**
 * What route handlers get: the logger, the auth service, and read access to
 * the actor system (configuration via the config store's snapshot,
 * datastore state via `datastore:<name>` actors). Routes never hold module
 * singletons; everything comes through here.
 */
import type { Logger } from 'pino';
import type { ActorSystem, AnyActorRef } from 'xstate';
import type { AuthContext } from '../auth/authenticate.ts';
import type { AuthService } from '../auth/auth-service.ts';
import type { ConfigSnapshot } from '../config/config-store.ts';
import type { DatastoreConfig } from '../config/datastore-config.ts';
import { bulwarkError } from '../errors.ts';
import type { ApiRequest } from './http-api.ts';

export interface ApiContext {
  readonly log: Logger;
  readonly auth: AuthService;
  readonly system: ActorSystem<any>;
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

/** Throws BULWARK_DATASTORE_UNAVAILABLE unless the store's actor carries `tag`. */
export function requireDatastoreTag(ctx: ApiContext, store: string, tag: 'readable' | 'writable'): void {
  const ref = ctx.system.get(`datastore:${store}`) as AnyActorRef | undefined;
  const snap = ref?.getSnapshot() as { hasTag(t: string): boolean; value: unknown } | undefined;
  if (!snap) throw bulwarkError('BULWARK_DATASTORE_UNAVAILABLE', store, 'not running');
  if (!snap.hasTag(tag)) {
    const state = String(snap.value);
    const why = state === 'readOnly' ? 'in read-only maintenance mode' : state === 'offline' ? 'offline for maintenance' : `not available (${state})`;
    throw bulwarkError('BULWARK_DATASTORE_UNAVAILABLE', store, why);
  }
}

export function authenticated(ctx: ApiContext, req: ApiRequest): AuthContext {
  return ctx.auth.authenticate(req.headers, req.remoteAddress);
}

/** PBS's owner rule: the owner itself, or a user acting on a group owned by one of its tokens. */
export function ownsGroup(owner: string | undefined, authid: string): boolean {
  if (owner === undefined) return false;
  if (owner === authid) return true;
  const bang = owner.indexOf('!');
  return bang > 0 && !authid.includes('!') && owner.slice(0, bang) === authid;
}

/** ACL path of a store and namespace: `/datastore/<store>[/<ns…>]`. */
export function datastoreAclPath(store: string, ns: string | undefined): string {
  return ns && ns.length > 0 ? `/datastore/${store}/${ns}` : `/datastore/${store}`;
}
