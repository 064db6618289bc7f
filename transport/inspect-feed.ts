/**
 * The one reader of XState's inspection events (STYLE point 3): the root
 * supervisor is created with `inspect: feed.inspect`, and every actor of the
 * system reports through it. The feed keeps a bounded model for the
 * visualiser: each actor (id, systemId, parent, machine, state value,
 * status), its recent events and the states it passed through (bounded
 * rings), plus each machine's statechart once. Listeners get that model as
 * a snapshot and then as batched deltas.
 *
 * What leaves the model is names only: state values, event types, actor and
 * machine ids. Never a context, an event's payload, an action's params, an
 * output or an error message (any may hold paths, credentials or data); an
 * error shows as its BULWARK_ code when it has one.
 *
 * The observer runs inside every transition of every actor, so it does
 * constant work, never throws into xstate (a fault here must not break the
 * system it watches), and batches deltas: changes are flushed on a timer
 * (or by hand in tests), once per batch rather than once per event.
 */
import { StateMachine, type AnyStateMachine, type InspectionEvent, type StateValue } from 'xstate';
import { machineDefinition, stateText, type MachineDef } from './statechart.ts';

export type ActorStatus = 'active' | 'done' | 'error' | 'stopped';

export interface ActorInfo {
  /** Unique within the system (xstate's session id, `x:12`). */
  readonly id: string;
  /** The id it has in its parent (`datastore:store1`, `0.gc.running`). */
  readonly name: string;
  systemId?: string;
  readonly parent?: string;
  /** Key into the machines map, for actors running a state machine. */
  readonly machine?: string;
  /** The logic's name when it was spawned or invoked by name (`work`, `gc`). */
  readonly src?: string;
  status: ActorStatus;
  value?: StateValue;
  /** `value` as text, `running.marking`. */
  state?: string;
  errorCode?: string;
  readonly startedAt: number;
  endedAt?: number;
}

export interface EventEntry {
  readonly seq: number;
  readonly actor: string;
  readonly t: number;
  readonly type: string;
  /** The sending actor's id, when an actor sent it. */
  readonly source?: string;
  /** A run of this many events of one type from one sender, kept as one entry (progress reports come by the thousand). */
  readonly count?: number;
}

export interface StateEntry {
  readonly seq: number;
  readonly actor: string;
  readonly t: number;
  readonly state: string;
  /** The event type that led here (`xstate.init` for the first state). */
  readonly event: string;
}

/** What listeners get: a snapshot first, then deltas; entries at or below a snapshot's `seq` are already in it. */
export interface FeedMessage {
  readonly type: 'snapshot' | 'delta';
  readonly seq: number;
  readonly actors: readonly ActorInfo[];
  readonly removed: readonly string[];
  readonly events: readonly EventEntry[];
  readonly states: readonly StateEntry[];
  readonly machines: Readonly<Record<string, MachineDef>>;
}

export interface InspectFeedOptions {
  readonly now?: () => number;
  readonly maxEventsPerActor?: number;
  readonly maxStatesPerActor?: number;
  /** Finished actors kept so a page can still show how a job ended; the oldest go first. */
  readonly maxFinishedActors?: number;
  /** Arranges one later `flush()` after a change; default a 100 ms timer. Tests pass a no-op and flush by hand. */
  readonly schedule?: (flush: () => void) => void;
}

/** The actor fields read here; `_parent` is xstate's own (typed on ActorRef), `logic`/`src` are public on Actor. */
interface RefLike {
  readonly sessionId: string;
  readonly id: string;
  readonly systemId?: string;
  readonly _parent?: RefLike;
  readonly src?: unknown;
  readonly logic?: unknown;
}

interface ActorRecord {
  readonly info: ActorInfo;
  readonly events: EventEntry[];
  readonly states: StateEntry[];
}

const MAX_TYPE = 120;
const BULWARK_CODE = /^BULWARK_[A-Z0-9_]+$/;
const defaultSchedule = (flush: () => void): void => void setTimeout(flush, 100).unref();

function pushBounded<T>(ring: T[], entry: T, max: number): void {
  ring.push(entry);
  if (ring.length > max) ring.shift();
}

const clipType = (type: unknown): string => {
  const s = typeof type === 'string' ? type : '(untyped)';
  return s.length > MAX_TYPE ? `${s.slice(0, MAX_TYPE)}…` : s;
};

function errorCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && BULWARK_CODE.test(code) ? code : undefined;
}

export class InspectFeed {
  private readonly now: () => number;
  private readonly maxEvents: number;
  private readonly maxStates: number;
  private readonly maxFinished: number;
  private readonly schedule: (flush: () => void) => void;
  private readonly actors = new Map<string, ActorRecord>();
  private readonly finished: string[] = [];
  /** Refs that finished: late events relayed to them must not bring them back. */
  private readonly gone = new WeakSet<object>();
  private readonly machineKeys = new WeakMap<object, string>();
  private readonly machines = new Map<string, { def: MachineDef; json: string }>();
  private readonly listeners = new Set<(msg: FeedMessage) => void>();
  // Pending delta (tracked only while someone listens).
  private readonly dirty = new Set<ActorRecord>();
  private removed: string[] = [];
  private newMachines: string[] = [];
  private seq = 0;
  private flushedSeq = 0;
  private scheduled = false;
  /** Inspection events the model could not take (a bug here, counted rather than thrown into xstate). */
  faults = 0;

  constructor(options: InspectFeedOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxEvents = options.maxEventsPerActor ?? 40;
    this.maxStates = options.maxStatesPerActor ?? 40;
    this.maxFinished = options.maxFinishedActors ?? 100;
    this.schedule = options.schedule ?? defaultSchedule;
  }

  /** The `inspect` option of the root actor. */
  readonly inspect = (event: InspectionEvent): void => {
    try {
      this.record(event);
    } catch {
      this.faults++;
    }
  };

  /** Changes are batched for `listener` until the next flush; returns the unsubscribe function. */
  subscribe(listener: (msg: FeedMessage) => void): () => void {
    if (this.listeners.size === 0) this.clearPending();
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The whole model. Take it after `flush()` so no delta a listener already got is older than it. */
  snapshot(): FeedMessage {
    const records = [...this.actors.values()];
    return {
      type: 'snapshot',
      seq: this.seq,
      actors: records.map((r) => ({ ...r.info })),
      removed: [],
      events: records.flatMap((r) => r.events),
      states: records.flatMap((r) => r.states),
      machines: Object.fromEntries([...this.machines].map(([k, m]) => [k, m.def])),
    };
  }

  /** Sends the pending delta to every listener now. */
  flush(): void {
    if (this.listeners.size === 0 || (this.dirty.size === 0 && this.removed.length === 0 && this.newMachines.length === 0)) {
      this.clearPending();
      return;
    }
    const since = this.flushedSeq;
    const records = [...this.dirty];
    const msg: FeedMessage = {
      type: 'delta',
      seq: this.seq,
      actors: records.map((r) => ({ ...r.info })),
      removed: this.removed,
      events: records.flatMap((r) => r.events.filter((e) => e.seq > since)).sort((a, b) => a.seq - b.seq),
      states: records.flatMap((r) => r.states.filter((e) => e.seq > since)).sort((a, b) => a.seq - b.seq),
      machines: Object.fromEntries(this.newMachines.map((k) => [k, this.machines.get(k)!.def])),
    };
    this.clearPending();
    for (const listener of this.listeners) {
      try {
        listener(msg);
      } catch {
        this.faults++;
      }
    }
  }

  private clearPending(): void {
    this.dirty.clear();
    this.removed = [];
    this.newMachines = [];
    this.flushedSeq = this.seq;
  }

  private changed(record: ActorRecord): void {
    if (this.listeners.size === 0) return;
    this.dirty.add(record);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  private record(ev: InspectionEvent): void {
    switch (ev.type) {
      case '@xstate.actor':
        this.ensure(ev.actorRef as unknown as RefLike);
        return;
      case '@xstate.event': {
        const target = this.ensure(ev.actorRef as unknown as RefLike);
        const source = ev.sourceRef as unknown as RefLike | undefined;
        const type = clipType(ev.event.type);
        if (target) {
          this.pushEvent(target, type, source?.sessionId);
          this.changed(target);
        }
        // A machine whose transition threw reports no snapshot; its parent hears of it through this event.
        if (source && type.startsWith('xstate.error.actor.')) {
          const failed = this.actors.get(source.sessionId);
          if (failed && failed.info.status === 'active') this.end(failed, source, 'error', (ev.event as { error?: unknown }).error);
        }
        return;
      }
      case '@xstate.microstep':
      case '@xstate.snapshot': {
        const ref = ev.actorRef as unknown as RefLike;
        const record = this.ensure(ref);
        if (record) this.observe(record, ref, ev.snapshot, clipType(ev.event.type));
        return;
      }
      default:
        // Actions (and their params) are not part of the feed.
    }
  }

  /** Appends an event; a repeat of the last one (type and sender) replaces it with a higher count and a new seq. */
  private pushEvent(record: ActorRecord, type: string, source: string | undefined): void {
    const last = record.events.at(-1);
    const repeat = last !== undefined && last.type === type && last.source === source;
    if (repeat) record.events.pop();
    const count = repeat ? (last.count ?? 1) + 1 : 1;
    pushBounded(record.events, { seq: ++this.seq, actor: record.info.id, t: this.now(), type, ...(source !== undefined && { source }), ...(count > 1 && { count }) }, this.maxEvents);
  }

  private ensure(ref: RefLike): ActorRecord | undefined {
    const known = this.actors.get(ref.sessionId);
    if (known) {
      // systemId is registered just after the actor announces itself.
      if (known.info.systemId === undefined && typeof ref.systemId === 'string') {
        known.info.systemId = ref.systemId;
        this.changed(known);
      }
      return known;
    }
    if (this.gone.has(ref)) return undefined;
    const machine = ref.logic instanceof StateMachine ? this.machineKey(ref.logic as AnyStateMachine) : undefined;
    const info: ActorInfo = {
      id: ref.sessionId,
      name: ref.id,
      ...(typeof ref.systemId === 'string' && { systemId: ref.systemId }),
      ...(ref._parent && { parent: ref._parent.sessionId }),
      ...(machine !== undefined && { machine }),
      ...(typeof ref.src === 'string' && { src: ref.src }),
      status: 'active',
      startedAt: this.now(),
    };
    const record: ActorRecord = { info, events: [], states: [] };
    this.actors.set(info.id, record);
    this.changed(record);
    return record;
  }

  private observe(record: ActorRecord, ref: RefLike, snapshot: unknown, eventType: string): void {
    const snap = snapshot as { status?: ActorStatus; value?: StateValue; error?: unknown } | undefined;
    if (!snap) return;
    const { info } = record;
    if (snap.value !== undefined) {
      const text = stateText(snap.value);
      if (text !== info.state) {
        info.value = snap.value;
        info.state = text;
        pushBounded(record.states, { seq: ++this.seq, actor: info.id, t: this.now(), state: text, event: eventType }, this.maxStates);
        this.changed(record);
      }
    }
    if (snap.status && snap.status !== 'active' && info.status === 'active') this.end(record, ref, snap.status, snap.error);
  }

  private end(record: ActorRecord, ref: RefLike, status: ActorStatus, error: unknown): void {
    const { info } = record;
    info.status = status;
    info.endedAt = this.now();
    const code = status === 'error' ? errorCodeOf(error) : undefined;
    if (code) info.errorCode = code;
    this.gone.add(ref);
    this.changed(record);
    this.finished.push(info.id);
    while (this.finished.length > this.maxFinished) this.evict(this.finished.shift()!);
  }

  private evict(id: string): void {
    const record = this.actors.get(id);
    if (!record) return;
    this.actors.delete(id);
    this.dirty.delete(record);
    if (this.listeners.size > 0) this.removed.push(id);
  }

  /** One key per distinct statechart: the machine id, suffixed when two different charts share one. */
  private machineKey(logic: AnyStateMachine): string | undefined {
    const cached = this.machineKeys.get(logic);
    if (cached !== undefined) return cached;
    let def: MachineDef;
    try {
      def = machineDefinition(logic);
    } catch {
      this.faults++;
      return undefined;
    }
    const json = JSON.stringify(def);
    let key = logic.id;
    for (let n = 2; this.machines.has(key) && this.machines.get(key)!.json !== json; n++) key = `${logic.id}~${n}`;
    if (!this.machines.has(key)) {
      this.machines.set(key, { def, json });
      if (this.listeners.size > 0) this.newMachines.push(key);
    }
    this.machineKeys.set(logic, key);
    return key;
  }
}
