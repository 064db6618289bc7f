/**
 * Host and storage usage, in PBS's shapes:
 * - `GET /nodes/{node}/status` (src/api2/node/status.rs, pbs-api-types
 *   NodeStatus): memory and swap, root file system, uptime, load, kernel,
 *   CPU model and usage, boot mode, the TLS fingerprint clients pin.
 *   Needs Sys.Audit on /system/status.
 * - `GET /status/datastore-usage` (src/api2/status.rs): per datastore the
 *   file system's total/used/avail and the last GC status. Datastore.Audit
 *   or Datastore.Backup on the store shows the figures; a privilege only on
 *   one of its namespaces shows the name alone; a store that can't be read
 *   shows `error`. (PBS adds usage history from its RRD; Bulwark has none yet.)
 *
 * Figures come from /proc as PBS reads them (proxmox-sys procfs):
 * memory used = MemTotal − MemAvailable, free = MemFree; cpu and wait are
 * fractions of the time since the previous call (since boot on the first).
 */
import { existsSync, readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import { gcStatusKey } from '../../actors/job-service.ts';
import { resolveStore } from '../../actors/store-access.ts';
import type { Privilege } from '../../auth/privileges.ts';
import { certificateFingerprint } from '../../config/tls.ts';
import { listNamespaces } from '../../datastore/snapshots.ts';
import { bulwarkError, isBulwarkError } from '../../errors.ts';
import { apiRoute } from '../http-api.ts';
import type { TemplatedApp } from '../uws.ts';
import { authenticated, currentConfig, type ApiContext } from '../api-context.ts';
import { aclPath } from '../ws-upgrade.ts';

export interface NodeStatusOptions {
  /** The HTTPS certificate, for `info.fingerprint`. */
  readonly certFile?: string;
  /** Where procfs is mounted (tests point it at fixture files). */
  readonly procDir?: string;
}

export interface Counters { total: number; used: number; free: number }

/** PBS ProcFsMemInfo: bytes; used = total − available (the kernel's own estimate). */
export function parseMeminfo(text: string): { memory: Counters; swap: Counters } {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m) kb.set(m[1]!, Number(m[2]) * 1024);
  }
  const get = (k: string): number => kb.get(k) ?? 0;
  const total = get('MemTotal');
  return {
    memory: { total, used: total - get('MemAvailable'), free: get('MemFree') },
    swap: { total: get('SwapTotal'), used: get('SwapTotal') - get('SwapFree'), free: get('SwapFree') },
  };
}

/** `steal`: ticks the hypervisor ran other guests while these CPUs wanted to run (part of `used`). */
export interface CpuTimes { readonly used: number; readonly iowait: number; readonly steal: number; readonly total: number }

/** The aggregate `cpu` line of /proc/stat, in ticks. */
export function parseCpuTimes(text: string): CpuTimes {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw bulwarkError('BULWARK_IO', '/proc/stat', 'no aggregate cpu line');
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  const used = user + nice + system + irq + softirq + steal;
  return { used, iowait, steal, total: used + idle + iowait };
}

/** Usage and I/O wait as fractions of the ticks between two readings. */
export function cpuUsage(prev: CpuTimes | undefined, now: CpuTimes): { cpu: number; wait: number } {
  const base = prev ?? { used: 0, iowait: 0, total: 0 };
  const span = now.total - base.total;
  if (span <= 0) return { cpu: 0, wait: 0 };
  return { cpu: (now.used - base.used) / span, wait: (now.iowait - base.iowait) / span };
}

/** PBS NodeCpuInformation: model, distinct physical ids, processors. */
export function parseCpuinfo(text: string): { model: string; sockets: number; cpus: number } {
  let model = '';
  let cpus = 0;
  const sockets = new Set<string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf(':');
    if (at < 0) continue;
    const key = line.slice(0, at).trim();
    const value = line.slice(at + 1).trim();
    if (key === 'processor') cpus++;
    else if (key === 'model name' && model === '') model = value;
    else if (key === 'physical id') sockets.add(value);
  }
  return { model, sockets: sockets.size, cpus };
}

export function parseLoadavg(text: string): [number, number, number] {
  const [one, five, fifteen] = text.trim().split(/\s+/).map(Number);
  if (![one, five, fifteen].every((n) => Number.isFinite(n))) throw bulwarkError('BULWARK_IO', '/proc/loadavg', 'unexpected format');
  return [one!, five!, fifteen!];
}

const EFI_SECURE_BOOT = '/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c';

/** PBS BootModeInformation: EFI when the firmware dir exists; secure boot from its efivar's last byte. */
function bootInfo(): { mode: 'efi' | 'legacy-bios'; secureboot: boolean } {
  if (!existsSync('/sys/firmware/efi')) return { mode: 'legacy-bios', secureboot: false };
  try {
    const v = readFileSync(EFI_SECURE_BOOT);
    return { mode: 'efi', secureboot: v.length > 0 && v[v.length - 1] === 1 };
  } catch {
    return { mode: 'efi', secureboot: false };
  }
}

async function diskUsage(path: string): Promise<{ total: number; used: number; avail: number }> {
  const fs = await statfs(path);
  return { total: fs.blocks * fs.bsize, used: (fs.blocks - fs.bfree) * fs.bsize, avail: fs.bavail * fs.bsize };
}

/** PBS NODE_SCHEMA accepts the host's own name; `localhost` always means this node. */
function checkNode(ctx: ApiContext, node: string): void {
  const names = new Set(['localhost', os.hostname().split('.')[0]!, ...(ctx.jobs ? [ctx.jobs.tasks.node] : [])]);
  if (!names.has(node)) throw bulwarkError('BULWARK_NOT_FOUND', `node ${node}`);
}

/** PBS NS_PRIVS_OK. */
const NS_PRIVS: readonly Privilege[] = ['Datastore.Modify', 'Datastore.Read', 'Datastore.Backup', 'Datastore.Audit'];

export function nodeStatusRoutes(app: TemplatedApp, ctx: ApiContext, opts: NodeStatusOptions = {}): void {
  const proc = opts.procDir ?? '/proc';
  const readProc = (name: string): string => {
    try {
      return readFileSync(`${proc}/${name}`, 'utf8');
    } catch (err) {
      throw bulwarkError('BULWARK_IO', `${proc}/${name}`, (err as Error).message, { cause: err });
    }
  };
  let lastCpu: CpuTimes | undefined; // per server, not per module: usage "since the last query"

  apiRoute(app, ctx.log, 'get', '/nodes/:node/status', async (req) => {
    const { authid } = authenticated(ctx, req);
    ctx.auth.check(authid, '/system/status', 'Sys.Audit');
    checkNode(ctx, req.params.node!);
    const { memory, swap } = parseMeminfo(readProc('meminfo'));
    const times = parseCpuTimes(readProc('stat'));
    const { cpu, wait } = cpuUsage(lastCpu, times);
    lastCpu = times;
    const kernel = { sysname: os.type(), release: os.release(), version: os.version(), machine: os.machine() };
    return {
      memory,
      swap,
      root: await diskUsage('/'),
      uptime: Math.floor(Number(readProc('uptime').split(/\s+/)[0])),
      loadavg: parseLoadavg(readProc('loadavg')),
      kversion: `${kernel.sysname} ${kernel.release} ${kernel.version}`,
      'current-kernel': kernel,
      cpuinfo: parseCpuinfo(readProc('cpuinfo')),
      cpu,
      wait,
      info: opts.certFile ? { fingerprint: certificateFingerprint(opts.certFile) } : {},
      'boot-info': bootInfo(),
    };
  });

  apiRoute(app, ctx.log, 'get', '/status/datastore-usage', async (req) => {
    const { authid } = authenticated(ctx, req);
    const out: Record<string, unknown>[] = [];
    for (const cfg of Object.values(currentConfig(ctx).datastores)) {
      const privs = ctx.auth.privileges(authid, aclPath(cfg.name, ''));
      if (!privs.has('Datastore.Audit') && !privs.has('Datastore.Backup')) {
        if (await anyNamespaceVisible(ctx, authid, cfg.name, cfg.path)) out.push({ store: cfg.name });
        continue;
      }
      let path: string;
      try {
        path = resolveStore(ctx.system, cfg.name, 'readable');
      } catch (err) {
        if (!isBulwarkError(err)) throw err;
        out.push({ store: cfg.name, error: err.message });
        continue;
      }
      const gc = ctx.jobs ? await ctx.jobs.state.get<Record<string, unknown>>(gcStatusKey(cfg.name)) : undefined;
      out.push({ store: cfg.name, ...(await diskUsage(path)), ...(gc && { 'gc-status': gc }) });
    }
    return out;
  });
}

/** PBS can_access_any_namespace: some namespace of the store grants one of NS_PRIVS. */
async function anyNamespaceVisible(ctx: ApiContext, authid: string, store: string, storePath: string): Promise<boolean> {
  let all;
  try {
    all = await listNamespaces(storePath);
  } catch (err) {
    if (isBulwarkError(err)) return false;
    throw err;
  }
  return all.some((ns) => {
    const privs = ctx.auth.privileges(authid, aclPath(store, ns.toString()));
    return NS_PRIVS.some((p) => privs.has(p));
  });
}
