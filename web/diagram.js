// A statechart as an SVG diagram: the machine definition from the feed is
// laid out once per machine by elkjs (layered, nested states kept inside
// their parents, as Stately's tools do), then drawn; switching actors of the
// same machine or new states only moves the highlight.

import { s, fill } from './dom.js';

const CHAR_W = 7.2;
const layouts = new Map();
let elk;

/** Short, readable event names: `done: work`, `after 5000 ms`, `always`. */
export function eventLabel(type) {
  if (type === '') return 'always';
  let m;
  if ((m = /^xstate\.done\.actor\.(.*)$/.exec(type))) return `done: ${shortId(m[1])}`;
  if ((m = /^xstate\.error\.actor\.(.*)$/.exec(type))) return `error: ${shortId(m[1])}`;
  if ((m = /^xstate\.done\.state\.(.*)$/.exec(type))) return `done: ${shortId(m[1])}`;
  if ((m = /^xstate\.after\.(\d+)\./.exec(type))) return `after ${m[1]} ms`;
  return type;
}

function shortId(id) {
  // Invoke ids are `<index>.<state id>`: the state's last key says enough.
  const m = /^\d+\.(.*)$/.exec(id);
  const text = m ? m[1].split('.').pop() : id;
  return text.length > 24 ? `${text.slice(0, 23)}…` : text;
}

/** Ids of the state nodes active in `value`, and of the leaves among them. */
export function activeStates(def, value) {
  const active = new Set([def.root.id]);
  const leaves = new Set();
  const walk = (node, v) => {
    if (v === undefined || v === null) return;
    const entries = typeof v === 'string' ? [[v, undefined]] : Object.entries(v);
    for (const [key, sub] of entries) {
      const child = node.states.find((c) => c.key === key);
      if (!child) continue;
      active.add(child.id);
      if (child.states.length === 0 || sub === undefined) leaves.add(child.id);
      else walk(child, sub);
    }
  };
  walk(def.root, value);
  return { active, leaves };
}

function graphOf(def) {
  const edges = [];
  const info = new Map();
  const node = (n) => {
    const invoke = n.invoke.length ? `invoke: ${n.invoke.join(', ')}` : '';
    const labelW = Math.max(n.key.length, invoke.length * 0.85) * CHAR_W + 28;
    info.set(n.id, { def: n, invoke });
    const el = { id: n.id, labels: [{ text: n.key, width: n.key.length * CHAR_W, height: 16 }] };
    if (n.states.length) {
      el.layoutOptions = { 'elk.padding': `[top=${invoke ? 46 : 32},left=14,bottom=14,right=14]` };
      el.children = n.states.map(node);
      if (n.initial) {
        const dot = `${n.id}::initial`;
        el.children.unshift({ id: dot, width: 10, height: 10 });
        info.set(dot, { initialDot: true });
        n.initial.forEach((target, j) => edges.push({ id: `${dot}->${j}`, sources: [dot], targets: [target], initial: true }));
      }
    } else {
      el.width = Math.max(96, labelW);
      el.height = invoke ? 50 : 36;
    }
    n.on.forEach((t, i) => t.targets.forEach((target, j) => {
      const text = `${eventLabel(t.event)}${t.guard ? ` [${t.guard}]` : ''}`;
      edges.push({ id: `${n.id}#${i}#${j}`, sources: [n.id], targets: [target], labels: [{ text, width: text.length * CHAR_W * 0.85, height: 14 }] });
    }));
    return el;
  };
  const graph = {
    id: '::graph',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.spacing.nodeNode': '28',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36',
      'elk.spacing.edgeLabel': '4',
      'elk.edgeLabels.inline': 'false',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
    },
    children: [node(def.root)],
    edges,
  };
  return { graph, info };
}

async function layout(key, def) {
  if (!layouts.has(key)) {
    elk ??= new window.ELK();
    const { graph, info } = graphOf(def);
    layouts.set(key, elk.layout(graph).then((out) => ({ out, info })));
  }
  return layouts.get(key);
}

function drawNode(n, info, parts) {
  const meta = info.get(n.id);
  if (meta?.initialDot) {
    parts.nodes.push(s('circle', { class: 'initial-dot', cx: n.x + 5, cy: n.y + 5, r: 5 }));
    return;
  }
  const def = meta.def;
  const cls = ['state', def.type, def.states.length ? 'compound' : 'leaf'].join(' ');
  const g = s('g', { class: cls, 'data-state-id': n.id });
  g.append(s('rect', { x: n.x, y: n.y, width: n.width, height: n.height, rx: 8, ry: 8 }));
  if (def.type === 'final') g.append(s('rect', { class: 'final-inner', x: n.x + 3, y: n.y + 3, width: n.width - 6, height: n.height - 6, rx: 6, ry: 6 }));
  g.append(s('text', { class: 'state-label', x: n.x + 12, y: n.y + 21 }, def.key));
  if (meta.invoke) g.append(s('text', { class: 'invoke-label', x: n.x + 12, y: n.y + 37 }, meta.invoke));
  if (def.tags.length) g.append(s('title', {}, `tags: ${def.tags.join(', ')}`));
  parts.nodes.push(g);
  for (const c of n.children ?? []) drawNode(c, info, parts);
}

function drawEdge(e, parts) {
  for (const sec of e.sections ?? []) {
    const pts = [sec.startPoint, ...(sec.bendPoints ?? []), sec.endPoint];
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    parts.edges.push(s('path', { class: e.initial ? 'edge initial' : 'edge', d, 'marker-end': 'url(#arrow)', 'data-edge-source': e.sources[0], 'data-edge-target': e.targets[0] }));
  }
  for (const l of e.labels ?? []) parts.edges.push(s('text', { class: 'edge-label', x: l.x, y: l.y + l.height - 3 }, l.text));
}

/**
 * Draws `def` (machine key `key`) into `container` unless it shows that
 * machine already, then highlights `value`. Resolves when drawn.
 */
export async function showDiagram(container, key, def, value) {
  container._value = value; // the latest one wins, even while a layout is still running
  if (container.dataset.machine !== key) {
    container.dataset.machine = key;
    const token = (container._drawToken = {});
    fill(container, 'laying out…');
    const { out, info } = await layout(key, def);
    if (container._drawToken !== token) return; // another machine was chosen meanwhile
    const parts = { nodes: [], edges: [] };
    for (const n of out.children) drawNode(n, info, parts);
    for (const e of out.edges) drawEdge(e, parts);
    const svg = s('svg', { class: 'statechart', width: out.width, height: out.height, viewBox: `0 0 ${out.width} ${out.height}`, role: 'img', 'aria-label': `statechart of ${def.id}` },
      s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head' }))),
      s('g', { class: 'nodes' }, parts.nodes),
      s('g', { class: 'edges' }, parts.edges));
    fill(container, svg);
    container._def = def;
  }
  highlight(container, container._value);
}

export function highlight(container, value) {
  const def = container._def;
  if (!def) return;
  const { active, leaves } = activeStates(def, value);
  for (const g of container.querySelectorAll('g.state')) {
    const id = g.getAttribute('data-state-id');
    g.classList.toggle('active', active.has(id));
    g.classList.toggle('current', leaves.has(id));
  }
}
