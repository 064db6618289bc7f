/**
 * UPID: the unique process/task identifier, in Proxmox Backup Server's exact
 * text form so PBS clients and tools parse ours:
 *
 *   UPID:<node>:<pid>:<pstart>:<task id>:<starttime>:<worker type>:<worker id>:<auth id>:
 *   UPID:elsa:00004F37:0039E469:00000000:5CA78B83:garbage_collection::root@pam:
 *
 * Numbers are upper-case hex padded to 8 digits (`{:08X}`); pstart (the
 * process start time in clock ticks from /proc/<pid>/stat) may grow to 9
 * after 497 days of uptime and the task id up to 16. The worker id is
 * escaped like a systemd unit name (proxmox-schema upid.rs `escape_id`):
 * '/' becomes '-', and every byte other than [A-Za-z0-9_.] (and a leading
 * '.') becomes `\xNN` (lower-case hex), so ':' can never end the field.
 * Worker type and auth id are written raw and must hold no ':', '/' or space.
 *
 * pid + pstart name one process for all time (pids are reused, start times
 * are not), which is how a stale task of a dead process is told apart from a
 * running one.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { bulwarkError } from '../../errors.ts';

export interface Upid {
  readonly node: string;
  readonly pid: number;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  readonly pstart: number;
  readonly taskId: number;
  /** Task start, epoch seconds. */
  readonly startTime: number;
  readonly workerType: string;
  readonly workerId?: string;
  readonly authId: string;
}

// proxmox-schema PROXMOX_UPID_REGEX, field for field.
const UPID_RE = new RegExp(
  '^UPID:([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):' +
    '([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8,16}):([0-9A-Fa-f]{8}):' +
    '([^:\\s]+):([^:\\s]*):([^:\\s]+):$',
);
const NODE_RE = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const RAW_FIELD_RE = /^[^:\s/]+$/;
const U32_MAX = 0xffff_ffff;
const PSTART_MAX = 0xf_ffff_ffff; // 9 hex digits, the most the parser takes

const hex8 = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
const isUint = (n: number, max: number): boolean => Number.isSafeInteger(n) && n >= 0 && n <= max;

/** Systemd-style escaping of a worker id (byte-wise over its UTF-8). */
export function escapeWorkerId(id: string): string {
  let out = '';
  const bytes = Buffer.from(id, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    const plain = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2e;
    if (c === 0x2f) out += '-';
    else if (!plain || (i === 0 && c === 0x2e)) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(c);
  }
  return out;
}

const HEX2_RE = /^[0-9A-Fa-f]{2}$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Inverse of escapeWorkerId; throws BULWARK_BAD_UPID on a broken escape or non-UTF-8 result. */
export function unescapeWorkerId(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; ) {
    const ch = text[i]!;
    if (ch === '\\') {
      const digits = text.slice(i + 2, i + 4);
      if (text[i + 1] !== 'x' || !HEX2_RE.test(digits)) {
        throw bulwarkError('BULWARK_BAD_UPID', JSON.stringify(text), 'error in escape sequence');
      }
      bytes.push(parseInt(digits, 16));
      i += 4;
    } else if (ch === '-') {
      bytes.push(0x2f);
      i += 1;
    } else {
      // Anything else is copied as is, as PBS does (including UTF-8 it never writes).
      const cp = text.codePointAt(i)!;
      bytes.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'));
      i += cp > 0xffff ? 2 : 1;
    }
  }
  try {
    return strictUtf8.decode(Uint8Array.from(bytes));
  } catch (err) {
    throw bulwarkError('BULWARK_BAD_UPID', JSON.stringify(text), 'worker id is not UTF-8', { cause: err });
  }
}

/** Render a UPID; refuses fields that would not parse back to the same value. */
export function formatUpid(u: Upid): string {
  const bad = (field: string, value: unknown): never => {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', `UPID ${field}`, JSON.stringify(value));
  };
  if (!NODE_RE.test(u.node)) bad('node', u.node);
  if (!isUint(u.pid, U32_MAX)) bad('pid', u.pid);
  if (!isUint(u.pstart, PSTART_MAX)) bad('pstart', u.pstart);
  if (!isUint(u.taskId, Number.MAX_SAFE_INTEGER)) bad('task id', u.taskId);
  if (!isUint(u.startTime, U32_MAX)) bad('start time', u.startTime);
  if (!RAW_FIELD_RE.test(u.workerType)) bad('worker type', u.workerType);
  if (!RAW_FIELD_RE.test(u.authId)) bad('auth id', u.authId);
  const wid = u.workerId === undefined || u.workerId === '' ? '' : escapeWorkerId(u.workerId);
  return `UPID:${u.node}:${hex8(u.pid)}:${hex8(u.pstart)}:${hex8(u.taskId)}:${hex8(u.startTime)}:${u.workerType}:${wid}:${u.authId}:`;
}

/** Parse a UPID; BULWARK_BAD_UPID (400) on anything malformed. */
export function parseUpid(text: string): Upid {
  const m = typeof text === 'string' ? UPID_RE.exec(text) : null;
  if (m === null) throw bulwarkError('BULWARK_BAD_UPID', JSON.stringify(text), 'not in UPID format');
  const [, node, pid, pstart, taskId, startTime, workerType, wid, authId] = m as unknown as string[];
  const taskIdNum = parseInt(taskId!, 16);
  if (!Number.isSafeInteger(taskIdNum)) throw bulwarkError('BULWARK_BAD_UPID', JSON.stringify(text), 'task id out of range');
  const upid: Upid = {
    node: node!,
    pid: parseInt(pid!, 16),
    pstart: parseInt(pstart!, 16),
    taskId: taskIdNum,
    startTime: parseInt(startTime!, 16),
    workerType: workerType!,
    authId: authId!,
  };
  return wid === '' ? upid : { ...upid, workerId: unescapeWorkerId(wid!) };
}

/** The node name PBS puts in UPIDs: the host name up to its first dot. */
export function defaultNodeName(): string {
  return hostname().split('.')[0] || 'localhost';
}

/**
 * Start time (clock ticks since boot) of a process, from /proc/<pid>/stat;
 * undefined when the process does not exist (or there is no /proc).
 */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and ')', so count from its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/);
  const ticks = Number(fields[19]);
  return Number.isSafeInteger(ticks) ? ticks : undefined;
}

// This process's identity, read once; without /proc (not Linux) fall back to
// the wall-clock start in seconds, which is as unique in practice.
const SELF_PSTART = processStartTime(process.pid) ?? Math.floor(Date.now() / 1000 - process.uptime());

/** pid and pstart of this process. */
export function selfProcess(): { pid: number; pstart: number } {
  return { pid: process.pid, pstart: SELF_PSTART };
}

/** Whether the process that created `upid` is still alive (same pid AND same start time). */
export function isProcessRunning(pid: number, pstart: number): boolean {
  if (pid === process.pid) return pstart === SELF_PSTART;
  return processStartTime(pid) === pstart;
}

export function isLocalUpid(u: Upid): boolean {
  return u.pid === process.pid && u.pstart === SELF_PSTART;
}

// One counter per process, as PBS's WORKER_TASK_NEXT_ID: pid + pstart + task
// id is unique even for tasks started in the same second.
let nextTaskId = 0;

export interface NewUpidOptions {
  readonly node: string;
  readonly workerType: string;
  readonly workerId?: string;
  readonly authId: string;
  /** Epoch seconds. */
  readonly startTime: number;
}

/** A fresh UPID of this process (validated by formatting it once). */
export function createUpid(opts: NewUpidOptions): { upid: Upid; text: string } {
  const upid: Upid = {
    node: opts.node,
    pid: process.pid,
    pstart: SELF_PSTART,
    taskId: nextTaskId,
    startTime: opts.startTime,
    workerType: opts.workerType,
    authId: opts.authId,
    ...(opts.workerId === undefined || opts.workerId === '' ? {} : { workerId: opts.workerId }),
  };
  const text = formatUpid(upid);
  nextTaskId += 1;
  return { upid, text };
}
