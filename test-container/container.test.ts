/**
 * The server image, built and run for real with Debian's podman
 * (`npm run test:container`, called by .ci/run; not part of `npm test`: it
 * needs root, podman, runc and debootstrap, and takes a few minutes).
 *
 * No image registry is reachable, so base-image.sh first makes the stand-in
 * for node:20-bookworm-slim (debootstrap + this machine's Node 20; kept
 * between runs). The Dockerfile is then built and run with a data volume,
 * and checked from the host: the version over HTTPS, a backup by the
 * host's bulwark-client and a restore that matches, a server process that
 * is not root, `podman healthcheck run`, and `podman stop` (SIGTERM) ending
 * it within 10 s with the backup session it was holding recorded as aborted
 * (seen through the API after a second start on the same volume).
 * Podman settings: /work/shared/CONTAINER-NOTES.md and docs/deployment.md.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerConnection } from '../client/connection.ts';
import { parseRepository } from '../client/repository.ts';
import type { RpcSession } from '../client/rpc.ts';
import { client } from '../test/helpers/client-process.ts';
import { httpsGet, REPO_ROOT } from '../test/helpers/server-process.ts';
import { compareTrees } from '../test/helpers/tree-fixtures.ts';

const BASE_IMAGE = 'localhost/node:20-bookworm-slim';
const IMAGE = `localhost/bulwark-ctest:${process.pid}`;
const NAMES = [`bulwark-ctest-${process.pid}-a`, `bulwark-ctest-${process.pid}-b`, `bulwark-ctest-${process.pid}-c`, `bulwark-ctest-${process.pid}-d`] as const;
const BULWARK_UID = 10001;
const PASSWORD = 'container-test-password';
const STOP_BUDGET_MS = 10_000;

const work = mkdtempSync(join(tmpdir(), 'bulwark-ctest-'));
const dataDir = join(work, 'data');
const earlyDataDir = join(work, 'data-early');
const conf = join(work, 'containers.conf');
const timings: [string, number][] = [];
const running = new Set<ChildProcess>();

// The settings CONTAINER-NOTES.md verified: cgroupfs (no systemd), no ulimits to raise, runc.
writeFileSync(conf, '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n');
const podEnv = { ...process.env, CONTAINERS_CONF: conf };

interface Run { readonly code: number | null; readonly stdout: string; readonly stderr: string }

function run(cmd: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: podEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const podman = (...args: string[]) => run('podman', ['--runtime', 'runc', ...args]);

async function podmanOk(...args: string[]): Promise<string> {
  const r = await podman(...args);
  assert.equal(r.code, 0, `podman ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-3000)}`);
  return r.stdout.trim();
}

async function timed<T>(t: TestContext, label: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    const ms = performance.now() - start;
    timings.push([label, ms]);
    t.diagnostic(`${label}: ${(ms / 1000).toFixed(1)} s`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

interface Container {
  readonly name: string;
  readonly port: number;
  readonly banner: string;
  readonly fingerprint: string;
  readonly out: { stdout: string; stderr: string };
  readonly exited: Promise<number | null>;
}

/** `podman run` arguments: host network, the server on 127.0.0.1:<port>, the volume. */
const runArgs = (name: string, port: number, volume: string) => [
  'run', '--name', name, '--network', 'host',
  '-e', `BULWARK_PORT=${port}`, '-e', 'BULWARK_LISTEN=127.0.0.1', '-e', `BULWARK_ADMIN_PASSWORD=${PASSWORD}`,
  '-v', `${volume}:/var/lib/bulwark`, IMAGE,
];

/** Runs the image attached (its stdout is the server's) and waits for the whole start banner. */
async function startContainer(name: string, volume = dataDir): Promise<Container> {
  const port = await freePort();
  const child = spawn('podman', ['--runtime', 'runc', ...runArgs(name, port, volume)], { env: podEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out.stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out.stderr += d; });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => { running.delete(child); resolve(code); }));
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (/\n(Log in|\(shown|Created user)[^\n]*\n/.test(out.stdout)) {
        child.stdout.off('data', check);
        resolve();
      }
    };
    child.stdout.on('data', check);
    void exited.then((code) => reject(new Error(`container ${name} exited (${code}) before its banner:\n${out.stdout}\n${out.stderr.slice(-3000)}`)));
  });
  const fingerprint = /Certificate fingerprint: (\S+)/.exec(out.stdout)?.[1];
  assert.ok(fingerprint, out.stdout);
  return { name, port, banner: out.stdout, fingerprint, out, exited };
}

const repository = (c: Container) => `admin@pbs@127.0.0.1:${c.port}:store1`;
const clientEnv = (c: Container) => ({ BULWARK_REPOSITORY: repository(c), BULWARK_PASSWORD: PASSWORD, BULWARK_FINGERPRINT: c.fingerprint });
const connect = (c: Container) => ServerConnection.connect({ repo: parseRepository(repository(c)), secret: PASSWORD, fingerprint: c.fingerprint });
const isoTime = (epoch: number) => new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');

interface TaskEntry { upid: string; worker_type: string; worker_id?: string; status?: string; endtime?: number }

before(() => {
  assert.equal(process.getuid?.(), 0, 'the container test runs as root (debootstrap, podman with a bind-mounted volume)');
  // The server runs as uid 10001 in the container; a bind-mounted volume must be its.
  for (const dir of [dataDir, earlyDataDir]) {
    mkdirSync(dir, { mode: 0o750 });
    chownSync(dir, BULWARK_UID, BULWARK_UID);
  }
});

after(async () => {
  for (const child of running) child.kill('SIGKILL');
  for (const name of NAMES) await podman('rm', '-f', '-t', '0', name);
  await podman('rmi', '-f', IMAGE);
  rmSync(work, { recursive: true, force: true });
  const total = timings.reduce((sum, [, ms]) => sum + ms, 0);
  process.stdout.write(`container test timings: ${timings.map(([l, ms]) => `${l} ${(ms / 1000).toFixed(1)} s`).join(', ')}; total ${(total / 1000).toFixed(1)} s\n`);
});

describe('the server image under podman', { timeout: 20 * 60_000 }, () => {
  let first: Container;
  let held: { rpc: RpcSession; backupTime: number } | undefined;
  let heldUpid = '';
  const source = join(work, 'source');
  const backupTime = Math.floor(Date.now() / 1000) - 120;

  test('the base image exists (made by debootstrap, or reused)', async (t) => {
    const r = await timed(t, 'base image', () => run('bash', [join(REPO_ROOT, 'test-container', 'base-image.sh'), BASE_IMAGE]));
    assert.equal(r.code, 0, `base-image.sh exited ${r.code}:\n${r.stdout}\n${r.stderr.slice(-3000)}`);
    t.diagnostic(r.stdout.trim().split('\n').at(-1)!);
  });

  test('the Dockerfile builds: non-root user, volume, port 8007, SIGTERM, HEALTHCHECK', async (t) => {
    const r = await timed(t, 'image build', () => podman(
      'build', '--format', 'docker', '--network', 'host', '--layers=false',
      // The registry is behind a TLS-intercepting proxy whose CA is in the host's bundle.
      '--volume', '/etc/ssl/certs:/etc/ssl/certs:ro', '--build-arg', 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
      '--build-arg', `NODE_IMAGE=${BASE_IMAGE}`, '-t', IMAGE, '-f', join(REPO_ROOT, 'Dockerfile'), REPO_ROOT,
    ));
    assert.equal(r.code, 0, `podman build exited ${r.code}:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
    assert.match(r.stdout, /native modules load; uWebSockets\.js: .*uws_linux_x64_115\.node/);
    const config = JSON.parse(await podmanOk('image', 'inspect', '--format', '{{json .Config}}', IMAGE)) as {
      User: string; ExposedPorts: Record<string, unknown>; Volumes: Record<string, unknown>; StopSignal: string; Entrypoint: string[];
    };
    assert.equal(config.User, 'bulwark');
    assert.ok('8007/tcp' in config.ExposedPorts, JSON.stringify(config.ExposedPorts));
    assert.ok('/var/lib/bulwark' in config.Volumes, JSON.stringify(config.Volumes));
    assert.equal(config.StopSignal, 'SIGTERM');
    assert.equal(config.Entrypoint[0], 'node');
    assert.deepEqual(config.Entrypoint.slice(-3), ['--import', 'tsx', 'bin/bulwark-server.ts']);
    const health = await podmanOk('image', 'inspect', '--format', '{{json .HealthCheck}}', IMAGE);
    assert.match(health, /api2\/json\/version/);
    const size = await podmanOk('image', 'inspect', '--format', '{{.Size}}', IMAGE);
    t.diagnostic(`image size ${(Number(size) / 1e6).toFixed(0)} MB`);
  });

  test('first start: /version over HTTPS from the host, a server that is not root, a passing healthcheck', async (t) => {
    first = await timed(t, 'first start', () => startContainer(NAMES[0]));
    assert.match(first.banner, /uWebSockets\.js: native/);
    assert.match(first.banner, /Created datastore "store1"/);
    assert.match(first.banner, /Created user admin@pbs with the password from BULWARK_ADMIN_PASSWORD/);

    const ca = readFileSync(join(dataDir, 'etc', 'proxy.pem'));
    const version = await httpsGet(first.port, '/api2/json/version', ca);
    assert.equal(version.status, 200);
    assert.equal((JSON.parse(version.body) as { data: { repoid: string } }).data.repoid, 'bulwark');

    const pid = Number(await podmanOk('inspect', '--format', '{{.State.Pid}}', first.name));
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const uids = /^Uid:\s+(.*)$/m.exec(status)![1]!.trim().split(/\s+/).map(Number);
    assert.deepEqual(uids, [BULWARK_UID, BULWARK_UID, BULWARK_UID, BULWARK_UID], 'real, effective, saved and fs uid of the server');
    assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /bin\/bulwark-server\.ts/);

    // Podman logs (harmless) errors about systemd timers here; the exit code is the verdict.
    const health = await timed(t, 'healthcheck', () => podman('healthcheck', 'run', first.name));
    assert.equal(health.code, 0, `healthcheck: ${health.stdout} ${health.stderr}`);
  });

  test('a backup from the host\'s bulwark-client into the container, and a restore that matches', async (t) => {
    mkdirSync(join(source, 'etc', 'conf.d'), { recursive: true });
    writeFileSync(join(source, 'etc', 'hosts'), '127.0.0.1 localhost\n');
    writeFileSync(join(source, 'etc', 'conf.d', 'app.conf'), 'listen = 8007\n'.repeat(100));
    writeFileSync(join(source, 'random.bin'), randomBytes(6 * 1024 * 1024));
    writeFileSync(join(source, 'empty'), '');
    symlinkSync('etc/hosts', join(source, 'hosts-link'));
    const env = clientEnv(first);
    await timed(t, 'backup', () => client(['backup', `root.bxar:${source}`, '--backup-id', 'ctest', '--backup-time', String(backupTime)], env));
    const snapshot = `host/ctest/${isoTime(backupTime)}`;
    assert.match(await client(['snapshot', 'list'], env), new RegExp(snapshot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    const target = join(work, 'restored');
    await timed(t, 'restore', () => client(['restore', snapshot, 'root.bxar', target], env));
    assert.deepEqual(await compareTrees(source, target), []);
  });

  test('podman stop (SIGTERM) ends the container cleanly within 10 s, aborting the backup session it holds', async (t) => {
    // A backup session left open, as by a client in the middle of its upload: its task is running.
    const conn = await connect(first);
    const time = backupTime + 60;
    const rpc = await conn.openSession('/api2/ws/backup', { type: 'host', id: 'held', time });
    await rpc.request('create-index', { kind: 'dynamic', name: 'root.pxar.didx' });
    held = { rpc, backupTime: time };
    const tasks = (await conn.api('GET', '/nodes/localhost/tasks?running=1')) as TaskEntry[];
    const task = tasks.find((e) => e.worker_type === 'backup' && e.worker_id === 'store1:host/held');
    assert.ok(task, `a running backup task: ${JSON.stringify(tasks)}`);
    heldUpid = task.upid;

    const stop = await timed(t, 'podman stop', async () => {
      const start = performance.now();
      const r = await podman('stop', '-t', String(STOP_BUDGET_MS / 1000), first.name);
      return { ...r, ms: performance.now() - start };
    });
    assert.equal(stop.code, 0, stop.stderr);
    assert.doesNotMatch(stop.stderr, /SIGKILL/, 'stopped by SIGTERM, not killed');
    assert.ok(stop.ms < STOP_BUDGET_MS, `stopped in ${stop.ms.toFixed(0)} ms`);
    assert.equal(await first.exited, 0, `exit code 0 after SIGTERM:\n${first.out.stderr.slice(-3000)}`);
    assert.equal(await podmanOk('inspect', '--format', '{{.State.ExitCode}}', first.name), '0');
    assert.match(first.out.stderr, /"signal":"SIGTERM","msg":"shutting down"/);
    assert.match(first.out.stderr, /backup aborted; unfinished snapshot removed/);
    rpc.close();
  });

  test('after a second start on the same volume the held backup task reads as aborted, and the first backup is intact', async (t) => {
    assert.ok(held && heldUpid, 'the previous test held a session');
    const second = await timed(t, 'second start', () => startContainer(NAMES[1]));
    assert.match(second.banner, /Log in as admin@pbs/, 'nothing is created again');
    const conn = await connect(second);
    const tasks = (await conn.api('GET', '/nodes/localhost/tasks?typefilter=backup')) as TaskEntry[];
    const entry = tasks.find((e) => e.upid === heldUpid);
    assert.ok(entry, JSON.stringify(tasks));
    t.diagnostic(`held backup task after SIGTERM: status ${JSON.stringify(entry.status)}`);
    assert.notEqual(entry.status, 'running');
    assert.notEqual(entry.status, 'unknown');
    assert.equal(entry.status, 'abort requested - aborting task', 'ended as asked, not in error');
    const status = (await conn.api('GET', `/nodes/localhost/tasks/${encodeURIComponent(heldUpid)}/status`)) as { status: string; exitstatus: string };
    assert.equal(status.status, 'stopped');
    assert.equal(status.exitstatus, 'abort requested - aborting task');
    const log = (await conn.api('GET', `/nodes/localhost/tasks/${encodeURIComponent(heldUpid)}/log?limit=0`)) as { t: string }[];
    assert.ok(log.some((l) => /abort request/.test(l.t)), JSON.stringify(log));

    const list = await client(['snapshot', 'list'], clientEnv(second));
    assert.match(list, /host\/ctest\//);
    assert.doesNotMatch(list, /host\/held\//, 'the unfinished snapshot was removed');

    const stop = await podman('stop', '-t', String(STOP_BUDGET_MS / 1000), second.name);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await second.exited, 0);
  });

  test('podman stop while the server is still starting ends it within 10 s too, and the volume starts afterwards', async (t) => {
    // As PID 1, node ignores SIGTERM until something handles it: wait until
    // the process catches it (the entrypoint's first --import), then stop it
    // during its module loading, first-start files or start, wherever it is.
    const [, ...args] = runArgs(NAMES[2], await freePort(), earlyDataDir);
    const id = await podmanOk('run', '-d', ...args);
    const pid = Number(await podmanOk('inspect', '--format', '{{.State.Pid}}', id));
    const SIGTERM_BIT = 1n << 14n;
    while ((BigInt(`0x${/^SigCgt:\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]}`) & SIGTERM_BIT) === 0n) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const stop = await timed(t, 'podman stop while starting', async () => {
      const start = performance.now();
      const r = await podman('stop', '-t', String(STOP_BUDGET_MS / 1000), id);
      return { ...r, ms: performance.now() - start };
    });
    assert.equal(stop.code, 0, stop.stderr);
    assert.doesNotMatch(stop.stderr, /SIGKILL/, 'stopped by SIGTERM, not killed');
    assert.ok(stop.ms < STOP_BUDGET_MS, `stopped in ${stop.ms.toFixed(0)} ms`);
    const code = await podmanOk('inspect', '--format', '{{.State.ExitCode}}', id);
    const logs = await podman('logs', id);
    t.diagnostic(`stopped while starting: exit code ${code}${/stopped while starting/.test(logs.stderr) ? ' (after its first-start files)' : ''}`);
    // 143: still loading its modules (nothing was started); 0: after the first-start files or a full start.
    assert.ok(code === '0' || code === '143', `exit code ${code}:\n${logs.stderr.slice(-3000)}`);

    const again = await startContainer(NAMES[3], earlyDataDir);
    assert.match(again.banner, /listening on/);
    assert.equal((await podman('stop', '-t', String(STOP_BUDGET_MS / 1000), again.name)).code, 0);
    assert.equal(await again.exited, 0);
  });
});
