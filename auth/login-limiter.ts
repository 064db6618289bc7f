/**
 * Failed-login rate limit, counted separately per user name and per remote
 * address: `maxFailures` failures within `window` block that key for
 * `baseBlock`, and each further block of the same key doubles, up to
 * `maxBlock`. A successful login resets its user's counter (not the
 * address's: one good password must not launder a guessing address).
 *
 * Memory is bounded: idle entries are forgotten after `forgetAfter`, and
 * beyond `maxEntries` the least recently failed ones are evicted (a Map keeps
 * insertion order; every failure re-inserts its key at the end).
 */
import { bulwarkError } from '../errors.ts';

export interface LoginLimiterOptions {
  readonly now?: () => number;
  readonly maxFailures?: number;
  readonly windowMs?: number;
  readonly baseBlockMs?: number;
  readonly maxBlockMs?: number;
  readonly forgetAfterMs?: number;
  readonly maxEntries?: number;
}

interface Entry {
  /** Times of failures since the last block, oldest first; at most maxFailures. */
  failures: number[];
  blockedUntil: number;
  /** Blocks so far; the next one lasts baseBlock × 2^strikes. */
  strikes: number;
  lastSeen: number;
}

export const LOGIN_LIMIT_DEFAULTS = {
  maxFailures: 5,
  windowMs: 10 * 60_000,
  baseBlockMs: 60_000,
  maxBlockMs: 60 * 60_000,
  forgetAfterMs: 24 * 3600_000,
  maxEntries: 10_000,
} as const;

export class LoginLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly o: Required<Omit<LoginLimiterOptions, 'now'>>;

  constructor(options: LoginLimiterOptions = {}) {
    this.now = options.now ?? Date.now;
    const { now: _now, ...rest } = options;
    this.o = { ...LOGIN_LIMIT_DEFAULTS, ...rest };
  }

  /** Seconds until `user` and `addr` may try again; 0 if neither is blocked. */
  retryAfter(user: string, addr: string): number {
    const t = this.now();
    const until = Math.max(this.blockedUntil(`user:${user}`, t), this.blockedUntil(`addr:${addr}`, t));
    return until > t ? Math.ceil((until - t) / 1000) : 0;
  }

  /** Throws BULWARK_RATE_LIMITED while either key is blocked. Call before checking credentials. */
  check(user: string, addr: string): void {
    const t = this.now();
    const userWait = this.blockedUntil(`user:${user}`, t) - t;
    const addrWait = this.blockedUntil(`addr:${addr}`, t) - t;
    if (userWait <= 0 && addrWait <= 0) return;
    const who = userWait >= addrWait ? `user ${user}` : `address ${addr}`;
    throw bulwarkError('BULWARK_RATE_LIMITED', who, Math.ceil(Math.max(userWait, addrWait) / 1000));
  }

  recordFailure(user: string, addr: string): void {
    const t = this.now();
    this.fail(`user:${user}`, t);
    this.fail(`addr:${addr}`, t);
    this.evict(t);
  }

  recordSuccess(user: string): void {
    this.entries.delete(`user:${user}`);
  }

  /** Number of tracked keys (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  private blockedUntil(key: string, t: number): number {
    const e = this.entries.get(key);
    return e && e.blockedUntil > t ? e.blockedUntil : 0;
  }

  private fail(key: string, t: number): void {
    const old = this.entries.get(key);
    // A key quiet for forgetAfter starts over, so old strikes do not grow blocks forever.
    const stale = !old || (t - old.lastSeen > this.o.forgetAfterMs && old.blockedUntil <= t);
    const e = stale ? { failures: [], blockedUntil: 0, strikes: 0, lastSeen: t } : old;
    this.entries.delete(key);
    this.entries.set(key, e); // most recent last
    e.lastSeen = t;
    if (e.blockedUntil > t) return; // refused attempts are not counted again
    e.failures = e.failures.filter((f) => t - f < this.o.windowMs);
    e.failures.push(t);
    if (e.failures.length >= this.o.maxFailures) {
      e.blockedUntil = t + Math.min(this.o.maxBlockMs, this.o.baseBlockMs * 2 ** e.strikes);
      e.strikes += 1;
      e.failures = [];
    }
  }

  private evict(t: number): void {
    if (this.entries.size <= this.o.maxEntries) return;
    for (const [key, e] of this.entries) {
      if (t - e.lastSeen > this.o.forgetAfterMs && e.blockedUntil <= t) this.entries.delete(key);
    }
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.o.maxEntries) break;
      this.entries.delete(key);
    }
  }
}
