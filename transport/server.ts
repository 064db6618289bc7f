/**
 * The HTTPS listener: one uWS SSLApp carrying the /api2/json routes (and,
 * as they are built, the WebSocket protocols and the web page). It talks to
 * the actor system only through messages and snapshots it is handed.
 */
import type { Logger } from 'pino';
import { bulwarkError } from '../errors.ts';
import type { SessionLimits } from '../machines/backup-session.types.ts';
import { apiNotFound } from './http-api.ts';
import { versionRoutes } from './routes/version.ts';
import { loadUws, type us_listen_socket } from './uws.ts';
import { backupRoute } from './ws-backup.ts';
import { readerRoute } from './ws-reader.ts';
import type { ActorSystemLike } from './ws-upgrade.ts';
import type { AuthService } from '../auth/auth-service.ts';
import type { ConfigPaths } from '../config/paths.ts';
import { aclRoutes } from './routes/acl.ts';
import { configDatastoreRoutes } from './routes/config-datastore.ts';
import { configJobRoutes } from './routes/config-jobs.ts';
import { configRemoteRoutes } from './routes/config-remote.ts';
import { configTrafficControlRoutes } from './routes/config-traffic-control.ts';
import { permissionRoutes } from './routes/permissions.ts';
import { tfaRoutes } from './routes/tfa.ts';
import { userRoutes } from './routes/users.ts';
import type { JobService } from '../actors/job-service.ts';
import { accessRoutes } from './routes/access.ts';
import { datastoreAdminRoutes } from './routes/datastore-admin.ts';
import { datastoreJobRoutes } from './routes/datastore-jobs.ts';
import { taskRoutes } from './routes/tasks.ts';
import { datastoreContentRoutes } from './routes/datastore-content.ts';
import { nodeStatusRoutes } from './routes/node-status.ts';
import type { InspectFeed } from './inspect-feed.ts';
import { uiRoutes } from './routes/ui.ts';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly keyFile: string;
  readonly certFile: string;
  readonly log: Logger;
  /** The running actor system (`root.system`). */
  readonly system: ActorSystemLike;
  readonly auth: AuthService;
  /** The config files the access admin routes (users, tokens, ACLs) edit. */
  readonly paths: ConfigPaths;
  /** Starts maintenance tasks (GC, prune, verify) and answers for running ones. */
  readonly jobs?: JobService;
  /** Overrides of the session limits (credit, concurrency, idle timeout), mainly for tests. */
  readonly sessionLimits?: Partial<SessionLimits>;
  /** The actor system's inspection feed, for the visualiser's WebSocket. */
  readonly feed?: InspectFeed;
}

export interface HttpServer {
  readonly port: number;
  readonly implementation: 'native' | 'fallback';
  /** Stops accepting connections; open connections are closed too. */
  close(): void;
  /** Resolves once datastore creations and removals started through the API have finished. */
  idle(): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { uws, implementation } = loadUws();
  const app = uws.SSLApp({ key_file_name: options.keyFile, cert_file_name: options.certFile });
  const { system, auth, log } = options;
  versionRoutes(app, log);
  accessRoutes(app, log, auth);
  const api = { log, auth, system, ...(options.jobs && { jobs: options.jobs }) };
  datastoreAdminRoutes(app, api);
  datastoreJobRoutes(app, api);
  taskRoutes(app, api);
  datastoreContentRoutes(app, api);
  nodeStatusRoutes(app, api, { certFile: options.certFile });
  tfaRoutes(app, api);
  const storeTasks = configDatastoreRoutes(app, api, options.paths);
  configJobRoutes(app, api, options.paths);
  configRemoteRoutes(app, api, options.paths);
  configTrafficControlRoutes(app, api, options.paths);
  const access = { ...api, paths: options.paths };
  userRoutes(app, access);
  aclRoutes(app, access);
  permissionRoutes(app, access);
  const ws = { system, auth, log, limits: options.sessionLimits };
  backupRoute(app, ws);
  readerRoute(app, ws);
  uiRoutes(app, { log, auth, ...(options.feed && { feed: options.feed }) });
  apiNotFound(app);

  const socket = await new Promise<us_listen_socket | false>((resolve) => {
    app.listen(options.host, options.port, (s) => resolve(s));
  });
  if (!socket) {
    throw bulwarkError('BULWARK_USAGE', `cannot listen on ${options.host}:${options.port}: address in use, not local, or not permitted`);
  }
  const port = uws.us_socket_local_port(socket as never);
  let closed = false;
  return {
    port,
    implementation,
    idle: () => storeTasks.idle(),
    close() {
      if (closed) return;
      closed = true;
      uws.us_listen_socket_close(socket);
      (app as unknown as { close?: () => void }).close?.();
    },
  };
}
