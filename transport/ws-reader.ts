/**
 * GET /api2/ws/reader (docs/protocol.md, "Reader session"): needs
 * Datastore.Read on /datastore/<store>[/<ns>], or Datastore.Backup and
 * ownership of the group (checked when the session opens the snapshot),
 * and a readable store. Replies can be large (16 MiB chunks), so the port
 * pauses chunk reads while the socket's send buffer is full.
 */
import type { SessionLimits } from '../machines/backup-session.types.ts';
import { parseReaderRequest } from './frame-codec.ts';
import type { TemplatedApp } from './uws.ts';
import type { WsRouteOptions } from './ws-backup.ts';
import { resolveStore } from '../actors/store-access.ts';
import { aclPath, openSession, sessionRoute, snapshotQuery } from './ws-upgrade.ts';

export const READER_LIMITS: SessionLimits = {
  credit: 0,
  maxChunkSize: 0,
  concurrency: 8,
  idleTimeoutMs: 10 * 60 * 1000,
};

export function readerRoute(app: TemplatedApp, options: WsRouteOptions): void {
  const limits = { ...READER_LIMITS, ...options.limits };
  sessionRoute(app, '/api2/ws/reader', options.log, {
    parse: parseReaderRequest,
    open(up, port) {
      const who = options.auth.authenticate(up.headers, up.remoteAddress);
      const q = snapshotQuery(up.query);
      const path = aclPath(q.store, q.ns);
      options.auth.check(who.authid, path, ['Datastore.Read', 'Datastore.Backup'], { partial: true });
      const mayReadAll = options.auth.privileges(who.authid, path).has('Datastore.Read');
      const storePath = resolveStore(options.system, q.store, 'readable');
      const target = { ...q, storePath, authid: who.authid, ...(!mayReadAll && { requireOwner: who.authid }) };
      const ref = openSession(options.system, { type: 'OPEN_READER', input: { target, limits, port } });
      port.onPressure = (paused) => ref.send({ type: paused ? 'PAUSE' : 'RESUME' });
      return ref;
    },
  });
}
