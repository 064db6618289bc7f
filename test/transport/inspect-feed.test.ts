import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assign, createActor, createMachine, fromPromise, sendTo, setup, type AnyActorRef, type InspectionEvent } from 'xstate';
import { bulwarkError } from '../../errors.ts';
import { InspectFeed, type FeedMessage } from '../../transport/inspect-feed.ts';
import { stateText } from '../../transport/statechart.ts';

/** A feed whose batches are flushed by the test, on a clock that only moves when told. */
function manualFeed(opts: { maxEventsPerActor?: number; maxStatesPerActor?: number; maxFinishedActors?: number } = {}) {
  let t = 1000;
  const feed = new InspectFeed({ ...opts, now: () => t, schedule: () => {} });
  const deltas: FeedMessage[] = [];
  feed.subscribe((m) => deltas.push(m));
  return { feed, deltas, tick: () => { t += 1; } };
}

const SECRET = 'hunter2-do-not-leak';

// A job-like child: running.marking → running.sweeping on PHASE, then finishing → done.
const child = setup({
  types: { context: {} as { password: string }, events: {} as { type: 'PHASE'; phase: string; secret: string } | { type: 'FINISH' } },
  guards: { isSweep: ({ event }) => event.type === 'PHASE' && event.phase === 'sweep' },
}).createMachine({
  id: 'job',
  context: { password: SECRET },
  initial: 'running',
  states: {
    running: {
      initial: 'marking',
      states: {
        marking: { on: { PHASE: { guard: 'isSweep', target: 'sweeping' } } },
        sweeping: {},
      },
      on: { FINISH: 'finishing' },
    },
    finishing: { always: 'done' },
    done: { type: 'final' },
  },
});

const parent = setup({
  types: { events: {} as { type: 'START' } | { type: 'TO_CHILD'; event: { type: 'PHASE'; phase: string; secret: string } | { type: 'FINISH' } } },
  actors: { job: child },
}).createMachine({
  id: 'boss',
  initial: 'idle',
  states: {
    idle: { on: { START: 'busy' } },
    busy: {
      invoke: { id: 'job-1', systemId: 'job:1', src: 'job', onDone: 'idle' },
      on: { TO_CHILD: { actions: sendTo('job-1', ({ event }) => event.event) } },
    },
  },
});

function runBoss(feed: InspectFeed) {
  const root = createActor(parent, { systemId: 'root', inspect: feed.inspect });
  root.start();
  return root;
}

describe('InspectFeed model', () => {
  test('actors with parent, systemId, machine and state; every state an actor passed through, with the event that led there', () => {
    const { feed } = manualFeed();
    const root = runBoss(feed);
    root.send({ type: 'START' });
    root.send({ type: 'TO_CHILD', event: { type: 'PHASE', phase: 'mark', secret: SECRET } });
    root.send({ type: 'TO_CHILD', event: { type: 'PHASE', phase: 'sweep', secret: SECRET } });
    root.send({ type: 'TO_CHILD', event: { type: 'FINISH' } });
    const snap = feed.snapshot();
    const boss = snap.actors.find((a) => a.systemId === 'root')!;
    const job = snap.actors.find((a) => a.systemId === 'job:1')!;
    assert.equal(boss.machine, 'boss');
    assert.equal(boss.state, 'idle'); // back to idle after the job finished
    assert.equal(job.parent, boss.id);
    assert.equal(job.name, 'job-1');
    assert.equal(job.src, 'job');
    assert.equal(job.machine, 'job');
    assert.equal(job.status, 'done');
    assert.equal(job.state, 'done');
    assert.deepEqual(snap.states.filter((s) => s.actor === job.id).map((s) => [s.state, s.event]), [
      ['running.marking', 'xstate.init'],
      ['running.sweeping', 'PHASE'],
      ['finishing', 'FINISH'], // an eventless step is still recorded
      ['done', 'FINISH'],
    ]);
    const jobEvents = snap.events.filter((e) => e.actor === job.id);
    // Two PHASE reports in a row from one sender are one entry with a count.
    assert.deepEqual(jobEvents.map((e) => [e.type, e.count ?? 1]), [['xstate.init', 1], ['PHASE', 2], ['FINISH', 1]]);
    assert.equal(jobEvents[1]!.source, boss.id, 'sendTo events name their sender');
    assert.ok(snap.events.some((e) => e.actor === boss.id && e.type === 'xstate.done.actor.job-1' && e.source === job.id));
    const seqs = snap.events.map((e) => e.seq);
    assert.equal(new Set(seqs).size, seqs.length);
    root.stop();
  });

  test('statecharts are sent once per machine: state ids, transitions with event types, targets and named guards', () => {
    const { feed, deltas } = manualFeed();
    const root = runBoss(feed);
    root.send({ type: 'START' });
    feed.flush();
    root.send({ type: 'START' }); // ignored in busy: nothing new about machines
    feed.flush();
    const job = deltas[0]!.machines.job!;
    assert.equal(job.root.id, 'job');
    assert.deepEqual(job.root.initial, ['job.running']);
    const running = job.root.states.find((s) => s.key === 'running')!;
    assert.equal(running.type, 'compound');
    assert.deepEqual(running.on, [{ event: 'FINISH', targets: ['job.finishing'] }]);
    const marking = running.states.find((s) => s.key === 'marking')!;
    assert.deepEqual(marking.on, [{ event: 'PHASE', targets: ['job.running.sweeping'], guard: 'isSweep' }]);
    assert.deepEqual(job.root.states.find((s) => s.key === 'finishing')!.on, [{ event: '', targets: ['job.done'] }]);
    assert.equal(job.root.states.find((s) => s.key === 'done')!.type, 'final');
    const busy = deltas[0]!.machines.boss!.root.states.find((s) => s.key === 'busy')!;
    assert.deepEqual(busy.invoke, ['job']);
    assert.deepEqual(Object.keys(deltas[1]?.machines ?? {}), []);
    root.stop();
  });

  test('never carries context, event payloads, action params, outputs or error messages', () => {
    const { feed, deltas } = manualFeed();
    const leaky = setup({
      types: { context: {} as { token: string }, events: {} as { type: 'SET'; token: string } | { type: 'FAIL' } },
      actions: { remember: (_, _p: { token: string }) => {} },
      actors: {
        fails: fromPromise(async () => {
          throw bulwarkError('BULWARK_IO', `/secret/${SECRET}`, 'EIO');
        }),
      },
    }).createMachine({
      id: 'leaky',
      context: { token: SECRET },
      initial: 'a',
      output: () => ({ token: SECRET }),
      states: {
        a: {
          on: { SET: { actions: [assign({ token: ({ event }) => event.token }), { type: 'remember', params: ({ event }) => ({ token: event.token }) }] }, FAIL: 'b' },
        },
        b: { invoke: { src: 'fails', onError: 'c' } },
        c: { type: 'final' },
      },
    });
    const actor = createActor(leaky, { inspect: feed.inspect });
    actor.start();
    actor.send({ type: 'SET', token: SECRET });
    actor.send({ type: 'FAIL' });
    return new Promise<void>((resolve) => {
      actor.subscribe({
        complete: () => {
          feed.flush();
          const all = JSON.stringify([feed.snapshot(), ...deltas]);
          assert.ok(!all.includes(SECRET), 'a secret reached the feed');
          const failed = feed.snapshot().actors.find((a) => a.src === 'fails')!;
          assert.equal(failed.status, 'error');
          assert.equal(failed.errorCode, 'BULWARK_IO');
          resolve();
        },
      });
    });
  });

  test('a machine whose transition throws shows as error through its parent hearing of it', () => {
    const { feed } = manualFeed();
    const boom = createMachine({ id: 'boom', on: { GO: { actions: () => { throw bulwarkError('BULWARK_INTERNAL', 'bang'); } } } });
    const host = setup({ actors: { boom } }).createMachine({
      id: 'host',
      invoke: { id: 'b', src: 'boom' },
      on: { KICK: { actions: sendTo('b', { type: 'GO' }) }, 'xstate.error.actor.b': {} },
    });
    const root = createActor(host, { inspect: feed.inspect });
    root.start();
    root.send({ type: 'KICK' });
    const b = feed.snapshot().actors.find((a) => a.name === 'b')!;
    assert.equal(b.status, 'error');
    assert.equal(b.errorCode, 'BULWARK_INTERNAL');
    root.stop();
  });

  test('rings are bounded, finished actors are kept up to a limit, and late events do not bring an evicted actor back', () => {
    const { feed, deltas } = manualFeed({ maxEventsPerActor: 5, maxStatesPerActor: 3, maxFinishedActors: 1 });
    const pinger = createMachine({ id: 'pinger', initial: 'a', states: { a: { on: { P: 'b', Q: 'b' } }, b: { on: { P: 'a', Q: 'a' } } } });
    const actor = createActor(pinger, { inspect: feed.inspect });
    actor.start();
    for (let i = 0; i < 50; i++) actor.send({ type: i % 2 ? 'Q' : 'P' });
    let snap = feed.snapshot();
    assert.equal(snap.events.length, 5);
    assert.equal(snap.states.length, 3);
    assert.deepEqual(snap.events.map((e) => e.type), ['Q', 'P', 'Q', 'P', 'Q']);
    // A run of one event type is one entry however long it gets.
    for (let i = 0; i < 1000; i++) actor.send({ type: 'P' });
    snap = feed.snapshot();
    assert.equal(snap.events.length, 5);
    assert.deepEqual([snap.events.at(-1)!.type, snap.events.at(-1)!.count], ['P', 1000]);
    assert.deepEqual(snap.events.slice(0, 4).map((e) => e.type), ['P', 'Q', 'P', 'Q']);

    const quick = createMachine({ id: 'quick', initial: 'x', states: { x: { on: { END: 'y' } }, y: { type: 'final' } } });
    const first = createActor(quick, { inspect: feed.inspect }).start();
    first.send({ type: 'END' });
    const second = createActor(quick, { inspect: feed.inspect }).start();
    feed.flush();
    second.send({ type: 'END' }); // second finishes: first (the oldest finished) goes
    feed.flush();
    snap = feed.snapshot();
    assert.ok(!snap.actors.some((a) => a.id === first.sessionId));
    assert.equal(snap.actors.find((a) => a.id === second.sessionId)!.status, 'done');
    assert.deepEqual(deltas.at(-1)!.removed, [first.sessionId]);
    first.send({ type: 'END' }); // relayed to a stopped actor: inspected, but not a new actor
    assert.ok(!feed.snapshot().actors.some((a) => a.id === first.sessionId));
    actor.stop();
  });

  test('deltas carry only what changed since the last flush; a snapshot taken after a flush plus later deltas rebuilds the model', () => {
    const { feed, deltas, tick } = manualFeed();
    const root = runBoss(feed);
    feed.flush();
    const base = feed.snapshot();
    tick();
    root.send({ type: 'START' });
    root.send({ type: 'TO_CHILD', event: { type: 'PHASE', phase: 'sweep', secret: SECRET } });
    feed.flush();
    const d = deltas.at(-1)!;
    assert.equal(d.type, 'delta');
    assert.ok(d.events.every((e) => e.seq > base.seq));
    assert.ok(d.seq > base.seq);
    assert.deepEqual(d.states.map((s) => s.state), ['busy', 'running.marking', 'running.sweeping']);
    // Replaying base + delta gives the same model as a fresh snapshot.
    const byId = new Map(base.actors.map((a) => [a.id, a]));
    for (const a of d.actors) byId.set(a.id, a);
    const fresh = feed.snapshot();
    assert.deepEqual([...byId.values()].sort((x, y) => x.id.localeCompare(y.id)), [...fresh.actors].sort((x, y) => x.id.localeCompare(y.id)));
    assert.deepEqual([...base.events, ...d.events].map((e) => e.seq), fresh.events.map((e) => e.seq).sort((x, y) => x - y));
    feed.flush();
    assert.equal(deltas.at(-1), d, 'nothing changed: no empty delta');
    root.stop();
  });

  test('the timer schedule batches changes into one flush; no listener, no pending work', () => {
    let pending: (() => void) | undefined;
    let calls = 0;
    const feed = new InspectFeed({ schedule: (f) => { calls++; pending = f; } });
    const machine = createMachine({ id: 'm', initial: 'a', states: { a: { on: { N: 'b' } }, b: {} } });
    const actor = createActor(machine, { inspect: feed.inspect }).start();
    assert.equal(calls, 0, 'nobody listens: nothing scheduled');
    const got: FeedMessage[] = [];
    feed.subscribe((m) => got.push(m));
    actor.send({ type: 'N' });
    actor.send({ type: 'N' });
    assert.equal(calls, 1);
    pending!();
    assert.equal(got.length, 1);
    assert.deepEqual(got[0]!.states.map((s) => s.state), ['b']);
    actor.stop();
  });

  test('two different charts with one machine id get distinct keys; the same chart provided twice shares one', () => {
    const { feed } = manualFeed();
    const a = createMachine({ id: 'same', initial: 'x', states: { x: {} } });
    const b = createMachine({ id: 'same', initial: 'y', states: { y: {} } });
    const a2 = a.provide({});
    const refs: AnyActorRef[] = [a, b, a2].map((m) => createActor(m, { inspect: feed.inspect }).start());
    const keys = refs.map((r) => feed.snapshot().actors.find((x) => x.id === r.sessionId)!.machine);
    assert.deepEqual(keys, ['same', 'same~2', 'same']);
    assert.deepEqual(Object.keys(feed.snapshot().machines).sort(), ['same', 'same~2']);
  });

  test('a malformed inspection event is counted, never thrown into xstate', () => {
    const feed = new InspectFeed({ schedule: () => {} });
    assert.doesNotThrow(() => feed.inspect({ type: '@xstate.event', actorRef: undefined } as unknown as InspectionEvent));
    assert.equal(feed.faults, 1);
  });

  test('state values as text', () => {
    assert.equal(stateText('idle'), 'idle');
    assert.equal(stateText({ running: 'marking' }), 'running.marking');
    assert.equal(stateText({ p: { a: 'x', b: { c: 'd' } } }), 'p.a.x, p.b.c.d');
  });
});
