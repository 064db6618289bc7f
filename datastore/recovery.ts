/**
 * Clean-up after a crash (kill -9, power loss), run when a datastore opens:
 *
 * - Unfinished snapshots (no manifest) whose snapshot lock nobody holds
 *   belong to a backup that died; they are removed. One that is locked
 *   belongs to a backup still running in another process and is left alone.
 * - Temporary chunk files (`.<digest>.<pid>.<rand>.tmp`, see atomic-write.ts)
 *   of a process that no longer runs are partial chunks; they are deleted.
 *   Those of live processes are inserts in progress and stay.
 *
 * Finished snapshots and complete chunks are never touched.
 */
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isBulwarkError } from '../errors.ts';
import { manifestPath } from './layout.ts';
import { lockSnapshot } from './locks.ts';
import { listGroups, listNamespaces, listSnapshots, removeSnapshot } from './snapshots.ts';
import { BackupGroup } from './backup-ref.ts';

export interface RecoveryReport {
  removedSnapshots: string[];
  removedTempFiles: number;
}

const TEMP_CHUNK = /^\.[0-9a-f]{64}\.(\d+)\.[0-9a-f]+\.tmp$/;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function removeDeadSnapshots(store: string): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await listNamespaces(store)) {
    for (const g of await listGroups(store, ns)) {
      for (const snap of await listSnapshots(store, new BackupGroup(ns, g.type, g.id))) {
        if (snap.finished) continue;
        let lock;
        try {
          lock = await lockSnapshot(store, snap.dir, { exclusive: true });
        } catch (err) {
          if (isBulwarkError(err, 'BULWARK_LOCKED')) continue; // a live backup is writing it
          throw err;
        }
        try {
          // Listed as unfinished, but its writer may have committed and let go in between.
          if (existsSync(manifestPath(store, snap.dir))) continue;
          await removeSnapshot(store, snap.dir, { lock });
          removed.push(`${ns.isRoot ? '' : `${ns.toString()}:`}${snap.dir.toString()}`);
        } finally {
          lock.release();
        }
      }
    }
  }
  return removed;
}

export async function removeDeadTempChunks(store: string, signal?: AbortSignal): Promise<number> {
  const chunks = join(store, '.chunks');
  let removed = 0;
  let next = 0;
  // 16 prefix dirs in flight: readdir per dir is cheap, the latency is in the round trips.
  const worker = async () => {
    // A stopped store (server shutdown) stops the scan; the next start repeats it.
    while (next < 0x10000 && signal?.aborted !== true) {
      const dir = join(chunks, (next++).toString(16).padStart(4, '0'));
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue; // prefix dir not created yet
      }
      for (const name of names) {
        const m = name.charCodeAt(0) === 0x2e ? TEMP_CHUNK.exec(name) : null;
        if (m && !processAlive(Number(m[1]))) {
          await rm(join(dir, name), { force: true });
          removed++;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return removed;
}

export async function recoverDatastore(store: string, signal?: AbortSignal): Promise<RecoveryReport> {
  const removedSnapshots = await removeDeadSnapshots(store);
  const removedTempFiles = await removeDeadTempChunks(store, signal);
  return { removedSnapshots, removedTempFiles };
}
