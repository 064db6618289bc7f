/**
 * The task index: one RocksDB (level-rocksdb) record per task, so the task
 * list is a range scan instead of a walk over thousands of log files.
 *
 *   t:<starttime, 12 hex>:<UPID>  →  TaskEntry (JSON)
 *   m:complete                    →  true once the index holds every log
 *
 * Keys sort by start time (then by UPID, which orders tasks of one process
 * by task id), so "newest first" is a reverse scan and since/until are key
 * bounds. The index is derived state: the log files are the truth. This
 * module only guards its own integrity: a database that will not open, or
 * whose records do not read back, is wiped and reported as incomplete, and
 * the owner (TaskStore) refills it from the logs with rebuild(). The
 * `m:complete` marker is written last, so a rebuild cut short by a crash is
 * redone at the next open.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { bulwarkError } from '../../errors.ts';
import { errorMessage as message, isLockError, isNotFound, openLevel, type LevelDb } from '../level-db.ts';
import { parseUpid } from './upid.ts';

export type TaskStatus = 'running' | 'ok' | 'warning' | 'error' | 'aborted';
const STATUSES: ReadonlySet<string> = new Set(['running', 'ok', 'warning', 'error', 'aborted']);

/** One task as listed (PBS TaskListItem, with Bulwark's status word). */
export interface TaskEntry {
  readonly upid: string;
  readonly node: string;
  readonly type: string;
  readonly id?: string;
  /** The auth id that started the task (user or token). */
  readonly user: string;
  /** Epoch seconds. */
  readonly starttime: number;
  readonly endtime?: number;
  readonly status: TaskStatus;
  /** PBS's exit status: 'OK', 'WARNINGS: <n>', 'unknown' or the error message. */
  readonly exitstatus?: string;
}

/** PBS `/nodes/<node>/tasks` filters. */
export interface TaskFilter {
  /** Only tasks started at or after this epoch second. */
  readonly since?: number;
  /** Only tasks started at or before this epoch second. */
  readonly until?: number;
  /** Worker type contains this (PBS typefilter). */
  readonly type?: string;
  /** Auth id contains this (PBS userfilter). */
  readonly user?: string;
  /** Only running tasks. */
  readonly running?: boolean;
  /** Only tasks that did not end OK (PBS `errors`). */
  readonly errors?: boolean;
  /** Only tasks in one of these states (PBS statusfilter). */
  readonly status?: readonly TaskStatus[];
  /** Matches to skip (default 0). */
  readonly start?: number;
  /** Matches to return (default 50, 0 = all). */
  readonly limit?: number;
}

export interface TaskList {
  /** start + returned, plus one while more matches follow (PBS's "virtual entry"), for paging UIs. */
  readonly total: number;
  readonly tasks: TaskEntry[];
}

export interface IndexHealth {
  /** The index held every task log when it was last written (marker present). */
  readonly complete: boolean;
  /** Task records in the index. */
  readonly count: number;
  /** Records still marked running (from a previous process, to be settled). */
  readonly running: TaskEntry[];
  /** Why the database was wiped on open, if it was. */
  readonly reset?: string;
}

const TASKS_FROM = 't:';
const TASKS_TO = 't;'; // ';' follows ':'
const COMPLETE_KEY = 'm:complete';
const BATCH = 256;

const hex12 = (n: number): string => n.toString(16).padStart(12, '0');
export const taskKey = (starttime: number, upid: string): string => `t:${hex12(starttime)}:${upid}`;

function isEntry(v: unknown): v is TaskEntry {
  const e = v as TaskEntry;
  return typeof v === 'object' && v !== null && typeof e.upid === 'string' && typeof e.type === 'string'
    && typeof e.user === 'string' && Number.isSafeInteger(e.starttime) && STATUSES.has(e.status);
}

function matches(e: TaskEntry, f: TaskFilter): boolean {
  if (f.type !== undefined && !e.type.includes(f.type)) return false;
  if (f.user !== undefined && !e.user.includes(f.user)) return false;
  if (f.running && e.status !== 'running') return false;
  if (f.errors && e.status === 'ok') return false;
  if (f.status !== undefined && !f.status.includes(e.status)) return false;
  return true;
}

function checkCount(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, v);
}

export class TaskIndex {
  #db: LevelDb;

  private constructor(readonly location: string, db: LevelDb) {
    this.#db = db;
  }

  /**
   * Open (creating it if missing). An unopenable or unreadable database is
   * wiped and comes back empty and incomplete; one held by another handle
   * is BULWARK_LOCKED.
   */
  static async open(location: string): Promise<{ index: TaskIndex; health: IndexHealth }> {
    mkdirSync(dirname(location), { recursive: true });
    let reset: string | undefined;
    let db: LevelDb;
    try {
      db = await openLevel(location);
    } catch (err) {
      if (isLockError(err)) throw bulwarkError('BULWARK_LOCKED', `task index ${location}`, message(err));
      reset = `could not open: ${message(err)}`;
      db = await wipeAndOpen(location);
    }
    const index = new TaskIndex(location, db);
    try {
      return { index, health: { ...(await index.#scan()), ...(reset === undefined ? {} : { reset }) } };
    } catch (err) {
      await index.#reset();
      return { index, health: { complete: false, count: 0, running: [], reset: `could not read: ${message(err)}` } };
    }
  }

  async get(upid: string): Promise<TaskEntry | undefined> {
    const key = taskKey(parseUpid(upid).startTime, upid);
    try {
      const value = await this.#db.get(key);
      return isEntry(value) ? value : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw bulwarkError('BULWARK_IO', `task index ${this.location}`, message(err), { cause: err });
    }
  }

  async put(entry: TaskEntry): Promise<void> {
    await this.putMany([entry]);
  }

  async putMany(entries: readonly TaskEntry[]): Promise<void> {
    try {
      await this.#db.batch(entries.map((e) => ({ type: 'put' as const, key: taskKey(e.starttime, e.upid), value: e })));
    } catch (err) {
      throw bulwarkError('BULWARK_IO', `task index ${this.location}`, message(err), { cause: err });
    }
  }

  /** Replace the whole index with `entries`, then mark it complete. Returns how many were written. */
  async rebuild(entries: Iterable<TaskEntry> | AsyncIterable<TaskEntry>): Promise<number> {
    await this.#reset();
    let batch: TaskEntry[] = [];
    let count = 0;
    for await (const e of entries) {
      batch.push(e);
      if (batch.length >= BATCH) {
        await this.putMany(batch);
        count += batch.length;
        batch = [];
      }
    }
    await this.putMany(batch);
    count += batch.length;
    await this.#db.put(COMPLETE_KEY, true);
    return count;
  }

  /** Matching tasks, newest first, streamed from the database. */
  async *entries(filter: TaskFilter = {}): AsyncGenerator<TaskEntry> {
    const { since, until } = filter;
    if (since !== undefined && !Number.isSafeInteger(since)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'since', since);
    if (until !== undefined && !Number.isSafeInteger(until)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'until', until);
    if (until !== undefined && until < 0) return;
    const range = {
      reverse: true,
      gte: since === undefined || since <= 0 ? TASKS_FROM : `t:${hex12(since)}`,
      lt: until === undefined ? TASKS_TO : `t:${hex12(until + 1)}`,
    };
    for await (const [, value] of this.#db.iterator(range)) {
      if (isEntry(value) && matches(value, filter)) yield value;
    }
  }

  /** One page of matching tasks, newest first (PBS list_tasks paging). */
  async list(filter: TaskFilter = {}): Promise<TaskList> {
    const start = filter.start ?? 0;
    const limit = filter.limit ?? 50;
    checkCount('start', start);
    checkCount('limit', limit);
    const tasks: TaskEntry[] = [];
    let skipped = 0;
    let more = false;
    for await (const e of this.entries(filter)) {
      if (skipped < start) {
        skipped += 1;
      } else if (limit === 0 || tasks.length < limit) {
        tasks.push(e);
      } else {
        more = true;
        break;
      }
    }
    return { total: start + tasks.length + (more ? 1 : 0), tasks };
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  /** Read every record once: proves the data is readable and finds tasks left running. */
  async #scan(): Promise<Omit<IndexHealth, 'reset'>> {
    let count = 0;
    const running: TaskEntry[] = [];
    for await (const [key, value] of this.#db.iterator({ gte: TASKS_FROM, lt: TASKS_TO })) {
      if (!isEntry(value) || key !== taskKey(value.starttime, value.upid)) throw new Error(`bad record ${key}`);
      count += 1;
      if (value.status === 'running') running.push(value);
    }
    let complete: boolean;
    try {
      complete = (await this.#db.get(COMPLETE_KEY)) === true;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      complete = false;
    }
    return { complete, count, running };
  }

  async #reset(): Promise<void> {
    try {
      await this.#db.close();
    } catch {
      // A database that failed to read may fail to close; it is being deleted anyway.
    }
    this.#db = await wipeAndOpen(this.location);
  }
}

async function wipeAndOpen(location: string): Promise<LevelDb> {
  rmSync(location, { recursive: true, force: true });
  try {
    return await openLevel(location);
  } catch (err) {
    throw bulwarkError('BULWARK_IO', `task index ${location}`, message(err), { cause: err });
  }
}
