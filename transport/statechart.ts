/**
 * A machine's statechart as plain data for the visualiser: state nodes
 * (id, key, type, initial target, children), their transitions (event type,
 * target ids, a guard's name when it has one) and invoked actors' sources.
 * Built from the state node objects rather than `machine.definition`,
 * whose actions carry params and whose meta, output and guards may hold
 * functions or data; only names and ids leave the server.
 */
import type { AnyStateMachine, StateValue } from 'xstate';

export interface TransitionDef {
  /** Event descriptor: `PHASE`, `xstate.done.actor.work`, `xstate.after.…`, `*`; '' for an eventless (`always`) one. */
  readonly event: string;
  /** State node ids; empty for a targetless transition (actions only). */
  readonly targets: readonly string[];
  /** The guard's name when it is a named guard; inline guards show as `guarded`. */
  readonly guard?: string;
}

export interface StateNodeDef {
  readonly id: string;
  readonly key: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Ids of the initial child state(s) of a compound node. */
  readonly initial?: readonly string[];
  readonly states: readonly StateNodeDef[];
  readonly on: readonly TransitionDef[];
  /** Sources of the actors this state invokes (`work`, `ticker`). */
  readonly invoke: readonly string[];
  readonly tags: readonly string[];
}

export interface MachineDef {
  readonly id: string;
  readonly root: StateNodeDef;
}

/** The parts of xstate's StateNode read here (its public fields). */
interface NodeLike {
  readonly id: string;
  readonly key: string;
  readonly type: StateNodeDef['type'];
  readonly states: Readonly<Record<string, NodeLike>>;
  readonly transitions: ReadonlyMap<string, readonly TransitionLike[]>;
  readonly always?: readonly TransitionLike[];
  readonly initial?: { readonly target: readonly NodeLike[] } | undefined;
  readonly invoke: readonly { readonly src: unknown }[];
  readonly tags: readonly string[];
}
interface TransitionLike {
  readonly eventType: string;
  readonly target?: readonly NodeLike[] | undefined;
  readonly guard?: unknown;
}

const MAX_NAME = 120;
const clip = (s: string): string => (s.length > MAX_NAME ? `${s.slice(0, MAX_NAME)}…` : s);

function guardName(guard: unknown): string | undefined {
  if (guard === undefined) return undefined;
  if (typeof guard === 'string') return clip(guard);
  const type = (guard as { type?: unknown }).type;
  // Inline functions and composite guards have no name worth showing; say only that there is one.
  return typeof type === 'string' && !type.startsWith('xstate.') ? clip(type) : 'guarded';
}

function transition(t: TransitionLike): TransitionDef {
  const guard = guardName(t.guard);
  return { event: clip(t.eventType), targets: (t.target ?? []).map((n) => n.id), ...(guard && { guard }) };
}

function node(n: NodeLike): StateNodeDef {
  const on = [...n.transitions.values()].flat().map(transition);
  for (const t of n.always ?? []) on.push(transition(t));
  return {
    id: n.id,
    key: n.key,
    type: n.type,
    ...(n.type === 'compound' && n.initial && { initial: n.initial.target.map((t) => t.id) }),
    states: Object.values(n.states).map(node),
    on,
    invoke: n.invoke.map((i) => (typeof i.src === 'string' ? clip(i.src) : 'inline')),
    tags: n.tags.map(clip),
  };
}

export function machineDefinition(machine: AnyStateMachine): MachineDef {
  return { id: machine.id, root: node(machine.root as unknown as NodeLike) };
}

/** A state value as text: `running.marking`; parallel regions joined by `, `. */
export function stateText(value: StateValue): string {
  if (typeof value === 'string') return value;
  const parts: string[] = [];
  for (const [key, sub] of Object.entries(value)) {
    if (sub === undefined) continue;
    const inner = stateText(sub);
    parts.push(inner === '' ? key : inner.split(', ').map((s) => `${key}.${s}`).join(', '));
  }
  return parts.join(', ');
}
