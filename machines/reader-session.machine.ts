/**
 * One reader session (docs/protocol.md, "Reader session"): serves the
 * manifest, indexes, blobs and chunks of one snapshot.
 *
 *   opening ─(reader open)→ ready ─CONNECTED→ active ─DISCONNECTED→ closing → closed
 *      └→ failed
 *
 * Like the backup session, `opening` runs before CONNECTED (a missing
 * snapshot or a lock becomes an `abort` with its HTTP status), and every request runs as its
 * own promise actor (`op:<id>`), many in flight, replies in completion
 * order. A failed read answers its request and the session goes on; only a
 * malformed frame, a duplicate request id or an idle socket end it. Under
 * socket backpressure the transport sends PAUSE and no new chunk read
 * starts until RESUME, so a slow client cannot make the server buffer a
 * whole snapshot.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { notProvided } from './not-provided.ts';
import { pickStartable } from './request-queue.ts';
import type { Fault, ServerFrame } from './backup-session.types.ts';
import type { ReadInput, ReaderOp, ReaderRequest, ReaderSessionContext, ReaderSessionEvent, ReaderSessionInput, ReaderTarget } from './reader-session.types.ts';

type Ok = Readonly<Record<string, unknown>>;
type Op<O extends ReaderOp> = ReadInput<Extract<ReaderRequest, { op: O }>>;
const stub = <I>(name: string) => fromPromise<Ok, I>(async () => notProvided(name));

const OP_ACTOR = { manifest: 'readManifest', index: 'readIndex', blob: 'readBlob', chunk: 'readChunk' } as const satisfies Record<ReaderOp, string>;

const childId = (requestId: number) => `op:${requestId}`;
const aborted = (why: string): Fault => ({ code: 'BULWARK_SESSION_ABORTED', args: [why] });
type Settled = { actorId: string; output?: Ok; error?: unknown };

const base = setup({
  types: {
    context: {} as ReaderSessionContext,
    events: {} as ReaderSessionEvent,
    input: {} as ReaderSessionInput,
    output: {} as { fault?: Fault },
  },
  actors: {
    openReader: fromPromise<unknown, { sessionId: string; target: ReaderTarget }>(async () => notProvided('openReader')),
    closeReader: fromPromise<void, { sessionId: string; reader: unknown; fault?: Fault; disconnected: boolean }>(async () => notProvided('closeReader')),
    readManifest: stub<Op<'manifest'>>('readManifest'),
    readIndex: stub<Op<'index'>>('readIndex'),
    readBlob: stub<Op<'blob'>>('readBlob'),
    readChunk: stub<Op<'chunk'>>('readChunk'),
  },
  actions: {
    send: (_, _params: { frame: ServerFrame }) => notProvided('send'),
    closeSocket: () => notProvided('closeSocket'),
  },
  guards: {
    duplicateId: ({ context, event }) => {
      const id = (event as Extract<ReaderSessionEvent, { type: 'REQUEST' }>).request.id;
      return [...context.queue, ...context.running].some((p) => p.request.id === id);
    },
    disconnected: ({ context }) => context.disconnected,
  },
  delays: {
    idleTimeout: ({ context }) => context.limits.idleTimeoutMs,
  },
});

export const readerSessionMachine = base.extend({
  actions: {
    accept: assign(({ context, event }) => {
      const request = (event as Extract<ReaderSessionEvent, { type: 'REQUEST' }>).request;
      return { seq: context.seq + 1, queue: [...context.queue, { seq: context.seq, request, bytes: 0 }] };
    }),
    schedule: base.enqueueActions(({ context, enqueue }) => {
      const { start, queue } = pickStartable(context.queue, context.running, {
        limit: context.limits.concurrency,
        barrier: () => false,
        passable: () => true,
        held: (op) => op === 'chunk' && context.paused,
      });
      if (start.length === 0) return;
      for (const p of start) {
        enqueue.spawnChild(OP_ACTOR[p.request.op], { id: childId(p.request.id), input: { reader: context.reader, request: p.request as never } });
      }
      enqueue.assign({ queue, running: [...context.running, ...start] });
    }),
    /** A read finished or failed: answer it and forget it. */
    settle: base.enqueueActions(({ context, event, enqueue }) => {
      const settled = event as unknown as Settled;
      const p = context.running.find((q) => childId(q.request.id) === settled.actorId);
      if (!p) return;
      const frame: ServerFrame = event.type.startsWith('xstate.error.')
        ? { id: p.request.id, error: { thrown: settled.error } }
        : { id: p.request.id, ok: settled.output ?? {} };
      enqueue({ type: 'send', params: { frame } });
      enqueue.assign({ running: context.running.filter((q) => q !== p) });
    }),
  },
}).createMachine({
  id: 'readerSession',
  context: ({ input }) => ({
    sessionId: input.sessionId,
    target: input.target,
    limits: input.limits,
    port: input.port,
    seq: 0,
    queue: [],
    running: [],
    paused: false,
    disconnected: false,
  }),
  output: ({ context }) => (context.fault ? { fault: context.fault } : {}),
  initial: 'opening',
  states: {
    opening: {
      invoke: {
        src: 'openReader',
        input: ({ context }) => ({ sessionId: context.sessionId, target: context.target }),
        onDone: [
          { guard: 'disconnected', target: 'closing', actions: assign({ reader: ({ event }) => event.output }) },
          { target: 'ready', actions: assign({ reader: ({ event }) => event.output }) },
        ],
        onError: { target: 'failed', actions: assign({ fault: ({ event }) => ({ thrown: event.error }) }) },
      },
      on: { DISCONNECTED: { actions: assign({ disconnected: true }) } },
    },
    ready: {
      on: {
        CONNECTED: 'active',
        DISCONNECTED: { target: 'closing', actions: assign({ disconnected: true }) },
        STOP: { target: 'closing', actions: assign({ fault: ({ event }) => aborted(event.reason) }) },
      },
      after: { idleTimeout: 'closing' },
    },
    active: {
      entry: { type: 'send', params: { frame: { op: 'hello' } } },
      initial: 'listening',
      states: {
        // Re-entered on every frame and reply, which restarts the idle timer.
        listening: {
          after: {
            idleTimeout: {
              target: '#readerSession.closing',
              actions: assign({ fault: ({ context }) => aborted(`no frame for ${Math.round(context.limits.idleTimeoutMs / 1000)} s`) }),
            },
          },
        },
      },
      on: {
        REQUEST: [
          {
            guard: 'duplicateId',
            target: 'closing',
            actions: assign({ fault: ({ event }) => ({ code: 'BULWARK_PROTOCOL', args: [`request id ${event.request.id} is already in flight`] }) }),
          },
          { target: '.listening', actions: ['accept', 'schedule'] },
        ],
        'xstate.done.actor.*': { target: '.listening', actions: ['settle', 'schedule'] },
        'xstate.error.actor.*': { target: '.listening', actions: ['settle', 'schedule'] },
        PAUSE: { actions: assign({ paused: true }) },
        RESUME: { actions: [assign({ paused: false }), 'schedule'] },
        FRAME_ERROR: { target: 'closing', actions: assign({ fault: ({ event }) => ({ thrown: event.error }) }) },
        STOP: { target: 'closing', actions: assign({ fault: ({ event }) => aborted(event.reason) }) },
        DISCONNECTED: { target: 'closing', actions: assign({ disconnected: true }) },
      },
    },
    closing: {
      entry: enqueueActions(({ context, enqueue }) => {
        for (const p of context.running) enqueue.stopChild(childId(p.request.id));
        enqueue.assign({ running: [], queue: [] });
        if (!context.disconnected && context.fault) enqueue({ type: 'send', params: { frame: { op: 'abort', error: context.fault } } });
        enqueue('closeSocket');
      }),
      invoke: {
        src: 'closeReader',
        input: ({ context }) => ({ sessionId: context.sessionId, reader: context.reader, disconnected: context.disconnected, ...(context.fault && { fault: context.fault }) }),
        onDone: 'closed',
        onError: 'closed',
      },
    },
    closed: { type: 'final' },
    failed: { type: 'final' },
  },
});
