/**
 * CPU seconds spent by other processes, from Linux's /proc: this process's
 * finished children (a CLI run the bench waited for), a process by pid
 * (the server a bench started), and the time the hypervisor took away.
 * With client and server on the same machine their sum bounds a run's
 * wall time from below: the cores cannot do more than their count in CPU
 * seconds per second.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseCpuTimes } from '../transport/routes/node-status.ts';

let ticks: number | undefined;

/** Clock ticks per second, the unit of /proc/<pid>/stat's times. */
function clockTicks(): number {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticks;
}

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces), from field 3 on. */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of process `pid` so far; undefined where /proc is not there. */
function processCpuSeconds(pid: number): number | undefined {
  const f = statFields(pid);
  return f && (Number(f[11]) + Number(f[12])) / clockTicks();
}

/** User + system CPU seconds of this process's children that have exited and been waited for. */
function childrenCpuSeconds(): number | undefined {
  const f = statFields('self');
  return f && (Number(f[13]) + Number(f[14])) / clockTicks();
}

/**
 * CPU seconds the hypervisor gave to other guests while this machine's
 * vCPUs wanted to run (/proc/stat `steal`, all CPUs): on a shared host a
 * run with much steal was slowed by its neighbours, not by itself.
 */
function stealSeconds(): number | undefined {
  try {
    return parseCpuTimes(readFileSync('/proc/stat', 'utf8')).steal / clockTicks();
  } catch {
    return undefined;
  }
}

export const cores = availableParallelism();

/** CPU seconds so far: `client` of this process's waited-for children, `server` of process `pid`, `steal` of the host. */
export interface CpuSample {
  readonly client: number;
  readonly server: number;
  readonly steal: number;
}

/** Undefined where /proc is not there. */
export function cpuSample(pid: number): CpuSample | undefined {
  const client = childrenCpuSeconds();
  const server = processCpuSeconds(pid);
  const steal = stealSeconds();
  return client === undefined || server === undefined || steal === undefined ? undefined : { client, server, steal };
}

/** What was spent between two samples. */
export function cpuSince(before: CpuSample | undefined, after: CpuSample | undefined): CpuSample | undefined {
  return before && after && { client: after.client - before.client, server: after.server - before.server, steal: after.steal - before.steal };
}
