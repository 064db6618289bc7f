/**
 * An HTTPS uWS app on 127.0.0.1 (port 0, self-signed certificate) carrying
 * the access routes (tickets, for CSRF tests) plus the routes under test, so
 * route tests need not go through transport/server.ts.
 */
import { join } from 'node:path';
import pino from 'pino';
import type { JobService } from '../../actors/job-service.ts';
import type { AuthService } from '../../auth/auth-service.ts';
import { ensureSelfSignedCertificate } from '../../config/tls.ts';
import type { ApiContext } from '../../transport/api-context.ts';
import { apiNotFound } from '../../transport/http-api.ts';
import { accessRoutes } from '../../transport/routes/access.ts';
import { loadUws, type TemplatedApp, type us_listen_socket } from '../../transport/uws.ts';
import type { ActorSystemLike } from '../../transport/ws-upgrade.ts';

export interface RouteServer {
  readonly port: number;
  readonly certFile: string;
  close(): void;
}

export async function startRouteServer(opts: {
  /** Where the certificate and key are written. */
  readonly dir: string;
  readonly auth: AuthService;
  readonly system: ActorSystemLike;
  readonly jobs?: JobService;
  readonly routes: (app: TemplatedApp, ctx: ApiContext, tls: { certFile: string }) => void;
}): Promise<RouteServer> {
  const tls = { keyFile: join(opts.dir, 'proxy.key'), certFile: join(opts.dir, 'proxy.pem') };
  await ensureSelfSignedCertificate(tls);
  const { uws } = loadUws();
  const app = uws.SSLApp({ key_file_name: tls.keyFile, cert_file_name: tls.certFile });
  const log = pino({ level: 'silent' });
  accessRoutes(app, log, opts.auth);
  opts.routes(app, { log, auth: opts.auth, system: opts.system, ...(opts.jobs && { jobs: opts.jobs }) }, tls);
  apiNotFound(app);
  const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen('127.0.0.1', 0, resolve));
  if (!socket) throw new Error('route server could not listen');
  return {
    port: uws.us_socket_local_port(socket as never),
    certFile: tls.certFile,
    close() {
      uws.us_listen_socket_close(socket);
      (app as unknown as { close?: () => void }).close?.();
    },
  };
}
