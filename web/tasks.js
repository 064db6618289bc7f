// Tasks: the list (filtered by type and state, PBS's typefilter and
// statusfilter) and a task's log, followed while the task runs.

import { get } from './api.js';
import { $, fill, formatTime, h } from './dom.js';

export class TasksView {
  constructor() {
    this.logUpid = null;
    this.logTimer = null;
    for (const id of ['task-type', 'task-status']) $(`#${id}`).addEventListener('change', () => void this.load());
    $('#task-refresh').addEventListener('click', () => void this.load());
  }

  async load() {
    const params = { limit: 100, typefilter: $('#task-type').value, statusfilter: $('#task-status').value };
    let tasks;
    try {
      tasks = await get('/nodes/localhost/tasks', params);
    } catch (err) {
      fill($('#task-table tbody'), h('tr', {}, h('td', { colspan: 6 }, err.message)));
      return;
    }
    fill($('#task-table tbody'), tasks.length ? tasks.map((t) => h('tr', { dataset: { upid: t.upid, status: t.status ?? 'running' } },
      h('td', {}, formatTime(t.starttime)),
      h('td', {}, t.worker_type),
      h('td', {}, t.worker_id ?? ''),
      h('td', {}, t.user),
      h('td', { class: `task-status ${statusClass(t.status)}` }, t.status ?? 'running'),
      h('td', {}, h('button', { type: 'button', class: 'show-log', onclick: () => void this.openLog(t.upid) }, 'Log')))) : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'no tasks')));
  }

  async openLog(upid) {
    clearTimeout(this.logTimer);
    this.logUpid = upid;
    $('#task-log-panel').hidden = false;
    $('#task-log-title').textContent = upid;
    fill($('#task-log'), 'loading…');
    await this.pollLog(upid);
  }

  async pollLog(upid) {
    if (this.logUpid !== upid) return;
    try {
      const reply = await get(`/nodes/localhost/tasks/${encodeURIComponent(upid)}/log`, { start: 0, limit: 5000 });
      if (this.logUpid !== upid) return;
      const pre = $('#task-log');
      const following = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4; // keep following the end unless scrolled up
      fill(pre, reply.map((l) => `${l.t}\n`).join(''));
      if (following) pre.scrollTop = pre.scrollHeight;
      const status = await get(`/nodes/localhost/tasks/${encodeURIComponent(upid)}/status`);
      $('#task-log-panel').dataset.status = status.status;
      if (status.status === 'running') this.logTimer = setTimeout(() => void this.pollLog(upid), 1000);
      else void this.load();
    } catch (err) {
      fill($('#task-log'), `cannot read the log: ${err.message}`);
    }
  }
}

function statusClass(status) {
  if (!status) return 'running';
  if (status === 'OK') return 'ok';
  if (status.startsWith('WARNINGS')) return 'warning';
  return 'error';
}
