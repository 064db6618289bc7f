/**
 * The restart policy every supervisor applies to a crashed child (an
 * `xstate.error.actor.<id>` event): restart it after a back-off that doubles
 * with each recent crash, at most `maxRestarts` times within `windowMs`; one
 * crash more in that window and the supervisor escalates instead.
 *
 * Crashes are counted without reading a clock: each one schedules its own
 * expiry event `windowMs` later (`CRASH_EXPIRED`), so the count is exact
 * under xstate's clock, and a SimulatedClock drives it in tests.
 */
import { bulwarkError, type BulwarkError } from '../errors.ts';

export interface RestartPolicy {
  /** Restarts allowed within the window before the supervisor escalates. */
  readonly maxRestarts: number;
  readonly windowMs: number;
  /** Delay before the first restart; doubles per recent crash. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  maxRestarts: 5,
  windowMs: 60_000,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
};

/** Recent crash counts per child id. */
export type CrashCounts = Readonly<Record<string, number>>;

export type RestartDecision =
  | { readonly action: 'restart'; readonly delayMs: number; readonly crashes: number }
  | { readonly action: 'escalate'; readonly crashes: number };

/** What to do about one more crash of `id`, given the crashes still inside the window. */
export function decideRestart(counts: CrashCounts, id: string, policy: RestartPolicy): RestartDecision {
  const crashes = (counts[id] ?? 0) + 1;
  if (crashes > policy.maxRestarts) return { action: 'escalate', crashes };
  const delayMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (crashes - 1));
  return { action: 'restart', delayMs, crashes };
}

export function countCrash(counts: CrashCounts, id: string): CrashCounts {
  return { ...counts, [id]: (counts[id] ?? 0) + 1 };
}

export function expireCrash(counts: CrashCounts, id: string): CrashCounts {
  const left = (counts[id] ?? 0) - 1;
  const { [id]: _old, ...rest } = counts;
  return left > 0 ? { ...rest, [id]: left } : rest;
}

/** The error a supervisor crashes with when it gives up on a child, so that its own parent sees it. */
export function escalation(child: string, crashes: number, lastError: unknown): BulwarkError {
  return bulwarkError('BULWARK_ESCALATED', child, crashes, describeError(lastError), { cause: lastError });
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
