/**
 * bulwark-server: bootstraps the data directory, starts the actor system
 * and the HTTPS listener, and shuts both down cleanly on SIGTERM/SIGINT.
 * Usage errors end with one line on stderr and exit code 2.
 */
import { startServerSystem, type ServerSystem } from '../actors/server-system.ts';
import { AuthService } from '../auth/auth-service.ts';
import { bootstrap } from '../config/bootstrap.ts';
import { loadDatastoreConfig } from '../config/datastore-config.ts';
import { certificateFingerprint } from '../config/tls.ts';
import { isBulwarkError } from '../errors.ts';
import { startHttpServer } from '../transport/server.ts';
import { InspectFeed } from '../transport/inspect-feed.ts';
import { armExitWatchdog, nativeLoadError } from '../native/index.ts';
import { createRootLogger } from './logger.ts';
import { parseServerOptions, SERVER_HELP } from './server-options.ts';

/** Milliseconds Node's own exit may take once everything is on disk (see exitSoon). */
const EXIT_GRACE_MS = 5000;

/**
 * Exits with `code` on the next turn (an async log destination drains
 * first). Node 20 can hang inside its exit (nodejs/node#54918); the native
 * watchdog ends the process after EXIT_GRACE_MS even then, so a service
 * manager never has to kill a server that has finished its work.
 */
function exitSoon(code: number): void {
  if (nativeLoadError() === undefined) armExitWatchdog(EXIT_GRACE_MS, code);
  setImmediate(() => process.exit(code));
}

function fail(message: string, code = 2): never {
  process.stderr.write(`bulwark-server: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const options = parseServerOptions(process.argv.slice(2), process.env);
  if (options.help) {
    process.stdout.write(SERVER_HELP);
    return;
  }
  const log = createRootLogger(options.logLevel, 'bulwark-server');
  // A stop asked for while starting must not cut the first start's files
  // short: it is kept, and honoured once they are written (or once started).
  let earlySignal: string | undefined;
  const early = (signal: string) => { earlySignal ??= signal; };
  process.on('SIGTERM', early).on('SIGINT', early);
  const boot = await bootstrap(options.dataDir);
  if (earlySignal) {
    // The generated password is shown only once: even now.
    if (boot.admin?.generated) process.stdout.write(`Created user ${boot.admin.userid} with password: ${boot.admin.password}\n(shown only this once; change it after logging in)\n`);
    log.info({ signal: earlySignal }, 'stopped while starting');
    log.flush();
    exitSoon(0);
    return;
  }
  const datastores = loadDatastoreConfig(boot.paths.datastoreConfig);
  // The visualiser's view of every actor: the root is created with its observer (STYLE point 3).
  const feed = new InspectFeed();
  const system = await startServerSystem({
    inspect: feed.inspect,
    paths: boot.paths,
    config: { datastores: datastores.data, datastoresDigest: datastores.digest },
    log,
    // The root gave up on a child: leave, and let the service manager start the server afresh from its files.
    onEscalated: () => exitSoon(1),
  });
  const { root } = system;

  let server;
  try {
    server = await startHttpServer({
      host: options.listen,
      port: options.port,
      keyFile: boot.paths.tlsKey,
      certFile: boot.paths.tlsCert,
      log: log.child({ component: 'http' }),
      system: root.system,
      auth: new AuthService(boot.paths),
      paths: boot.paths,
      jobs: system.jobs,
      feed,
    });
  } catch (err) {
    await system.close();
    throw err;
  }

  const host = options.listen.includes(':') ? `[${options.listen}]` : options.listen;
  const lines = [
    `Bulwark listening on https://${host}:${server.port}/ (uWebSockets.js: ${server.implementation})`,
    `Data directory: ${boot.paths.dataDir}`,
    `Certificate fingerprint: ${certificateFingerprint(boot.paths.tlsCert)}`,
  ];
  if (boot.createdStore) lines.push(`Created datastore "${boot.createdStore}"`);
  if (boot.admin?.generated) {
    lines.push(`Created user ${boot.admin.userid} with password: ${boot.admin.password}`, '(shown only this once; change it after logging in)');
  } else if (boot.admin) {
    lines.push(`Created user ${boot.admin.userid} with the password from BULWARK_ADMIN_PASSWORD`);
  } else {
    lines.push('Log in as admin@pbs with the password set on first start.');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  log.info({ port: server.port, host: options.listen, uws: server.implementation }, 'server started');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    // Every running task, backup and reader sessions included, is asked to
    // stop while its connection is still open, so each records its end
    // (instead of `unknown` at the next start); then the connections close.
    abortRunningTasks(system, SESSION_ABORT_MS)
      .then((left) => {
        if (left.length > 0) log.warn({ tasks: left }, 'tasks still running at shutdown');
        server.close();
        return server.idle();
      })
      .then(() => system.close({ abortTimeoutMs: JOB_ABORT_MS }))
      .catch((err: unknown) => log.error({ err }, 'shutdown was not clean'))
      .finally(() => {
        // The last line of a clean stop: from here on everything is on disk, even if Node's
        // own exit should hang (nodejs/node#54918, see docs/operations.md).
        log.info('stopped');
        log.flush();
        exitSoon(0);
      });
  };
  // Add before removing: with no listener left Node closes the signal's
  // watcher, and a signal already caught but not yet dispatched is lost.
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.off('SIGTERM', early).off('SIGINT', early);
  if (earlySignal) shutdown(earlySignal);
}

// Both within the 10 s a service manager (podman/docker stop, systemd) waits before SIGKILL.
const SESSION_ABORT_MS = 6000;
const JOB_ABORT_MS = 2000;

/** Asks every running task to stop (as DELETE /tasks/{upid} does) and waits up to `ms` for them to end; returns those left. */
async function abortRunningTasks(system: ServerSystem, ms: number): Promise<string[]> {
  for (const upid of system.tasks.runningTasks()) system.jobs.abort(upid);
  const deadline = Date.now() + ms;
  // TaskStore has no end event; a short poll during shutdown is enough.
  while (system.tasks.runningTasks().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return system.tasks.runningTasks();
}

main().catch((err: unknown) => {
  // Anything that stops the start is a setup problem the operator must fix: exit 2.
  if (isBulwarkError(err)) fail(err.message, 2);
  fail(`unexpected error: ${(err as Error)?.message ?? String(err)}`, 1);
});
