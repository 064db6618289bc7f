/**
 * Runs the real bulwark-client CLI against a test server, with the
 * repository, password and certificate pin in its environment.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CLI_NODE_FLAGS } from '../../bin/cli-node-flags.ts';
import { REPO_ROOT, serverLogTail, type StartedServer } from './server-process.ts';

export const CLIENT_BIN = join(REPO_ROOT, 'bin', 'bulwark-client.ts');

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
    ...extra,
  };
}

export function runClient(args: readonly string[], env: NodeJS.ProcessEnv): Promise<ClientResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI_NODE_FLAGS, '--import', 'tsx', CLIENT_BIN, ...args], {
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
