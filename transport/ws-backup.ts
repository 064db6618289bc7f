/**
 * GET /api2/ws/backup (docs/protocol.md, "Backup session"): needs
 * Datastore.Backup on /datastore/<store>[/<ns>] and an online (writable)
 * store; the session actor then takes the group lock and creates the
 * snapshot before it says hello, so a second writer of the group gets an
 * `abort` with status 409 and BULWARK_LOCKED instead.
 */
import type { Logger } from 'pino';
import { MAX_CHUNK_SIZE } from '../datastore/formats.ts';
import type { SessionLimits } from '../machines/backup-session.types.ts';
import { parseBackupRequest } from './frame-codec.ts';
import type { TemplatedApp } from './uws.ts';
import { resolveStore } from '../actors/store-access.ts';
import { aclPath, openSession, sessionRoute, snapshotQuery, type ActorSystemLike, type WsAuth } from './ws-upgrade.ts';

export interface WsRouteOptions {
  readonly system: ActorSystemLike;
  readonly auth: WsAuth;
  readonly log: Logger;
  readonly limits?: Partial<SessionLimits>;
}

export const BACKUP_LIMITS: SessionLimits = {
  credit: 64 * 1024 * 1024,
  maxChunkSize: MAX_CHUNK_SIZE,
  concurrency: 8,
  idleTimeoutMs: 10 * 60 * 1000,
};

export function backupRoute(app: TemplatedApp, options: WsRouteOptions): void {
  const limits = { ...BACKUP_LIMITS, ...options.limits };
  sessionRoute(app, '/api2/ws/backup', options.log, {
    parse: parseBackupRequest,
    open(up, port) {
      const who = options.auth.authenticate(up.headers, up.remoteAddress);
      const q = snapshotQuery(up.query);
      options.auth.check(who.authid, aclPath(q.store, q.ns), 'Datastore.Backup');
      const storePath = resolveStore(options.system, q.store, 'writable', 'backups are');
      return openSession(options.system, { type: 'OPEN_BACKUP', input: { target: { ...q, storePath, owner: who.authid }, limits, port } });
    },
  });
}
