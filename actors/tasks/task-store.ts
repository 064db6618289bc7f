/**
 * TaskStore: Bulwark's task records, PBS-style. Every job run and every
 * backup/restore session is a task with a UPID (upid.ts), a log file
 * (task-log.ts) and an entry in the RocksDB index (task-index.ts).
 *
 *   <dir>/<00..FF>/<UPID>   the logs, the source of truth
 *   <dir>/index.rocksdb/    the index, derived from the logs
 *
 * Order of writes: start() creates the log file before the index entry and
 * finish() writes the end line (fsynced) before updating the entry, so the
 * logs always hold at least what the index says and the index can be
 * rebuilt from them alone.
 *
 * open() makes the index whole again: it rebuilds it from the logs when it
 * is missing, unreadable, cut short by a crash during an earlier rebuild, or
 * does not hold exactly one entry per log file (a crash between creating a
 * log and indexing it, or logs removed by hand). Entries still marked
 * running whose process is gone are settled from their logs; a log without
 * an end line then reads as PBS's `unknown` (status 'error', exitstatus
 * 'unknown'). One open store per directory: RocksDB's lock makes a second
 * open fail with BULWARK_LOCKED.
 *
 * Abort is cooperative, as in PBS: requestAbort() logs "received abort
 * request ..." and fires the task's AbortSignal; the task stops and calls
 * finish({ state: 'aborted' }).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bulwarkError, isBulwarkError } from '../../errors.ts';
import { TaskIndex, type TaskEntry, type TaskFilter, type TaskList, type TaskStatus } from './task-index.ts';
import {
  ABORT_MESSAGE, ABORT_REQUEST_LINE, TaskLogWriter, exitStatusText, listTaskLogs, readTaskEnd, readTaskLog, taskLogPath,
  type LogPage, type TaskEnd, type TaskResultState,
} from './task-log.ts';
import { createUpid, isLocalUpid, isProcessRunning, parseUpid, type Upid } from './upid.ts';

export const INDEX_DIR = 'index.rocksdb';

export interface TaskStoreOptions {
  /** The tasks directory (logs and index). */
  readonly dir: string;
  /** Node name written into UPIDs. */
  readonly node: string;
  /** Clock in epoch ms (default Date.now). */
  readonly now?: () => number;
}

export interface StartTaskOptions {
  /** Worker type, e.g. 'garbage_collection', 'backup', 'verify'. */
  readonly type: string;
  /** Worker id, e.g. the datastore or `store:vm/100`; any text (escaped in the UPID). */
  readonly id?: string;
  /** Auth id that started the task (`user@realm` or `user@realm!token`). */
  readonly user: string;
}

export interface TaskResult {
  /** 'ok' and 'warnings' both end as WARNINGS when the task warned, else OK (PBS). */
  readonly state: TaskResultState;
  /** The error text for 'error'. */
  readonly message?: string;
}

export interface TaskHandle {
  readonly upid: string;
  readonly logPath: string;
  /** Fires on requestAbort(upid) (and on close() of the store). */
  readonly abortSignal: AbortSignal;
  log(message: string): void;
  warn(message: string): void;
  /** Write the end line and update the index; once only. */
  finish(result: TaskResult): Promise<TaskEntry>;
}

/** PBS `/nodes/<node>/tasks/<upid>/status`. */
export interface TaskStatusInfo {
  readonly upid: string;
  readonly node: string;
  readonly pid: number;
  readonly pstart: number;
  readonly starttime: number;
  readonly type: string;
  readonly id?: string;
  /** The user part of the auth id. */
  readonly user: string;
  /** The token name when a token started the task. */
  readonly tokenid?: string;
  readonly status: 'running' | 'stopped';
  readonly exitstatus?: string;
}

/** What open() found and did. */
export interface TaskStoreOpenReport {
  /** Why the index was rebuilt from the logs, if it was. */
  readonly rebuilt?: string;
  /** Entries left running by a dead process and settled. */
  readonly settled: number;
  /** Tasks in the index after opening. */
  readonly tasks: number;
}

interface RunningTask {
  readonly entry: TaskEntry;
  readonly writer: TaskLogWriter;
  readonly abort: AbortController;
}

const STATUS_OF: Record<TaskEnd['state'], TaskStatus> = {
  ok: 'ok', warnings: 'warning', error: 'error', aborted: 'aborted', unknown: 'error',
};

function entryOf(upid: Upid, text: string, end: TaskEnd | undefined): TaskEntry {
  const base = {
    upid: text,
    node: upid.node,
    type: upid.workerType,
    ...(upid.workerId === undefined ? {} : { id: upid.workerId }),
    user: upid.authId,
    starttime: upid.startTime,
  };
  if (end === undefined) return { ...base, status: 'running' };
  return { ...base, endtime: end.endTime, status: STATUS_OF[end.state], exitstatus: exitStatusText(end) };
}

/** A task of another, still living process is running; one of ours at open time, or of a dead process, is not. */
const stillRunning = (u: Upid): boolean => !isLocalUpid(u) && isProcessRunning(u.pid, u.pstart);

/** The end of a task that is not running, from its log; 'unknown' at its start when the log is gone. */
function settledEnd(path: string, u: Upid): TaskEnd {
  try {
    return readTaskEnd(path, u.startTime);
  } catch (err) {
    if (isBulwarkError(err, 'BULWARK_NOT_FOUND')) return { state: 'unknown', endTime: u.startTime };
    throw err;
  }
}

export class TaskStore {
  readonly dir: string;
  readonly node: string;
  readonly openReport: TaskStoreOpenReport;
  readonly #now: () => number;
  readonly #index: TaskIndex;
  readonly #running = new Map<string, RunningTask>();
  #closed = false;

  private constructor(dir: string, node: string, now: () => number, index: TaskIndex, report: TaskStoreOpenReport) {
    this.dir = dir;
    this.node = node;
    this.#now = now;
    this.#index = index;
    this.openReport = report;
  }

  static async open(opts: TaskStoreOptions): Promise<TaskStore> {
    const dir = resolve(opts.dir);
    mkdirSync(dir, { recursive: true });
    const { index, health } = await TaskIndex.open(join(dir, INDEX_DIR));
    try {
      let logs = 0;
      for (const _ of listTaskLogs(dir)) logs += 1;
      let report: TaskStoreOpenReport;
      const why = health.reset ?? (!health.complete ? 'index missing or incomplete'
        : health.count !== logs ? `index holds ${health.count} tasks, ${logs} logs exist` : undefined);
      if (!health.complete && health.reset === undefined && health.count === 0 && logs === 0) {
        await index.rebuild([]); // a new, empty task directory: nothing was lost
        report = { settled: 0, tasks: 0 };
      } else if (why !== undefined) {
        const tasks = await index.rebuild(entriesFromLogs(dir));
        report = { rebuilt: why, settled: 0, tasks };
      } else {
        const stale = health.running.filter((e) => !stillRunning(parseUpid(e.upid)));
        await index.putMany(stale.map((e) => {
          const u = parseUpid(e.upid);
          return entryOf(u, e.upid, settledEnd(taskLogPath(dir, u), u));
        }));
        report = { settled: stale.length, tasks: health.count };
      }
      return new TaskStore(dir, opts.node, opts.now ?? Date.now, index, report);
    } catch (err) {
      await index.close();
      throw err;
    }
  }

  /** Start a task: its log file, then its index entry. */
  async start(opts: StartTaskOptions): Promise<TaskHandle> {
    this.#checkOpen();
    const { upid, text } = createUpid({
      node: this.node,
      workerType: opts.type,
      ...(opts.id === undefined ? {} : { workerId: opts.id }),
      authId: opts.user,
      startTime: Math.floor(this.#now() / 1000),
    });
    const logPath = taskLogPath(this.dir, upid);
    const writer = TaskLogWriter.create(logPath, this.#now);
    const task: RunningTask = { entry: entryOf(upid, text, undefined), writer, abort: new AbortController() };
    this.#running.set(text, task);
    try {
      await this.#index.put(task.entry);
    } catch (err) {
      this.#running.delete(text);
      writer.finish({ state: 'error', message: `could not record the task: ${(err as Error).message}` });
      throw err;
    }
    return {
      upid: text,
      logPath,
      abortSignal: task.abort.signal,
      log: (message) => writer.log(message),
      warn: (message) => writer.warn(message),
      finish: (result) => this.#finish(text, result),
    };
  }

  /** Ask a running task of this store to stop; false when it is unknown here or already finished. */
  requestAbort(upid: string): boolean {
    parseUpid(upid);
    const task = this.#running.get(upid);
    if (task === undefined) return false;
    if (!task.abort.signal.aborted) {
      task.writer.log(ABORT_REQUEST_LINE);
      task.abort.abort(bulwarkError('BULWARK_ABORTED', `task '${upid}'`, ABORT_MESSAGE));
    }
    return true;
  }

  /** PBS task status. */
  async status(upid: string): Promise<TaskStatusInfo> {
    this.#checkOpen();
    const u = parseUpid(upid);
    const entry = await this.#index.get(upid);
    if (entry === undefined) throw bulwarkError('BULWARK_NOT_FOUND', `task ${upid}`);
    const bang = u.authId.indexOf('!');
    const running = isLocalUpid(u) ? this.#running.has(upid) : entry.status === 'running';
    return {
      upid,
      node: u.node,
      pid: u.pid,
      pstart: u.pstart,
      starttime: u.startTime,
      type: u.workerType,
      ...(u.workerId === undefined ? {} : { id: u.workerId }),
      user: bang < 0 ? u.authId : u.authId.slice(0, bang),
      ...(bang < 0 ? {} : { tokenid: u.authId.slice(bang + 1) }),
      ...(running ? { status: 'running' as const } : { status: 'stopped' as const, exitstatus: entry.exitstatus ?? 'unknown' }),
    };
  }

  /** One page of a task's log (PBS paging: start is a 1-based line number, limit 0 = all). */
  async readLog(upid: string, opts: { start?: number; limit?: number } = {}): Promise<LogPage> {
    const u = parseUpid(upid);
    try {
      return await readTaskLog(taskLogPath(this.dir, u), opts);
    } catch (err) {
      if (isBulwarkError(err, 'BULWARK_NOT_FOUND')) throw bulwarkError('BULWARK_NOT_FOUND', `task ${upid}`);
      throw err;
    }
  }

  /** Tasks newest first, filtered and paged as PBS's task list. */
  async list(filter: TaskFilter = {}): Promise<TaskList> {
    this.#checkOpen();
    return this.#index.list(filter);
  }

  /** Matching tasks newest first, streamed (no page limit). */
  entries(filter: TaskFilter = {}): AsyncGenerator<TaskEntry> {
    this.#checkOpen();
    return this.#index.entries(filter);
  }

  /** UPIDs of the tasks running in this store. */
  runningTasks(): string[] {
    return [...this.#running.keys()];
  }

  /**
   * Close the index. Tasks still running are aborted and their logs closed
   * without an end line; the next open() settles them as 'unknown'.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [upid, task] of this.#running) {
      task.abort.abort(bulwarkError('BULWARK_ABORTED', `task '${upid}'`, 'task store closed'));
      task.writer.abandon();
    }
    this.#running.clear();
    await this.#index.close();
  }

  async #finish(upid: string, result: TaskResult): Promise<TaskEntry> {
    const task = this.#running.get(upid);
    if (task === undefined || task.writer.finished) throw bulwarkError('BULWARK_INTERNAL', `task ${upid} is not running`);
    const end = task.writer.endOf(result);
    let logError: unknown;
    try {
      task.writer.writeEnd(end);
    } catch (err) {
      logError = err; // the index still learns the end; the log will read as 'unknown'
    }
    const entry = entryOf(parseUpid(upid), upid, end);
    try {
      await this.#index.put(entry);
    } finally {
      // Only now: until the index holds the end, status() must still answer 'running', not a stopped task without its exit status.
      this.#running.delete(upid);
    }
    if (logError !== undefined) throw logError;
    return entry;
  }

  #checkOpen(): void {
    if (this.#closed) throw bulwarkError('BULWARK_INTERNAL', `task store ${this.dir} is closed`);
  }
}

/** Index entries for every log: running if its (other, living) process still runs, else its end. */
function* entriesFromLogs(dir: string): Generator<TaskEntry> {
  for (const { upid, text, path } of listTaskLogs(dir)) {
    const end = settledEnd(path, upid);
    yield entryOf(upid, text, end.state === 'unknown' && stillRunning(upid) ? undefined : end);
  }
}
