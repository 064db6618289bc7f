/**
 * The HTTPS listener: one uWS SSLApp carrying the /api2/json routes (and,
 * as they are built, the WebSocket protocols and the web page). It talks to
 * the actor system only through messages and snapshots it is handed.
 */
import type { Logger } from 'pino';
import { bulwarkError } from '../errors.ts';
import { apiNotFound } from './http-api.ts';
import { versionRoutes } from './routes/version.ts';
import { loadUws, type us_listen_socket } from './uws.ts';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly keyFile: string;
  readonly certFile: string;
  readonly log: Logger;
}

export interface HttpServer {
  readonly port: number;
  readonly implementation: 'native' | 'fallback';
  /** Stops accepting connections; open connections are closed too. */
  close(): void;
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { uws, implementation } = loadUws();
  const app = uws.SSLApp({ key_file_name: options.keyFile, cert_file_name: options.certFile });
  versionRoutes(app, options.log);
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
    close() {
      if (closed) return;
      closed = true;
      uws.us_listen_socket_close(socket);
      (app as unknown as { close?: () => void }).close?.();
    },
  };
}
