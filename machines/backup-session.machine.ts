/**
 * One backup session (docs/protocol.md, "Backup session"): from the upgrade
 * to a finished or aborted snapshot.
 *
 *   starting ─(writer started)→ ready ─CONNECTED→ active ─finish→ finishing → done
 *      │                          │                 │                 │
 *      └→ failed                  └──────────→ aborting → aborted ←───┘ (finish failed)
 *
 * `starting` runs while the WebSocket is being set up: the transport sends
 * CONNECTED only once the session is `ready` (writer started, group
 * locked); a refusal such as a locked group becomes an `abort` frame with
 * its HTTP status instead of `hello`. In `active` every request runs
 * as its own spawned promise actor (`op:<id>`), scheduled by
 * request-queue.ts: chunk uploads in parallel, index operations in arrival
 * order. Replies go out as each completes.
 *
 * Flow control: `hello` grants `limits.credit` bytes; each chunk or blob
 * spends its data length on arrival and earns it back (a `credit` notice)
 * when stored. Overrunning the credit, a malformed frame, an idle socket, a
 * disconnect before `finish`, or any failed write aborts the whole session:
 * the client gets the failed request's error and an `abort` notice, the
 * socket is closed, and `abortWriter` removes the unfinished snapshot.
 * Reads (`previous`, `previous-manifest`, `resume`) that fail just answer
 * with their error. Every side effect is a named stub, provided by
 * actors/backup-session.actor.ts (or a test).
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { notProvided } from './not-provided.ts';
import { pickStartable, type QueuePolicy } from './request-queue.ts';
import type {
  BackupOp,
  BackupRequest,
  BackupSessionContext,
  BackupSessionEvent,
  BackupSessionInput,
  BackupTarget,
  Fault,
  OpInputOf,
  Pending,
  ServerFrame,
  StartedWriter,
  WriterInput,
} from './backup-session.types.ts';

type Ok = Readonly<Record<string, unknown>>;
type Op<O extends BackupOp> = OpInputOf<O>;
const stub = <I>(name: string) => fromPromise<Ok, I>(async () => notProvided(name));

/** The actor that serves each op (`finish` is the `finishing` state's own). */
const OP_ACTOR = {
  previous: 'readPrevious',
  'previous-manifest': 'readPreviousManifest',
  resume: 'readResumeDigests',
  'create-index': 'createIndex',
  chunk: 'uploadChunk',
  append: 'appendIndex',
  'close-index': 'closeIndex',
  blob: 'uploadBlob',
} as const satisfies Record<Exclude<BackupOp, 'finish'>, string>;

/** Failures of these are answers ("no previous snapshot"), not a broken session. */
const SOFT_FAIL: ReadonlySet<BackupOp> = new Set(['previous', 'previous-manifest', 'resume']);
/** Later chunk uploads may overtake these (they cannot affect a chunk upload). */
const PASSABLE: ReadonlySet<string> = new Set(['append', 'blob', 'previous', 'previous-manifest', 'resume']);

const policy = (limit: number): QueuePolicy => ({
  limit,
  barrier: (op) => op !== 'chunk',
  passable: (op) => PASSABLE.has(op),
  held: (op) => op === 'finish', // started by the `finishReady` transition instead
});

const childId = (requestId: number) => `op:${requestId}`;
const dataBytes = (r: BackupRequest) => (r.op === 'chunk' || r.op === 'blob' ? r.data.length : 0);
const protocolFault = (what: string): Fault => ({ code: 'BULWARK_PROTOCOL', args: [what] });
const aborted = (why: string): Fault => ({ code: 'BULWARK_SESSION_ABORTED', args: [why] });

function findRunning(context: BackupSessionContext, actorId: string): Pending<BackupRequest> | undefined {
  return context.running.find((p) => childId(p.request.id) === actorId);
}

// The named side effects (stubs until provided) and guards. The session's own bookkeeping actions are
// added with `extend` below, which types their `enqueue({ type: 'send', params })` against these.
const base = setup({
  types: {
    context: {} as BackupSessionContext,
    events: {} as BackupSessionEvent,
    input: {} as BackupSessionInput,
    output: {} as { fault?: Fault },
  },
  actors: {
    startWriter: fromPromise<StartedWriter, { sessionId: string; target: BackupTarget }>(async () => notProvided('startWriter')),
    abortWriter: fromPromise<void, WriterInput & { fault: Fault }>(async () => notProvided('abortWriter')),
    finishWriter: stub<WriterInput>('finishWriter'),
    readPrevious: stub<Op<'previous'>>('readPrevious'),
    readPreviousManifest: stub<Op<'previous-manifest'>>('readPreviousManifest'),
    readResumeDigests: stub<Op<'resume'>>('readResumeDigests'),
    createIndex: stub<Op<'create-index'>>('createIndex'),
    uploadChunk: stub<Op<'chunk'>>('uploadChunk'),
    appendIndex: stub<Op<'append'>>('appendIndex'),
    closeIndex: stub<Op<'close-index'>>('closeIndex'),
    uploadBlob: stub<Op<'blob'>>('uploadBlob'),
  },
  actions: {
    send: (_, _params: { frame: ServerFrame }) => notProvided('send'),
    closeSocket: () => notProvided('closeSocket'),
  },
  guards: {
    duplicateId: ({ context, event }) => {
      const id = (event as Extract<BackupSessionEvent, { type: 'REQUEST' }>).request.id;
      return [...context.queue, ...context.running].some((p) => p.request.id === id);
    },
    afterFinish: ({ context }) => context.finishId !== undefined,
    overrun: ({ context, event }) => dataBytes((event as Extract<BackupSessionEvent, { type: 'REQUEST' }>).request) > context.credit,
    finishReady: ({ context }) => context.queue[0]?.request.op === 'finish' && context.running.length === 0,
    softFailure: ({ context, event }) => {
      const p = findRunning(context, (event as unknown as { actorId: string }).actorId);
      return p !== undefined && SOFT_FAIL.has(p.request.op);
    },
    disconnected: ({ context }) => context.disconnected,
  },
  delays: {
    idleTimeout: ({ context }) => context.limits.idleTimeoutMs,
  },
});

export const backupSessionMachine = base.extend({
  actions: {
    accept: assign(({ context, event }) => {
      const request = (event as Extract<BackupSessionEvent, { type: 'REQUEST' }>).request;
      const bytes = dataBytes(request);
      return {
        seq: context.seq + 1,
        credit: context.credit - bytes,
        queue: [...context.queue, { seq: context.seq, request, bytes }],
        ...(request.op === 'finish' && { finishId: request.id, ...(request.manifest && { finishManifest: request.manifest }) }),
      };
    }),
    schedule: base.enqueueActions(({ context, enqueue }) => {
      const { start, queue } = pickStartable(context.queue, context.running, policy(context.limits.concurrency));
      if (start.length === 0) return;
      for (const p of start) {
        const op = p.request.op as Exclude<BackupOp, 'finish'>;
        enqueue.spawnChild(OP_ACTOR[op], { id: childId(p.request.id), input: { writer: context.writer, request: p.request as never } });
      }
      enqueue.assign({ queue, running: [...context.running, ...start] });
    }),
    /** A request's actor finished: reply, give its credit back, forget it. */
    complete: base.enqueueActions(({ context, event, enqueue }) => {
      const done = event as unknown as { actorId: string; output: Ok };
      const p = findRunning(context, done.actorId);
      if (!p) return;
      enqueue({ type: 'send', params: { frame: { id: p.request.id, ok: done.output ?? {} } } });
      if (p.bytes > 0) enqueue({ type: 'send', params: { frame: { op: 'credit', bytes: p.bytes } } });
      enqueue.assign({ credit: context.credit + p.bytes, running: context.running.filter((q) => q !== p) });
    }),
    /** A request's actor failed: answer that request with the error. */
    replyError: base.enqueueActions(({ context, event, enqueue }) => {
      const failed = event as unknown as { actorId: string; error: unknown };
      const p = findRunning(context, failed.actorId);
      if (p) enqueue({ type: 'send', params: { frame: { id: p.request.id, error: { thrown: failed.error } } } });
    }),
    forget: assign(({ context, event }) => {
      const p = findRunning(context, (event as unknown as { actorId: string }).actorId);
      return { running: context.running.filter((q) => q !== p) };
    }),
  },
}).createMachine({
  id: 'backupSession',
  context: ({ input }) => ({
    sessionId: input.sessionId,
    target: input.target,
    limits: input.limits,
    port: input.port,
    previousBackupTime: null,
    credit: input.limits.credit,
    seq: 0,
    queue: [],
    running: [],
    disconnected: false,
  }),
  output: ({ context }) => (context.fault ? { fault: context.fault } : {}),
  initial: 'starting',
  states: {
    starting: {
      invoke: {
        src: 'startWriter',
        input: ({ context }) => ({ sessionId: context.sessionId, target: context.target }),
        onDone: [
          // The client gave up on the upgrade while the writer was starting.
          { guard: 'disconnected', target: 'aborting', actions: assign({ writer: ({ event }) => event.output.writer }) },
          {
            target: 'ready',
            actions: assign({ writer: ({ event }) => event.output.writer, previousBackupTime: ({ event }) => event.output.previousBackupTime }),
          },
        ],
        onError: { target: 'failed', actions: assign({ fault: ({ event }) => ({ thrown: event.error }) }) },
      },
      on: { DISCONNECTED: { actions: assign({ disconnected: true, fault: aborted('client went away during the upgrade') }) } },
    },
    // Writer started; waiting for the transport to finish the upgrade.
    ready: {
      on: {
        CONNECTED: 'active',
        DISCONNECTED: { target: 'aborting', actions: assign({ disconnected: true, fault: aborted('client went away during the upgrade') }) },
        STOP: { target: 'aborting', actions: assign({ fault: ({ event }) => aborted(event.reason) }) },
      },
      after: { idleTimeout: { target: 'aborting', actions: assign({ fault: aborted('the connection never opened') }) } },
    },
    active: {
      entry: {
        type: 'send',
        params: ({ context }) => ({
          frame: {
            op: 'hello',
            credits: context.limits.credit,
            'max-chunk-size': context.limits.maxChunkSize,
            previous: context.previousBackupTime === null ? null : { 'backup-time': context.previousBackupTime },
          },
        }),
      },
      initial: 'listening',
      states: {
        // Re-entered on every frame and completion, which restarts the idle timer.
        listening: {
          after: {
            idleTimeout: {
              target: '#backupSession.aborting',
              actions: assign({ fault: ({ context }) => aborted(`no frame for ${Math.round(context.limits.idleTimeoutMs / 1000)} s`) }),
            },
          },
        },
      },
      always: { guard: 'finishReady', target: 'finishing' },
      on: {
        REQUEST: [
          {
            guard: 'duplicateId',
            target: 'aborting',
            actions: assign({ fault: ({ event }) => protocolFault(`request id ${event.request.id} is already in flight`) }),
          },
          { guard: 'afterFinish', target: 'aborting', actions: assign({ fault: ({ event }) => protocolFault(`'${event.request.op}' after 'finish'`) }) },
          {
            guard: 'overrun',
            target: 'aborting',
            actions: assign({ fault: ({ context, event }) => ({ code: 'BULWARK_CREDIT_OVERRUN', args: [dataBytes(event.request), context.credit] }) }),
          },
          { target: '.listening', actions: ['accept', 'schedule'] },
        ],
        'xstate.done.actor.*': { target: '.listening', actions: ['complete', 'schedule'] },
        'xstate.error.actor.*': [
          { guard: 'softFailure', target: '.listening', actions: ['replyError', 'forget', 'schedule'] },
          { target: 'aborting', actions: ['replyError', assign({ fault: ({ event }) => ({ thrown: event.error }) })] },
        ],
        FRAME_ERROR: { target: 'aborting', actions: assign({ fault: ({ event }) => ({ thrown: event.error }) }) },
        STOP: { target: 'aborting', actions: assign({ fault: ({ event }) => aborted(event.reason) }) },
        DISCONNECTED: { target: 'aborting', actions: assign({ disconnected: true, fault: aborted('client disconnected before finish') }) },
      },
    },
    finishing: {
      invoke: {
        src: 'finishWriter',
        input: ({ context }) => ({ sessionId: context.sessionId, writer: context.writer, ...(context.finishManifest && { manifest: context.finishManifest }) }),
        onDone: { target: 'done', actions: { type: 'send', params: ({ context, event }) => ({ frame: { id: context.finishId!, ok: event.output ?? {} } }) } },
        onError: {
          target: 'aborting',
          actions: [
            { type: 'send', params: ({ context, event }) => ({ frame: { id: context.finishId!, error: { thrown: event.error } } }) },
            assign({ fault: ({ event }) => ({ thrown: event.error }) }),
          ],
        },
      },
      on: {
        // The snapshot is being committed: a late frame gets an error, the commit goes on.
        REQUEST: { actions: { type: 'send', params: ({ event }) => ({ frame: { id: event.request.id, error: protocolFault(`'${event.request.op}' after 'finish'`) } }) } },
        DISCONNECTED: { actions: assign({ disconnected: true }) },
      },
    },
    done: { type: 'final', entry: 'closeSocket' },
    aborting: {
      entry: enqueueActions(({ context, enqueue }) => {
        for (const p of context.running) enqueue.stopChild(childId(p.request.id));
        enqueue.assign({ running: [], queue: [] });
        if (!context.disconnected && context.fault) enqueue({ type: 'send', params: { frame: { op: 'abort', error: context.fault } } });
        enqueue('closeSocket');
      }),
      invoke: {
        src: 'abortWriter',
        input: ({ context }) => ({ sessionId: context.sessionId, writer: context.writer, fault: context.fault ?? aborted('aborted') }),
        onDone: 'aborted',
        onError: 'aborted',
      },
    },
    aborted: { type: 'final' },
    failed: { type: 'final' },
  },
});
