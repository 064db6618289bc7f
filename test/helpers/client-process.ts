/**
 * Runs the real bulwark-client CLI against a test server, with the
 * repository, password and certificate pin in its environment.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CLI_NODE_FLAGS } from '../../bin/cli-node-flags.ts';
import { REPO_ROOT, serverLogTail, type StartedServer } from './server-process.ts';

/** The program users run (bin/bulwark-client registers tsx itself). */
export const CLIENT_BIN = join(REPO_ROOT, 'bin', 'bulwark-client');

export interface ClientResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export function clientEnv(server: StartedServer, password: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const fingerprint = /Certificate fingerprint: (\S+)/.exec(server.banner)![1]!;
  return {
    BULWARK_REPOSITORY: `admin@pbs@127.0.0.1:${server.port}:store1`,
    BULWARK_PASSWORD: password,
    BULWARK_FINGERPRINT: fingerprint,
    XDG_RUNTIME_DIR: '', // no ticket cache unless a test asks for one
    XDG_CONFIG_HOME: '/nonexistent/bulwark-test-config', // no default encryption key of whoever runs the tests
    ...extra,
  };
}

export function runClient(args: readonly string[], env: NodeJS.ProcessEnv): Promise<ClientResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI_NODE_FLAGS, CLIENT_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

const shellQuote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

/** What to type on the terminal once the output so far matches `after`. */
export interface TerminalAnswer {
  readonly after: RegExp;
  readonly type: string;
}

/**
 * Runs the client on a real terminal: a pseudo-terminal made by script(1)
 * (util-linux), which passes what is typed to it and copies everything the
 * client writes to stdout or stderr back (as `stdout`, with the terminal's
 * CRLF). Each answer is typed once its prompt has appeared, as a person
 * would (typed ahead, a line could reach the prompt before it is ready).
 */
export function runClientOnTerminal(args: readonly string[], env: NodeJS.ProcessEnv, answers: readonly TerminalAnswer[] = []): Promise<ClientResult> {
  const command = [process.execPath, ...CLI_NODE_FLAGS, CLIENT_BIN, ...args].map(shellQuote).join(' ');
  return new Promise((resolve) => {
    // The timeout only ends a run that waits for an answer it will never get (a prompt that did not match).
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'], timeout: 120_000 });
    const out: Buffer[] = [];
    let err = '';
    let answered = 0;
    const answer = () => {
      const next = answers[answered];
      if (!next || !next.after.test(Buffer.concat(out).toString())) return;
      answered++;
      child.stdin.write(next.type);
      answer();
    };
    child.stdout.on('data', (d: Buffer) => {
      out.push(d);
      answer();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

/** Runs the client and fails with its stderr unless it exits 0. */
export async function client(args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  const r = await runClient(args, env);
  if (r.code !== 0) {
    const port = /:(\d+):[^:]+$/.exec(env.BULWARK_REPOSITORY ?? '')?.[1];
    const log = port === undefined ? undefined : serverLogTail(Number(port));
    throw new Error(`bulwark-client ${args.join(' ')} exited ${r.code}: ${r.stderr}${log ? `\nserver log (tail):\n${log}` : ''}`);
  }
  return r.stdout.toString('utf8');
}
