// The page's copy of the server's inspection feed (transport/inspect-feed.ts):
// a snapshot, then deltas over the WebSocket /api2/ws/inspect. Dispatches
// `change` after each message and `status` when the connection changes
// (`open`, `closed` — will retry —, or `refused`: the upgrade was turned down,
// e.g. without Sys.Audit on /system).

const KEEP = 100;

export class Feed extends EventTarget {
  constructor() {
    super();
    this.status = 'idle';
    this.reset();
    this.socket = null;
    this.retryTimer = null;
  }

  reset() {
    this.actors = new Map();
    this.events = new Map();
    this.states = new Map();
    this.machines = {};
    this.seq = 0;
  }

  connect(protocols) {
    this.close();
    let opened = false;
    const ws = new WebSocket(`wss://${location.host}/api2/ws/inspect`, protocols);
    this.socket = ws;
    ws.onopen = () => {
      opened = true;
      this.setStatus('open');
    };
    ws.onmessage = (ev) => {
      try {
        this.apply(JSON.parse(ev.data));
      } catch (err) {
        console.error('bad feed message', err);
      }
    };
    ws.onclose = () => {
      if (this.socket !== ws) return;
      this.socket = null;
      if (!opened) {
        this.setStatus('refused');
        return;
      }
      this.setStatus('closed');
      this.retryTimer = setTimeout(() => this.connect(protocols), 2000);
    };
  }

  close() {
    clearTimeout(this.retryTimer);
    const ws = this.socket;
    this.socket = null;
    ws?.close();
    this.setStatus('idle');
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.dispatchEvent(new Event('status'));
  }

  apply(msg) {
    if (msg.type === 'snapshot') this.reset();
    Object.assign(this.machines, msg.machines);
    for (const a of msg.actors) this.actors.set(a.id, a);
    for (const id of msg.removed) {
      this.actors.delete(id);
      this.events.delete(id);
      this.states.delete(id);
    }
    const since = msg.type === 'snapshot' ? -1 : this.seq;
    append(this.events, msg.events, since);
    append(this.states, msg.states, since);
    this.seq = Math.max(this.seq, msg.seq);
    this.dispatchEvent(new Event('change'));
  }

  children(id) {
    return [...this.actors.values()].filter((a) => a.parent === id);
  }

  /** The newest actor registered under `systemId` (a restarted job reuses its systemId). */
  bySystemId(systemId) {
    let best;
    for (const a of this.actors.values()) {
      if (a.systemId !== systemId) continue;
      const aLive = a.status === 'active';
      const bestLive = best?.status === 'active';
      if (!best || (aLive && !bestLive) || (aLive === bestLive && a.startedAt >= best.startedAt)) best = a;
    }
    return best;
  }
}

function append(map, entries, since) {
  for (const e of entries) {
    if (e.seq <= since) continue; // already in the snapshot this delta overlaps
    let list = map.get(e.actor);
    if (!list) map.set(e.actor, (list = []));
    // A counted entry continues the run the previous one started.
    const last = list.at(-1);
    if (e.count > 1 && last && last.type === e.type && last.source === e.source) list.pop();
    list.push(e);
    if (list.length > KEEP) list.shift();
  }
}
