// The system view: the live supervisor tree (every actor, its machine and
// state) and, for the chosen actor, its statechart with the current state
// highlighted, the states it passed through and its recent events.

import { $, fill, formatClock, h } from './dom.js';
import { eventLabel, showDiagram } from './diagram.js';

const JOB_TYPES = { gc: 'garbage collection', prune: 'prune', verify: 'verify' };

export class SystemView {
  constructor(feed, { onOpenTaskLog }) {
    this.feed = feed;
    this.onOpenTaskLog = onOpenTaskLog;
    this.selectedId = null;
    this.pendingSystemId = null;
    this.frame = 0;
    feed.addEventListener('change', () => this.schedule());
    for (const id of ['job-type', 'job-state', 'hide-finished']) $(`#${id}`).addEventListener('change', () => this.render());
  }

  /** Selects the actor registered as `systemId` now, or as soon as it appears. */
  selectSystemId(systemId) {
    this.pendingSystemId = systemId;
    this.selectedId = null;
    this.render();
  }

  select(id) {
    this.pendingSystemId = null;
    this.selectedId = id;
    this.render();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  render() {
    if (this.pendingSystemId) {
      const a = this.feed.bySystemId(this.pendingSystemId);
      if (a) {
        this.selectedId = a.id;
        this.pendingSystemId = null;
      }
    }
    this.renderTree();
    this.renderPanel();
  }

  visible(a, jobsId) {
    const type = $('#job-type').value;
    const state = $('#job-state').value;
    if ($('#hide-finished').checked && a.status !== 'active' && a.parent !== jobsId) return false;
    if (a.parent !== jobsId) return true; // the filters apply to jobs; other actors always show
    if (type && a.machine?.split('~')[0] !== type) return false;
    if (state === 'running' && a.status !== 'active') return false;
    if (state === 'finished' && a.status === 'active') return false;
    if (state === 'failed' && a.status !== 'error') return false;
    return true;
  }

  renderTree() {
    const { feed } = this;
    const byParent = new Map();
    for (const a of feed.actors.values()) {
      const key = a.parent && feed.actors.has(a.parent) ? a.parent : null;
      if (!byParent.has(key)) byParent.set(key, []);
      byParent.get(key).push(a);
    }
    const jobsId = feed.bySystemId('jobs')?.id;
    const list = (parent) => {
      const kids = (byParent.get(parent) ?? []).filter((a) => this.visible(a, jobsId)).sort((x, y) => x.startedAt - y.startedAt || x.id.localeCompare(y.id, 'en', { numeric: true }));
      if (!kids.length) return null;
      return h('ul', {}, kids.map((a) => h('li', {}, this.row(a), list(a.id))));
    };
    fill($('#tree'), list(null) ?? h('p', { class: 'muted' }, feed.status === 'open' ? 'no actors' : 'connecting…'));
  }

  row(a) {
    const label = a.systemId ?? a.name;
    return h('button', {
      class: `actor status-${a.status}${a.id === this.selectedId ? ' selected' : ''}`,
      type: 'button',
      title: `${a.id}${a.src ? ` (${a.src})` : ''}`,
      dataset: { actorId: a.id, systemId: a.systemId ?? '', status: a.status },
      onclick: () => this.select(a.id),
    },
    h('span', { class: 'actor-name' }, label.length > 48 ? `${label.slice(0, 47)}…` : label),
    h('span', { class: 'actor-machine' }, a.machine ?? a.src ?? 'actor'),
    h('span', { class: 'actor-state' }, a.state ?? a.status),
    a.status !== 'active' ? h('span', { class: `badge ${a.status}` }, a.status) : null);
  }

  renderPanel() {
    const panel = $('#actor-panel');
    const a = this.selectedId ? this.feed.actors.get(this.selectedId) : null;
    if (!a) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    panel.dataset.actorId = a.id;
    panel.dataset.status = a.status;
    $('#actor-title').textContent = a.systemId ?? a.name;
    const upid = a.systemId?.startsWith('job:') ? a.systemId.slice(4) : null;
    const kind = a.machine?.split('~')[0];
    fill($('#actor-meta'),
      dl('machine', a.machine ?? '—'), dl('logic', a.src ?? '—'), dl('status', a.status), dl('state', a.state ?? '—', 'actor-state'),
      dl('started', formatClock(a.startedAt)), a.endedAt ? dl('ended', formatClock(a.endedAt)) : null,
      a.errorCode ? dl('error', a.errorCode) : null,
      upid && JOB_TYPES[kind] ? dl('job', JOB_TYPES[kind]) : null);
    const logButton = $('#open-task-log');
    logButton.hidden = !upid;
    logButton.onclick = () => upid && this.onOpenTaskLog(upid);

    const states = this.feed.states.get(a.id) ?? [];
    fill($('#state-history'), states.map((e) => h('li', { dataset: { state: e.state } },
      h('span', { class: 'when' }, formatClock(e.t)), h('span', { class: 'state-name' }, e.state), h('span', { class: 'via' }, eventLabel(e.event)))));
    const events = this.feed.events.get(a.id) ?? [];
    fill($('#event-list'), events.slice().reverse().map((e) => h('li', { dataset: { type: e.type } },
      h('span', { class: 'when' }, formatClock(e.t)), h('span', { class: 'event-type' }, e.type),
      e.count > 1 ? h('span', { class: 'count' }, `×${e.count}`) : null,
      e.source ? h('span', { class: 'via' }, `from ${this.nameOf(e.source)}`) : null)));

    const diagram = $('#diagram');
    const def = a.machine ? this.feed.machines[a.machine] : null;
    if (def) {
      void showDiagram(diagram, a.machine, def, a.value);
    } else {
      delete diagram.dataset.machine;
      fill(diagram, h('p', { class: 'muted' }, 'not a state machine: no statechart'));
    }
  }

  nameOf(id) {
    const a = this.feed.actors.get(id);
    return a ? (a.systemId ?? a.name) : id;
  }
}

function dl(term, value, id) {
  return [h('dt', {}, term), h('dd', id ? { id } : {}, value)];
}
