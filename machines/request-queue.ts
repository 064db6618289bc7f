/**
 * Which queued requests of a session may start now: a pure function the
 * session machines call after every arrival and completion.
 *
 * Two kinds of request. Concurrent ones (chunk uploads, reads) run side by
 * side up to `limit`. Barriers (create-index, append, close-index, finish…)
 * run alone and in arrival order: a barrier starts only when it heads the
 * queue and every request that arrived before it has completed, so e.g. an
 * `append` sees every chunk uploaded before it, whatever index it went to.
 * A concurrent request may overtake a queued or running barrier only if the
 * barrier is `passable` (nothing it does can affect the later request: a
 * chunk upload does not depend on an earlier `append`), which keeps uploads
 * flowing while appends wait. `held` ops do not start at all for now (the
 * reader pauses chunk reads under socket backpressure).
 */
import type { Pending } from './backup-session.types.ts';

export interface QueuePolicy {
  readonly limit: number;
  barrier(op: string): boolean;
  passable(op: string): boolean;
  held(op: string): boolean;
}

export interface Picked<R> {
  readonly start: readonly Pending<R>[];
  readonly queue: readonly Pending<R>[];
}

export function pickStartable<R extends { readonly op: string }>(
  queue: readonly Pending<R>[],
  running: readonly Pending<R>[],
  policy: QueuePolicy,
): Picked<R> {
  const start: Pending<R>[] = [];
  const rest: Pending<R>[] = [];
  const blocks = (p: Pending<R>) => policy.barrier(p.request.op) && !policy.passable(p.request.op);
  let concurrent = running.filter((p) => !policy.barrier(p.request.op)).length;
  // Seq of the first blocking barrier (running or queued): no concurrent request after it may start.
  // A running barrier always precedes everything queued, since it started at the head of the queue.
  let blockedFrom = Math.min(Infinity, ...running.filter(blocks).map((p) => p.seq));
  for (const [i, p] of queue.entries()) {
    const op = p.request.op;
    let ok: boolean;
    if (policy.barrier(op)) {
      ok = i === 0 && !policy.held(op) && !running.some((r) => r.seq < p.seq);
      if (blocks(p)) blockedFrom = Math.min(blockedFrom, p.seq);
    } else {
      ok = concurrent < policy.limit && !policy.held(op) && p.seq < blockedFrom;
      if (ok) concurrent++;
    }
    (ok ? start : rest).push(p);
  }
  return { start, queue: rest };
}
