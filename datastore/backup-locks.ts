/**
 * What a backup session holds on the store while it runs, taken by
 * `acquireBackup` in this order: the group's exclusive lock (one writer per
 * group) after validating names and the backup time, the group (created, or
 * its owner checked), the new snapshot's exclusive lock, and (as PBS does)
 * the previous finished snapshot's shared lock so prune cannot remove the
 * base of this backup; then the writer registration, so GC bounds its cutoff
 * by our start (writers.ts), and only then the snapshot dir. A failure part
 * way undoes what was taken. `releaseBackup` lets go of all of it.
 */
import { bulwarkError } from '../errors.ts';
import { BackupDir, BackupGroup } from './backup-ref.ts';
import { namespaceOf } from './backup-reader.ts';
import type { BackupWriterOptions } from './backup-writer.ts';
import { type Lock, lockGroup, lockSnapshot } from './locks.ts';
import { validateAuthId } from './names.ts';
import { SAFETY_FULL } from './safety.ts';
import { createSnapshotDir, ensureGroup, listSnapshots, type SnapshotInfo } from './snapshots.ts';
import { registerWriter, type WriterHandle } from './writers.ts';

export interface HeldLocks {
  readonly group: Lock;
  readonly snapshot: Lock;
  /** Shared lock on the previous finished snapshot, the base of this backup. */
  readonly previous: Lock | undefined;
}

export interface BackupHold {
  readonly dir: BackupDir;
  /** The snapshot directory, just created. */
  readonly path: string;
  /** The validated auth id. */
  readonly owner: string;
  /** Epoch ms, as registered for GC. */
  readonly startedAt: number;
  /** The group's last finished snapshot. */
  readonly previous: SnapshotInfo | undefined;
  readonly locks: HeldLocks;
  readonly registration: WriterHandle;
}

export async function acquireBackup(opts: BackupWriterOptions): Promise<BackupHold> {
  const { storePath: store } = opts;
  const now = opts.now ?? Date.now;
  const safety = opts.safety ?? SAFETY_FULL;
  const group = new BackupGroup(namespaceOf(opts.ns), opts.type, opts.id);
  const dir = new BackupDir(group, opts.backupTime);
  const owner = validateAuthId(opts.owner);
  // A far-future snapshot would push real ones out of retention at the next prune.
  if (dir.time * 1000 > now() + safety.maxBackupTimeSkewMs) {
    throw bulwarkError('BULWARK_BACKUP_TIME_FUTURE', dir.timeString, safety.maxBackupTimeSkewMs / 1000);
  }
  const undo: Array<() => void> = [];
  try {
    const groupLock = await lockGroup(store, group);
    undo.push(() => groupLock.release());
    await ensureGroup(store, group, owner);
    const snapshots = await listSnapshots(store, group);
    // Against the newest snapshot of any state (PBS: newest finished), so
    // snapshot times only ever grow in creation order, which prune's
    // "keep the newest unfinished one" rule relies on.
    const last = snapshots[snapshots.length - 1];
    if (last !== undefined && last.dir.time >= dir.time) throw bulwarkError('BULWARK_BACKUP_TIME_OLD', dir.timeString, last.dir.timeString);
    const previous = snapshots.filter((s) => s.finished).pop();
    const snapshot = await lockSnapshot(store, dir, { exclusive: true });
    undo.push(() => snapshot.discard()); // no dir was made under it: drop the lock file too
    const previousLock = previous && (await lockSnapshot(store, previous.dir, { shared: true }));
    if (previousLock) undo.push(() => previousLock.release());
    const startedAt = now();
    const registration = await registerWriter(store, { group, startedAt });
    undo.push(() => registration.release());
    const path = await createSnapshotDir(store, dir);
    return { dir, path, owner, startedAt, previous, registration, locks: { group: groupLock, snapshot, previous: previousLock } };
  } catch (err) {
    for (const fn of undo.reverse()) try { fn(); } catch { /* keep undoing; the first error is what matters */ }
    throw err;
  }
}

/** Drop the registration and every lock; `discardSnapshotLock` once the snapshot dir is gone. Never throws. */
export function releaseBackup(hold: BackupHold, discardSnapshotLock: boolean): void {
  const { registration, locks } = hold;
  const steps = [
    () => registration.release(),
    () => locks.previous?.release(),
    () => (discardSnapshotLock ? locks.snapshot.discard() : locks.snapshot.release()),
    () => locks.group.release(),
  ];
  for (const step of steps) try { step(); } catch { /* the kernel drops our locks with the process anyway */ }
}
