/**
 * Task log files, written and read the way Proxmox Backup Server does
 * (proxmox-rest-server worker_task.rs, proxmox-log file_logger.rs):
 *
 *   <tasksDir>/<pstart & 0xFF as 2 upper-case hex>/<UPID>
 *
 * one line per message, `<RFC 3339 time>: <message>`, and a last line that
 * records how the task ended:
 *
 *   TASK OK | TASK WARNINGS: <n> | TASK ERROR: <message>
 *
 * An aborted task ends with PBS's own abort text, `TASK ERROR: abort
 * requested - aborting task`, so PBS clients read it as the error it is;
 * Bulwark derives the state 'aborted' from that message. A log without an
 * end line belongs to a running task or to one whose process died; PBS
 * reports the latter as `unknown`, and so do we.
 *
 * The log file is the source of truth: the RocksDB task index is rebuilt
 * from these files. Writes are synchronous on one fd (O_APPEND, created
 * exclusively), so each line reaches the kernel before log() returns and
 * lines never interleave; only finish() fsyncs, since losing the last lines
 * of a running task to a power cut is harmless but a lost end line is not.
 */
import { closeSync, createReadStream, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { bulwarkError, isBulwarkError } from '../../errors.ts';
import { formatUpid, parseUpid, type Upid } from './upid.ts';

/** How a caller ends a task. */
export type TaskResultState = 'ok' | 'warnings' | 'error' | 'aborted';

/** How a task ended, as read back from its last log line. */
export type TaskEnd =
  | { readonly state: 'ok'; readonly endTime: number }
  | { readonly state: 'warnings'; readonly count: number; readonly endTime: number }
  | { readonly state: 'error'; readonly message: string; readonly endTime: number }
  | { readonly state: 'aborted'; readonly message: string; readonly endTime: number }
  /** No end line: the task's process died (PBS's TaskState::Unknown). */
  | { readonly state: 'unknown'; readonly endTime: number };

/** PBS's abort error (proxmox-worker-task `check_abort`), kept verbatim for its clients. */
export const ABORT_MESSAGE = 'abort requested - aborting task';
/** What PBS logs when an abort is requested (once per task). */
export const ABORT_REQUEST_LINE = 'received abort request ...';
const WARN_PREFIX = 'WARN: ';
const TAIL_BYTES = 8192;

/** The subdirectory PBS keeps a task's log in. */
export function taskLogDir(tasksDir: string, upid: Upid): string {
  return join(tasksDir, (upid.pstart & 0xff).toString(16).toUpperCase().padStart(2, '0'));
}

export function taskLogPath(tasksDir: string, upid: Upid): string {
  return join(taskLogDir(tasksDir, upid), formatUpid(upid));
}

/** RFC 3339 in UTC, whole seconds, as the line prefix. */
export function formatLogTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;

/** Epoch seconds of a log line's time prefix, or undefined when it has none. */
export function parseLineTime(line: string): number | undefined {
  const sep = line.indexOf(': ');
  if (sep < 0) return undefined;
  const stamp = line.slice(0, sep);
  if (!RFC3339_RE.test(stamp)) return undefined;
  const ms = Date.parse(stamp);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/** The end line's text after the time prefix. */
export function formatTaskEnd(end: TaskEnd): string {
  switch (end.state) {
    case 'ok': return 'TASK OK';
    case 'warnings': return `TASK WARNINGS: ${end.count}`;
    case 'error':
    case 'aborted': return `TASK ERROR: ${end.message}`;
    case 'unknown': return 'TASK unknown';
  }
}

/** PBS's exit status string (TaskState's Display): 'OK', 'WARNINGS: n', the error message, or 'unknown'. */
export function exitStatusText(end: TaskEnd): string {
  switch (end.state) {
    case 'ok': return 'OK';
    case 'warnings': return `WARNINGS: ${end.count}`;
    case 'error':
    case 'aborted': return end.message;
    case 'unknown': return 'unknown';
  }
}

function isAbortMessage(message: string): boolean {
  // PBS also words it "task '<upid>': abort requested - aborting task".
  return message === ABORT_MESSAGE || message.endsWith(`: ${ABORT_MESSAGE}`) || message === 'task aborted';
}

/**
 * The end state a log line records, or undefined when it is not an end line
 * (PBS `TaskState::from_endtime_and_message`: any other `TASK <text>` is an error).
 */
export function parseTaskEnd(line: string): TaskEnd | undefined {
  const endTime = parseLineTime(line);
  if (endTime === undefined) return undefined;
  const body = line.slice(line.indexOf(': ') + 2).replace(/\r$/, '');
  if (!body.startsWith('TASK ')) return undefined;
  const s = body.slice(5);
  if (s === 'unknown') return { state: 'unknown', endTime };
  if (s === 'OK') return { state: 'ok', endTime };
  if (s.startsWith('WARNINGS: ')) {
    const count = Number(s.slice(10));
    return Number.isSafeInteger(count) && count >= 0 ? { state: 'warnings', count, endTime } : undefined;
  }
  if (s === '') return undefined;
  const message = s.startsWith('ERROR: ') ? s.slice(7) : s;
  return isAbortMessage(message) ? { state: 'aborted', message, endTime } : { state: 'error', message, endTime };
}

const ioError = (path: string, err: unknown): Error =>
  isBulwarkError(err) ? err : bulwarkError('BULWARK_IO', path, (err as Error).message, { cause: err });
const isNotFound = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Appends a task's lines. Like PBS's FileLogger, a failing write of an
 * ordinary line is not thrown at the task (a full disk must not turn a
 * verify into an error); it is counted in `lostLines`. finish() does throw.
 */
export class TaskLogWriter {
  #fd: number | undefined;
  #warnings = 0;
  #lostLines = 0;

  private constructor(readonly path: string, fd: number, private readonly now: () => number) {
    this.#fd = fd;
  }

  /** Create the log file (it must not exist yet) and its directory. */
  static create(path: string, now: () => number = Date.now): TaskLogWriter {
    try {
      mkdirSync(dirname(path), { recursive: true });
      return new TaskLogWriter(path, openSync(path, 'wx'), now);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw bulwarkError('BULWARK_ALREADY_EXISTS', `task log ${path}`);
      throw ioError(path, err);
    }
  }

  get warnings(): number { return this.#warnings; }
  get lostLines(): number { return this.#lostLines; }
  get finished(): boolean { return this.#fd === undefined; }

  log(message: string): void {
    try {
      this.#write(message);
    } catch (err) {
      if (isBulwarkError(err, 'BULWARK_INTERNAL')) throw err;
      this.#lostLines += 1;
    }
  }

  /** Log a warning; the count ends up in `TASK WARNINGS: n`. */
  warn(message: string): void {
    this.#warnings += 1;
    this.log(WARN_PREFIX + message);
  }

  /** Write the end line for `result`, fsync and close; returns the end as recorded. */
  finish(result: { state: TaskResultState; message?: string }): TaskEnd {
    const end = this.endOf(result);
    this.writeEnd(end);
    return end;
  }

  /**
   * The end `result` means, now: 'ok' and 'warnings' both come out as PBS
   * decides them (WARNINGS when any warn() happened, else OK); 'aborted'
   * carries PBS's abort message.
   */
  endOf(result: { state: TaskResultState; message?: string }): TaskEnd {
    const endTime = Math.floor(this.now() / 1000);
    switch (result.state) {
      case 'ok':
      case 'warnings':
        return this.#warnings > 0 ? { state: 'warnings', count: this.#warnings, endTime } : { state: 'ok', endTime };
      case 'error':
        return { state: 'error', message: oneLine(result.message || 'unknown error'), endTime };
      case 'aborted':
        return { state: 'aborted', message: ABORT_MESSAGE, endTime };
    }
  }

  /** Write `end` as the last line, fsync and close (closed even when this throws BULWARK_IO). */
  writeEnd(end: TaskEnd): void {
    const fd = this.#fd;
    try {
      this.#write(formatTaskEnd(end));
      fsyncSync(fd!);
    } catch (err) {
      throw ioError(this.path, err);
    } finally {
      this.#close();
    }
  }

  /** Close without an end line (the task then reads as 'unknown' once its process is gone). */
  abandon(): void {
    this.#close();
  }

  #close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    try { closeSync(fd); } catch { /* already reported by the write that failed */ }
  }

  #write(message: string): void {
    if (this.#fd === undefined) throw bulwarkError('BULWARK_INTERNAL', `task log ${this.path} is already finished`);
    const stamp = formatLogTime(this.now());
    // Every physical line gets its own prefix, so line numbers and parsing hold.
    const text = message.split(/\r?\n/).map((l) => `${stamp}: ${l}\n`).join('');
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.#fd, buf, off, buf.length - off);
  }
}

const oneLine = (s: string): string => s.replace(/\r?\n/g, ' ');

export interface LogPage {
  /** Number of lines in the file. */
  readonly total: number;
  /** n: 1-based line number, t: the line's text. */
  readonly lines: { n: number; t: string }[];
}

/**
 * One page of a log, PBS's `/tasks/<upid>/log` semantics: `start` is the
 * 1-based number of the first line wanted (0 acts as 1), `limit` lines at
 * most (0 = to the end; default 50), and `total` counts every line.
 * Streams the file, so only the page is held in memory.
 */
export async function readTaskLog(path: string, opts: { start?: number; limit?: number } = {}): Promise<LogPage> {
  const start = opts.start ?? 0;
  const limit = opts.limit ?? 50;
  if (!Number.isSafeInteger(start) || start < 0) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'start', start);
  if (!Number.isSafeInteger(limit) || limit < 0) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'limit', limit);
  const lines: { n: number; t: string }[] = [];
  let count = 0;
  const stream = createReadStream(path, { encoding: 'utf8' });
  try {
    for await (const t of createInterface({ input: stream, crlfDelay: Infinity })) {
      count += 1;
      if (count < start) continue;
      if (limit === 0 || lines.length < limit) lines.push({ n: count, t });
    }
  } catch (err) {
    if (isNotFound(err)) throw bulwarkError('BULWARK_NOT_FOUND', `task log ${path}`);
    throw ioError(path, err);
  } finally {
    stream.destroy();
  }
  return { total: count, lines };
}

/** The last non-empty line of a file, read from its last 8 KiB as PBS does. */
export function readLastLine(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (isNotFound(err)) throw bulwarkError('BULWARK_NOT_FOUND', `task log ${path}`);
    throw ioError(path, err);
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, size - len + got);
      if (n === 0) break;
      got += n;
    }
    const text = buf.subarray(0, got).toString('utf8').replace(/\n+$/, '');
    return text.slice(text.lastIndexOf('\n') + 1);
  } catch (err) {
    throw ioError(path, err);
  } finally {
    closeSync(fd);
  }
}

/**
 * A finished task's end (PBS `upid_read_status`): the end line if there is
 * one, else 'unknown' at the last line's time (or the start time). Call it
 * only for tasks known not to be running.
 */
export function readTaskEnd(path: string, startTime: number): TaskEnd {
  const last = readLastLine(path);
  return parseTaskEnd(last) ?? { state: 'unknown', endTime: parseLineTime(last) ?? startTime };
}

const LOG_DIR_RE = /^[0-9A-F]{2}$/;

/**
 * Every task log under `tasksDir` (files in the 00..FF subdirectories whose
 * name parses as a UPID; anything else, e.g. the index, is skipped).
 */
export function* listTaskLogs(tasksDir: string): Generator<{ upid: Upid; text: string; path: string }> {
  let dirs: string[];
  try {
    dirs = readdirSync(tasksDir).filter((d) => LOG_DIR_RE.test(d)).sort();
  } catch (err) {
    if (isNotFound(err)) return;
    throw ioError(tasksDir, err);
  }
  for (const d of dirs) {
    let names: string[];
    try {
      names = readdirSync(join(tasksDir, d));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR' || isNotFound(err)) continue;
      throw ioError(join(tasksDir, d), err);
    }
    for (const text of names) {
      let upid: Upid;
      try {
        upid = parseUpid(text);
      } catch {
        continue;
      }
      yield { upid, text, path: join(tasksDir, d, text) };
    }
  }
}
