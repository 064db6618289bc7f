/**
 * Child process for the cross-process lock tests. Usage:
 *   node --import tsx lock-holder.ts <store> <ns> <type/id> <startedAtMs> [<snapshot time>]
 * Takes the group lock, registers a backup writer and, when a snapshot time
 * is given, that snapshot's exclusive lock; prints "locked" and then waits
 * until it is killed. Its locks must vanish with it (the tests use SIGKILL).
 */
import { BackupNamespace, parseGroupRef } from '../../datastore/backup-ref.ts';
import { lockGroup, lockSnapshot } from '../../datastore/locks.ts';
import { registerWriter } from '../../datastore/writers.ts';

const [store, ns, groupRef, startedAt, time] = process.argv.slice(2);
if (store === undefined || ns === undefined || groupRef === undefined || startedAt === undefined) {
  process.stderr.write('usage: lock-holder.ts <store> <ns> <type/id> <startedAtMs> [<snapshot time>]\n');
  process.exit(2);
}
const group = parseGroupRef(groupRef, BackupNamespace.parse(ns));
const held: unknown[] = [await lockGroup(store, group), await registerWriter(store, { group, startedAt: Number(startedAt) })];
if (time !== undefined) held.push(await lockSnapshot(store, group.snapshot(time), { exclusive: true }));
process.stdout.write('locked\n');
// Keep the event loop (and with it the process and its locks) alive until killed.
setInterval(() => held.length, 1 << 30);
