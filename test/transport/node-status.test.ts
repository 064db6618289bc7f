import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { waitFor, type AnyActorRef } from 'xstate';
import { startServerSystem, type ServerSystem } from '../../actors/server-system.ts';
import { AuthService } from '../../auth/auth-service.ts';
import { createToken } from '../../auth/tokens.ts';
import { configPaths } from '../../config/paths.ts';
import { certificateFingerprint } from '../../config/tls.ts';
import { BackupNamespace } from '../../datastore/backup-ref.ts';
import { createNamespace } from '../../datastore/snapshots.ts';
import { cpuUsage, nodeStatusRoutes, parseCpuinfo, parseCpuTimes, parseLoadavg, parseMeminfo } from '../../transport/routes/node-status.ts';
import { addAcl, addUser, makeAuthDir, type AuthDir } from '../helpers/auth-fixtures.ts';
import { removeDir, sparseStoreDir, tempDir } from '../helpers/chunk-fixtures.ts';
import { apiCall, tokenHeader, type ApiReply } from '../helpers/https-api.ts';
import { startRouteServer, type RouteServer } from '../helpers/route-server.ts';

// PBS's own parser test input (proxmox-sys procfs test_read_proc_meminfo), shortened.
const MEMINFO = `MemTotal:       32752584 kB
MemFree:         2106048 kB
MemAvailable:   13301592 kB
Buffers:               0 kB
Cached:           490072 kB
SwapTotal:             3 kB
SwapFree:              2 kB
HugePages_Total:       0
`;
const CPUINFO = `processor\t: 0
model name\t: Test CPU @ 2.00GHz
physical id\t: 0

processor\t: 1
model name\t: Test CPU @ 2.00GHz
physical id\t: 0
`;
const statText = (user: number, system: number, idle: number, iowait: number): string =>
  `cpu  ${user} 0 ${system} ${idle} ${iowait} 0 0 0 0 0\ncpu0 ${user} 0 ${system} ${idle} ${iowait} 0 0 0 0 0\nintr 1 2 3\n`;

describe('procfs parsers (PBS semantics)', () => {
  test('meminfo: used = total − available, free = MemFree, in bytes', () => {
    assert.deepEqual(parseMeminfo(MEMINFO), {
      memory: { total: 33538646016, used: 19917815808, free: 2156593152 },
      swap: { total: 3072, used: 1024, free: 2048 },
    });
  });

  test('cpu usage and I/O wait are fractions of the ticks between readings (since boot at first)', () => {
    const a = parseCpuTimes(statText(100, 50, 800, 50));
    assert.deepEqual(cpuUsage(undefined, a), { cpu: 0.15, wait: 0.05 });
    const b = parseCpuTimes(statText(200, 100, 1500, 100));
    const u = cpuUsage(a, b);
    assert.equal(u.cpu.toFixed(4), (150 / 900).toFixed(4));
    assert.equal(u.wait.toFixed(4), (50 / 900).toFixed(4));
    assert.deepEqual(cpuUsage(b, b), { cpu: 0, wait: 0 }, 'no ticks passed');
    assert.throws(() => parseCpuTimes('intr 1 2\n'), { code: 'BULWARK_IO' });
  });

  test('cpuinfo, loadavg, and this machine’s real files', () => {
    assert.deepEqual(parseCpuinfo(CPUINFO), { model: 'Test CPU @ 2.00GHz', sockets: 1, cpus: 2 });
    assert.deepEqual(parseLoadavg('0.44 0.48 0.44 2/1062 18549\n'), [0.44, 0.48, 0.44]);
    assert.throws(() => parseLoadavg('x'), { code: 'BULWARK_IO' });
    const real = parseMeminfo(readFileSync('/proc/meminfo', 'utf8'));
    assert.ok(real.memory.total > 0 && real.memory.used <= real.memory.total);
    assert.equal(parseCpuinfo(readFileSync('/proc/cpuinfo', 'utf8')).cpus, os.cpus().length);
    assert.equal(parseLoadavg(readFileSync('/proc/loadavg', 'utf8')).length, 3);
  });
});

const dir = tempDir('bulwark-node-status-');
const procDir = join(dir, 'proc');
let authDir: AuthDir;
let system: ServerSystem;
let server: RouteServer;
const h: Record<'admin' | 'auditor' | 'alice' | 'carol' | 'nobody', Record<string, string>> = {} as never;
const get = <T>(path: string, who: keyof typeof h): Promise<ApiReply<T>> => apiCall<T>(server.port, 'GET', path, { headers: h[who] });

before(async () => {
  mkdirSync(procDir);
  writeFileSync(join(procDir, 'meminfo'), MEMINFO);
  writeFileSync(join(procDir, 'cpuinfo'), CPUINFO);
  writeFileSync(join(procDir, 'loadavg'), '0.44 0.48 0.44 2/1062 18549\n');
  writeFileSync(join(procDir, 'uptime'), '13379.83 12725.55\n');
  writeFileSync(join(procDir, 'stat'), statText(100, 50, 800, 50));
  const store1 = sparseStoreDir(dir, 'store1');
  await createNamespace(store1, BackupNamespace.parse('team'));
  authDir = makeAuthDir();
  for (const [who, userid, path, roleid] of [
    ['admin', 'admin@pbs', '/', 'Admin'], ['auditor', 'audit@pbs', '/', 'Audit'], ['alice', 'alice@pbs', '/datastore/store1', 'DatastoreBackup'],
    ['carol', 'carol@pbs', '/datastore/store1/team', 'DatastoreReader'], ['nobody', 'nobody@pbs', '/', 'NoAccess'],
  ] as const) {
    addUser(authDir.paths, { userid });
    addAcl(authDir.paths, [{ path, ugid: userid, roleid, propagate: true }, { path, ugid: `${userid}!t`, roleid, propagate: true }]);
    const tok = createToken(authDir.paths, userid, 't');
    h[who] = tokenHeader(tok.tokenid, tok.value);
  }
  system = await startServerSystem({
    paths: configPaths(join(dir, 'data')), log: pino({ level: 'silent' }),
    config: {
      datastoresDigest: 'x',
      datastores: { store1: { name: 'store1', path: store1 }, off: { name: 'off', path: sparseStoreDir(dir, 'off'), 'maintenance-mode': 'offline' } },
    },
  });
  await waitFor(system.root.system.get('datastore:store1') as AnyActorRef, (s) => s.value === 'online');
  server = await startRouteServer({
    dir, auth: new AuthService(authDir.paths), system: system.root.system, jobs: system.jobs,
    routes: (app, ctx, tls) => nodeStatusRoutes(app, ctx, { certFile: tls.certFile, procDir }),
  });
});

after(async () => {
  server?.close();
  await system?.close();
  authDir?.remove();
  removeDir(dir);
});

interface NodeStatus {
  memory: { total: number; used: number; free: number };
  swap: { total: number; used: number; free: number };
  root: { total: number; used: number; avail: number };
  uptime: number; loadavg: number[]; kversion: string; cpu: number; wait: number;
  'current-kernel': { sysname: string; release: string; version: string; machine: string };
  cpuinfo: { model: string; sockets: number; cpus: number };
  info: { fingerprint?: string };
  'boot-info': { mode: string; secureboot: boolean };
}

describe('GET /nodes/{node}/status', () => {
  test('privileges: Sys.Audit on /system/status (403 names it); an unknown node is 404', async () => {
    const denied = await get('/nodes/localhost/status', 'alice');
    assert.equal(denied.status, 403);
    assert.equal(denied.body.code, 'BULWARK_FORBIDDEN');
    assert.match(denied.body.message!, /Sys\.Audit on \/system\/status/);
    assert.equal((await get('/nodes/localhost/status', 'nobody')).status, 403);
    const unknown = await get('/nodes/elsewhere/status', 'admin');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 'BULWARK_NOT_FOUND');
  });

  test('PBS NodeStatus shape, figures from procfs; cpu counts since the previous query', async () => {
    const r = await get<NodeStatus>('/nodes/localhost/status', 'auditor');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const s = r.body.data!;
    assert.deepEqual(s.memory, { total: 33538646016, used: 19917815808, free: 2156593152 });
    assert.deepEqual(s.swap, { total: 3072, used: 1024, free: 2048 });
    assert.equal(s.uptime, 13379);
    assert.deepEqual(s.loadavg, [0.44, 0.48, 0.44]);
    assert.deepEqual(s.cpuinfo, { model: 'Test CPU @ 2.00GHz', sockets: 1, cpus: 2 });
    assert.deepEqual([s.cpu, s.wait], [0.15, 0.05]);
    assert.ok(s.root.total > 0 && s.root.used <= s.root.total && s.root.avail <= s.root.total);
    assert.equal(s.kversion, `${os.type()} ${os.release()} ${os.version()}`);
    assert.deepEqual(s['current-kernel'], { sysname: os.type(), release: os.release(), version: os.version(), machine: os.machine() });
    assert.equal(s.info.fingerprint, certificateFingerprint(server.certFile));
    assert.ok(['efi', 'legacy-bios'].includes(s['boot-info'].mode));
    writeFileSync(join(procDir, 'stat'), statText(200, 100, 1500, 100));
    const next = (await get<NodeStatus>(`/nodes/${encodeURIComponent(os.hostname().split('.')[0]!)}/status`, 'admin')).body.data!;
    assert.equal(next.cpu.toFixed(4), (150 / 900).toFixed(4));
    assert.equal(next.wait.toFixed(4), (50 / 900).toFixed(4));
  });
});

describe('GET /status/datastore-usage', () => {
  type Usage = { store: string; total?: number; used?: number; avail?: number; error?: string }[];

  test('Datastore.Audit sees every store: usage, or the reason it has none', async () => {
    const r = await get<Usage>('/status/datastore-usage', 'auditor');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const [off, store1] = [...r.body.data!].sort((a, b) => a.store.localeCompare(b.store));
    assert.equal(off!.store, 'off');
    assert.match(off!.error!, /offline maintenance mode/);
    assert.equal(off!.total, undefined);
    assert.equal(store1!.store, 'store1');
    assert.ok(store1!.total! > 0 && store1!.used! <= store1!.total! && store1!.avail! <= store1!.total!);
  });

  test('Datastore.Backup on a store shows it; a namespace privilege shows only its name; none shows nothing', async () => {
    const alice = await get<Usage>('/status/datastore-usage', 'alice');
    assert.deepEqual(alice.body.data!.map((u) => [u.store, typeof u.total]), [['store1', 'number']]);
    const carol = await get<Usage>('/status/datastore-usage', 'carol');
    assert.deepEqual(carol.body.data, [{ store: 'store1' }]);
    assert.deepEqual((await get<Usage>('/status/datastore-usage', 'nobody')).body.data, []);
    assert.equal((await apiCall(server.port, 'GET', '/status/datastore-usage')).status, 401);
  });
});
