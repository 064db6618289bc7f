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

export interface SessionResourcesOptions {
  readonly log: Logger;
  /** Epoch ms; default Date.now. */
  readonly now?: () => number;
  readonly safety?: SafetyParameters;
}

export interface TrackedSession {
  readonly log: Logger;
  /** Aborts the writer or closes the reader. */
  release(reason: string): Promise<void> | void;
}

export class SessionResources {
  readonly log: Logger;
  readonly now: () => number;
  readonly safety: SafetyParameters;
  readonly #chunkStores = new Map<string, ChunkStore>();
  readonly #resumeStores = new Map<string, ResumeStore>();
  readonly #open = new Map<string, TrackedSession>();

  constructor(options: SessionResourcesOptions) {
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.safety = options.safety ?? SAFETY_FULL;
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
  }
}
