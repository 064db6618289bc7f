// The datastore admin view: per store its usage, deduplication factor, last
// GC and last verify, its snapshots by group (verify state, protected flag),
// and buttons that start GC, verify and prune after a confirmation. Every
// call goes through /api2/json with the user's own rights: what they may
// not see shows as "—", what they may not do fails with the server's reason.

import { ApiError, get, post } from './api.js';
import { $, fill, formatBytes, formatTime, h } from './dom.js';

export class DatastoresView {
  constructor({ confirm, notify, onTaskStarted }) {
    this.confirm = confirm;
    this.notify = notify;
    this.onTaskStarted = onTaskStarted;
    $('#store-refresh').addEventListener('click', () => void this.load());
  }

  async load() {
    let stores;
    try {
      stores = await get('/admin/datastore');
    } catch (err) {
      fill($('#store-table tbody'), h('tr', {}, h('td', { colspan: 6 }, err.message)));
      return;
    }
    const [rows, snapshots] = await Promise.all([
      Promise.all(stores.map((s) => this.storeRow(s))),
      Promise.all(stores.map((s) => this.snapshots(s.store))),
    ]);
    // Both at once, so the table and the snapshot list never show two different moments.
    fill($('#store-table tbody'), rows.length ? rows : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'no datastores you can see')));
    fill($('#snapshots'), snapshots);
  }

  async storeRow(store) {
    const name = store.store;
    const enc = encodeURIComponent(name);
    const [status, gc, verify] = await Promise.all([
      maybe(get(`/admin/datastore/${enc}/status`)),
      maybe(get(`/admin/datastore/${enc}/gc`)),
      maybe(get('/nodes/localhost/tasks', { typefilter: 'verif', limit: 20 })),
    ]);
    const lastVerify = verify?.find((t) => t.worker_id === name || t.worker_id?.startsWith(`${name}:`));
    const usage = status ? `${formatBytes(status.used)} of ${formatBytes(status.total)} (${((status.used / status.total) * 100).toFixed(1)} %)` : '—';
    return h('tr', { dataset: { store: name } },
      h('td', { class: 'store-name' }, name, store.maintenance ? h('span', { class: 'badge' }, store.maintenance) : null),
      h('td', { class: 'usage' }, usage),
      h('td', { class: 'dedup' }, dedup(gc)),
      h('td', { class: 'last-gc' }, lastGc(gc)),
      h('td', { class: 'last-verify' }, lastVerify ? `${lastVerify.status ?? 'running'}, ${formatTime(lastVerify.endtime ?? lastVerify.starttime)}` : '—'),
      h('td', { class: 'actions' },
        h('button', { type: 'button', class: 'start-gc', onclick: () => this.startGc(name) }, 'Start GC'),
        h('button', { type: 'button', class: 'start-verify', onclick: () => this.startVerify(name) }, 'Verify'),
        h('button', { type: 'button', class: 'start-prune', onclick: () => this.startPrune(name) }, 'Prune…')));
  }

  async startGc(store) {
    if (!(await this.confirm(`Start garbage collection on datastore ${store}?`))) return;
    await this.start(store, 'gc', {});
  }

  async startVerify(store) {
    if (!(await this.confirm(`Verify every snapshot of datastore ${store}? Each chunk is read and checked.`))) return;
    await this.start(store, 'verify', {});
  }

  async startPrune(store) {
    const keep = await this.confirm(`Prune datastore ${store}: snapshots no rule keeps are removed (protected ones always stay).`, { prune: true });
    if (!keep) return;
    await this.start(store, 'prune-datastore', keep);
  }

  async start(store, what, params) {
    try {
      const upid = await post(`/admin/datastore/${encodeURIComponent(store)}/${what}`, params);
      this.notify(`started ${what} on ${store}`);
      this.onTaskStarted(upid);
    } catch (err) {
      this.notify(`${what} on ${store} refused: ${err.message}`, 'error');
    }
  }

  async snapshots(store) {
    const list = await maybe(get(`/admin/datastore/${encodeURIComponent(store)}/snapshots`));
    const groups = new Map();
    for (const s of list ?? []) {
      const key = `${s['backup-type']}/${s['backup-id']}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(s);
    }
    return h('details', { class: 'store-snapshots', open: true, dataset: { store } },
      h('summary', {}, `${store}: ${list ? `${list.length} snapshot(s) in ${groups.size} group(s)` : 'snapshots not visible to you'}`),
      [...groups].map(([group, snaps]) => h('div', { class: 'group', dataset: { group } },
        h('h4', {}, group, snaps[0]?.owner ? h('span', { class: 'muted' }, ` owner ${snaps[0].owner}`) : null),
        h('table', { class: 'snapshot-table' },
          h('thead', {}, h('tr', {}, h('th', {}, 'time'), h('th', {}, 'size'), h('th', {}, 'verified'), h('th', {}, 'protected'))),
          h('tbody', {}, snaps.sort((a, b) => b['backup-time'] - a['backup-time']).map((snap) => h('tr', { dataset: { time: snap['backup-time'] } },
            h('td', {}, formatTime(snap['backup-time'])),
            h('td', {}, formatBytes(snap.size)),
            h('td', { class: `verify ${snap.verification?.state ?? 'none'}` }, snap.verification?.state ?? 'not verified'),
            h('td', { class: `protected ${snap.protected ? 'yes' : 'no'}` }, snap.protected ? 'yes' : 'no'))))))));
  }
}

function lastGc(gc) {
  if (!gc) return '—'; // not visible to this user
  if (!gc['last-run-state']) return 'never';
  return `${gc['last-run-state']}${gc['last-run-endtime'] ? `, ${formatTime(gc['last-run-endtime'])}` : ''}`;
}

function dedup(gc) {
  if (!gc) return '—';
  const factor = gc.dedupFactor ?? (gc['disk-bytes'] ? gc['index-data-bytes'] / gc['disk-bytes'] : undefined);
  return typeof factor === 'number' && Number.isFinite(factor) ? `${factor.toFixed(2)}×` : '—';
}

/** A view the user has no right to (403) or the server lacks (404) shows as missing, not as a failure. */
async function maybe(promise) {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 403 || err.status === 404)) return undefined;
    throw err;
  }
}
