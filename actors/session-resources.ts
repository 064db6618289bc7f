/**
 * What the session actors of one actor system share: one ChunkStore and
 * one ResumeStore per datastore path (a ChunkStore serialises inserts of a
 * digest only within itself, so every session of a store must use the same
 * one), and the open writer or reader of each running session, so a session
 * that crashes can still have its unfinished snapshot aborted (or its
 * snapshot lock released) by the sessions supervisor.
 */
import type { Logger } from 'pino';
import { ChunkStore } from '../datastore/chunk-store.ts';
import { ResumeStore } from '../datastore/resume-store.ts';
import { SAFETY_FULL, type SafetyParameters } from '../datastore/safety.ts';
import type { TaskHandle, TaskResult, TaskStore } from './tasks/task-store.ts';

export interface SessionResourcesOptions {
  readonly log: Logger;
  /** Epoch ms; default Date.now. */
  readonly now?: () => number;
  readonly safety?: SafetyParameters;
  /** Where sessions record themselves as `backup` / `reader` tasks (PBS does); none in bare tests. */
  readonly tasks?: TaskStore;
}

export interface TrackedSession {
  readonly log: Logger;
  /** The session's task, ended when the session ends. */
  readonly task?: TaskHandle;
  /** Aborts the writer or closes the reader. */
  release(reason: string): Promise<void> | void;
}

export class SessionResources {
  readonly log: Logger;
  readonly now: () => number;
  readonly safety: SafetyParameters;
  readonly tasks: TaskStore | undefined;
  readonly #chunkStores = new Map<string, ChunkStore>();
  readonly #resumeStores = new Map<string, ResumeStore>();
  readonly #open = new Map<string, TrackedSession>();

  constructor(options: SessionResourcesOptions) {
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.safety = options.safety ?? SAFETY_FULL;
    this.tasks = options.tasks;
  }

  /**
   * Opens the task of a session; `stop` is called when someone aborts the
   * task (DELETE .../tasks/<upid>), and should stop the session.
   */
  async startTask(opts: { type: 'backup' | 'reader'; id: string; user: string }, stop: (reason: string) => void): Promise<TaskHandle | undefined> {
    if (!this.tasks) return undefined;
    const task = await this.tasks.start(opts);
    task.abortSignal.addEventListener('abort', () => stop('aborted by request'), { once: true });
    return task;
  }

  chunkStore(storePath: string): ChunkStore {
    let store = this.#chunkStores.get(storePath);
    if (store === undefined) {
      store = ChunkStore.open(storePath, { now: this.now });
      this.#chunkStores.set(storePath, store);
    }
    return store;
  }

  resumeStore(storePath: string): ResumeStore {
    let store = this.#resumeStores.get(storePath);
    if (store === undefined) {
      store = new ResumeStore(storePath, { safety: this.safety });
      this.#resumeStores.set(storePath, store);
    }
    return store;
  }

  track(sessionId: string, session: TrackedSession): void {
    this.#open.set(sessionId, session);
  }

  /** Forget a session that ended normally; returns what was tracked. */
  untrack(sessionId: string): TrackedSession | undefined {
    const session = this.#open.get(sessionId);
    this.#open.delete(sessionId);
    return session;
  }

  /** Clean up after a crashed session; never throws. */
  async releaseCrashed(sessionId: string, error: unknown): Promise<void> {
    const session = this.untrack(sessionId);
    const log = session?.log ?? this.log.child({ session: sessionId });
    log.error({ err: error }, 'session crashed');
    try {
      await session?.release('the session crashed');
    } catch (err) {
      log.error({ err }, 'cleanup after a crashed session failed');
    }
    await endTask(session, { state: 'error', message: `the session crashed: ${error instanceof Error ? error.message : String(error)}` }, log);
  }
}

/** Ends a session's task (if it has one); a failure to record it is logged, never thrown. */
export async function endTask(session: TrackedSession | undefined, result: TaskResult, log: Logger = session?.log as Logger): Promise<void> {
  if (!session?.task) return;
  // A session stopped because its task was aborted (DELETE .../tasks/<upid>,
  // shutdown) ended as asked, not in error: PBS records that as aborted.
  const end: TaskResult = result.state === 'error' && session.task.abortSignal.aborted ? { state: 'aborted' } : result;
  try {
    if (end.state === 'error' && end.message) session.task.log(`error: ${end.message}`);
    await session.task.finish(end);
  } catch (err) {
    log?.error({ err, upid: session.task.upid }, 'could not record the end of a session task');
  }
}
