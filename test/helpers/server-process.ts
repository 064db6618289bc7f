/**
 * Runs the real bulwark-server as a child process on 127.0.0.1 with a
 * random port and a temp data dir, and waits for its "listening" banner
 * (no sleeps: the banner line is the readiness signal).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SERVER_BIN = join(REPO_ROOT, 'bin', 'bulwark-server');

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runServer(args: readonly string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<RunResult>; out: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [SERVER_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, BULWARK_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out.stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { out.stderr += d; });
  const done = new Promise<RunResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, ...out }));
  });
  return { child, done, out };
}

/** Output of every server started by this process, by port: failing client runs quote its log. */
const serverOutputs = new Map<number, { stderr: string }>();

/** The last `bytes` of the server log of the server listening on `port`, if this process started it. */
export function serverLogTail(port: number, bytes = 4000): string | undefined {
  const out = serverOutputs.get(port);
  return out === undefined ? undefined : out.stderr.slice(-bytes);
}

export interface StartedServer {
  readonly child: ChildProcess;
  readonly port: number;
  readonly dataDir: string;
  readonly banner: string;
  readonly ca: Buffer;
  readonly done: Promise<RunResult>;
  stop(signal?: NodeJS.Signals): Promise<RunResult>;
}

export function makeDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'bulwark-server-'));
}

export async function startServer(options: { dataDir?: string; env?: NodeJS.ProcessEnv; args?: readonly string[] } = {}): Promise<StartedServer> {
  const dataDir = options.dataDir ?? makeDataDir();
  const { child, done, out } = runServer(['--data-dir', dataDir, '--port', '0', ...(options.args ?? [])], options.env);
  const port = await new Promise<number>((resolve, reject) => {
    const onData = () => {
      const m = /listening on https:\/\/[^\s]*:(\d+)\//.exec(out.stdout);
      if (m) {
        child.stdout!.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    void done.then((r) => reject(new Error(`server exited early (${r.code}): ${r.stderr}`)));
  });
  serverOutputs.set(port, out);
  // The banner is written in one call; wait for its last line before returning.
  await new Promise<void>((resolve) => {
    const check = () => (/\n(Log in|\(shown|Created user)[^\n]*\n/.test(out.stdout) ? resolve() : child.stdout!.once('data', check));
    check();
  });
  return {
    child,
    port,
    dataDir,
    banner: out.stdout,
    ca: readFileSync(join(dataDir, 'etc', 'proxy.pem')),
    done,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return done;
    },
  };
}

export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** HTTPS GET against the server, trusting only its own certificate. */
export function httpsGet(port: number, path: string, ca: Buffer): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', ca, servername: 'localhost' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves when the server's stderr (its JSON log) has a line matching `pattern`. */
export function waitForLog(server: StartedServer, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer | string) => {
      seen += d.toString();
      const line = seen.split('\n').find((l) => pattern.test(l));
      if (line) {
        server.child.stderr!.off('data', onData);
        resolve(line);
      }
    };
    server.child.stderr!.on('data', onData);
    void server.done.then((r) => reject(new Error(`server exited before logging ${pattern}: ${r.stderr}`)));
  });
}
