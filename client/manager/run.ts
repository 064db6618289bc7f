/**
 * Runs one bulwark-manager command: fills the API path from the positional
 * arguments, sends the options as parameters, prints the answer (a table
 * for lists on `text`, JSON otherwise), and for calls that start a task
 * follows its log until it ends; a task that failed fails the command.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { bulwarkError } from '../../errors.ts';
import type { ServerConnection } from '../connection.ts';
import { render, type OutputFormat } from '../output.ts';
import { findCommand, type CommandSpec } from './commands.ts';

/** How often a followed task is polled. */
const FOLLOW_INTERVAL_MS = 300;

export interface ManagerIo {
  write(text: string): void;
}

export interface PreparedCall {
  readonly spec: CommandSpec;
  readonly path: string;
  readonly params: Record<string, string>;
}

export function prepareCall(words: readonly string[], options: Readonly<Record<string, string>>): PreparedCall {
  const found = findCommand(words);
  if (!found) throw bulwarkError('BULWARK_USAGE', `unknown command ${JSON.stringify(words.join(' '))} (see --help)`);
  const { spec, rest } = found;
  if (rest.length !== spec.args.length) {
    throw bulwarkError('BULWARK_USAGE', `${spec.words.join(' ')} takes ${spec.args.length ? spec.args.map((a) => a.toUpperCase()).join(' ') : 'no arguments'}`);
  }
  const params: Record<string, string> = { ...options };
  let path = spec.path;
  spec.args.forEach((name, i) => {
    const value = rest[i]!;
    if (path.includes(`{${name}}`)) path = path.replace(`{${name}}`, encodeURIComponent(value));
    else params[name] = value;
  });
  return { spec, path, params };
}

export async function runManagerCommand(conn: ServerConnection, call: PreparedCall, format: OutputFormat, io: ManagerIo): Promise<void> {
  const { spec, path, params } = call;
  if (spec.words[0] === 'task' && spec.words[1] === 'log') {
    await followTask(conn, decodeURIComponent(path.split('/')[4]!), format, io);
    return;
  }
  const query = new URLSearchParams(params).toString();
  const hasBody = spec.method === 'POST' || spec.method === 'PUT';
  const data = hasBody
    ? await conn.api(spec.method, path, query, 'application/x-www-form-urlencoded')
    : await conn.api(spec.method, query ? `${path}?${query}` : path);
  if (spec.task && typeof data === 'string' && data.startsWith('UPID:')) {
    if (format === 'text') io.write(`${data}\n`);
    await followTask(conn, data, format, io);
    return;
  }
  io.write(printable(data, spec, format));
}

function printable(data: unknown, spec: CommandSpec, format: OutputFormat): string {
  if (Array.isArray(data) && spec.columns) return render(format, data as Record<string, unknown>[], spec.columns);
  if (format === 'json') return `${JSON.stringify(data ?? null)}\n`;
  if (format === 'json-pretty' || (data !== null && typeof data === 'object')) {
    if (format === 'text' && data !== null && typeof data === 'object' && !Array.isArray(data)) {
      return Object.entries(data).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n') + '\n';
    }
    return `${JSON.stringify(data ?? null, null, 2)}\n`;
  }
  return data === null || data === undefined ? '' : `${String(data)}\n`;
}

/** Prints the task's log as it grows; resolves when it has ended OK or with warnings, rejects with its error. */
async function followTask(conn: ServerConnection, upid: string, format: OutputFormat, io: ManagerIo): Promise<void> {
  const enc = encodeURIComponent(upid);
  let next = 1;
  for (;;) {
    const status = (await conn.api('GET', `/nodes/localhost/tasks/${enc}/status`)) as { status: string; exitstatus?: string };
    const lines = (await conn.api('GET', `/nodes/localhost/tasks/${enc}/log?start=${next}&limit=0`)) as { n: number; t: string }[];
    for (const line of lines) {
      if (format === 'text') io.write(`${line.t}\n`);
      next = line.n + 1;
    }
    if (status.status === 'stopped') {
      if (format !== 'text') io.write(`${JSON.stringify({ upid, exitstatus: status.exitstatus })}\n`);
      const exit = status.exitstatus ?? 'unknown';
      if (exit !== 'OK' && !exit.startsWith('WARNINGS')) throw bulwarkError('BULWARK_TASK_FAILED', upid, exit);
      return;
    }
    await delay(FOLLOW_INTERVAL_MS);
  }
}
