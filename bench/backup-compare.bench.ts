/**
 * Bulwark vs restic vs borg on the same real directory tree (default
 * /usr/share, or BENCH_TREE), same machine, same run: first backup, an
 * unchanged second backup, and a full restore. Bulwark runs as a real
 * server and client over loopback TLS; restic and borg use local
 * repositories (borg unencrypted, restic with its mandatory encryption).
 * Skipped with a note when restic or borg is not installed
 * (`apt-get install restic borgbackup`). Bulwark's CLI runs as the bundle
 * of scripts/build-client.ts (built here; plain JavaScript, like the Go and
 * Python CLIs it is compared with, no tsx start-up per run), or through tsx
 * when the build fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClient, runBuiltClient } from '../scripts/build-client.ts';
import { client, clientEnv } from '../test/helpers/client-process.ts';
import { startServer } from '../test/helpers/server-process.ts';
import { benchResult, printResults, type BenchResult } from './result.ts';

const TREE = process.env.BENCH_TREE ?? '/usr/share';

function treeBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', '--apparent-size', dir], { encoding: 'utf8' }).split('\t')[0]);
}

/** Dirty pages of the phases before are flushed first (untimed): no tool pays for another's writeback. */
function timed(fn: () => void): number {
  execFileSync('sync');
  const t = performance.now();
  fn();
  return performance.now() - t;
}

async function timedAsync(fn: () => Promise<unknown>): Promise<number> {
  execFileSync('sync');
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const have = (cmd: string) => spawnSync('which', [cmd]).status === 0;
const sh = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) => {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
};

interface Times { first: number; second: number; restore: number }

function resticTimes(work: string): Times {
  const env = { RESTIC_PASSWORD: 'bench', RESTIC_REPOSITORY: join(work, 'restic'), RESTIC_CACHE_DIR: join(work, 'restic-cache') };
  sh('restic', ['init', '-q'], env);
  const first = timed(() => sh('restic', ['backup', '-q', TREE], env));
  const second = timed(() => sh('restic', ['backup', '-q', TREE], env));
  const restore = timed(() => sh('restic', ['restore', '-q', 'latest', '--target', join(work, 'restic-out')], env));
  rmSync(join(work, 'restic-out'), { recursive: true, force: true });
  return { first, second, restore };
}

function borgTimes(work: string): Times {
  const env = { BORG_REPO: join(work, 'borg'), BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_BASE_DIR: join(work, 'borg-base') };
  sh('borg', ['init', '-e', 'none'], env);
  const first = timed(() => sh('borg', ['create', '::a', TREE], env));
  const second = timed(() => sh('borg', ['create', '::b', TREE], env));
  const out = join(work, 'borg-out');
  sh('mkdir', ['-p', out]);
  const restore = timed(() => sh('borg', ['extract', '::b'], env, out));
  rmSync(out, { recursive: true, force: true });
  return { first, second, restore };
}

type Cli = (args: string[], env: NodeJS.ProcessEnv) => Promise<string>;

/** The bundled CLI, or the tsx one when the bundle cannot be built. */
async function bulwarkCli(): Promise<{ cli: Cli; which: string }> {
  try {
    await buildClient({ quiet: true });
    return { cli: runBuiltClient, which: 'bundled CLI' };
  } catch (err) {
    process.stderr.write(`backup-compare: client bundle not built (${(err as Error).message}); timing the tsx CLI\n`);
    return { cli: client, which: 'tsx CLI' };
  }
}

async function bulwarkTimes(work: string, cli: Cli): Promise<Times> {
  const server = await startServer({ dataDir: join(work, 'bulwark-data'), env: { BULWARK_ADMIN_PASSWORD: 'bench' } });
  try {
    // A login session's runtime dir: tickets and the pinned certificate are kept between runs, as for a user.
    const env = clientEnv(server, 'bench', { XDG_RUNTIME_DIR: join(work, 'run') });
    const t0 = Math.floor(Date.now() / 1000) - 3600;
    const args = (t: number) => ['backup', `root.bxar:${TREE}`, '--backup-id', 'bench', '--backup-time', String(t)];
    const first = await timedAsync(() => cli(args(t0), env));
    const second = await timedAsync(() => cli(args(t0 + 60), env));
    const snap = `host/bench/${new Date((t0 + 60) * 1000).toISOString().replace('.000Z', 'Z')}`;
    const restore = await timedAsync(() => cli(['restore', snap, 'root.bxar', join(work, 'bulwark-out')], env));
    return { first, second, restore };
  } finally {
    await server.stop();
  }
}

export async function run(): Promise<BenchResult[]> {
  if (!have('restic') || !have('borg')) {
    process.stderr.write('backup-compare: restic or borg missing (apt-get install restic borgbackup); skipped\n');
    return [];
  }
  const work = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
  try {
    const bytes = treeBytes(TREE);
    // Every tool then reads from the page cache; whoever ran first would otherwise pay for the disk.
    sh('sh', ['-c', `find "$1" -type f -readable -print0 | xargs -0 cat > /dev/null 2>&1 || true`, 'warm', TREE]);
    const { cli, which } = await bulwarkCli();
    const bulwark = await bulwarkTimes(work, cli);
    const restic = resticTimes(work);
    const borg = borgTimes(work);
    const note = `${TREE}, ${(bytes / 1e6).toFixed(0)} MB, bulwark's ${which}; times (s) bulwark/restic/borg`;
    const rows: BenchResult[] = [];
    for (const phase of ['first', 'second', 'restore'] as const) {
      const times = `${(bulwark[phase] / 1000).toFixed(1)}/${(restic[phase] / 1000).toFixed(1)}/${(borg[phase] / 1000).toFixed(1)}`;
      rows.push(benchResult(`bulwark ${phase === 'second' ? 'unchanged 2nd backup' : phase === 'first' ? 'first backup' : 'full restore'}`, bytes, bulwark[phase], 'restic', bytes, restic[phase], `${note}: ${times}`));
      rows.push(benchResult(`bulwark ${phase === 'second' ? 'unchanged 2nd backup' : phase === 'first' ? 'first backup' : 'full restore'}`, bytes, bulwark[phase], 'borg', bytes, borg[phase], `${note}: ${times}`));
    }
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) printResults(await run());
