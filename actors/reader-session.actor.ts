/**
 * The reader session machine bound to the datastore: the snapshot is opened
 * (and locked shared) with a BackupReader (datastore/backup-reader.ts), each
 * read becomes a call on it, and closing releases the lock.
 */
import { ownsGroup } from '../auth/acl.ts';
import { fromPromise } from 'xstate';
import { BackupGroup, BackupNamespace } from '../datastore/backup-ref.ts';
import { BackupReader } from '../datastore/backup-reader.ts';
import { readOwner } from '../datastore/group-meta.ts';
import { replyBuffers } from '../datastore/read-buffer-pool.ts';
import { bulwarkError } from '../errors.ts';
import type { Fault } from '../machines/backup-session.types.ts';
import { readerSessionMachine } from '../machines/reader-session.machine.ts';
import type { ReadInput, ReaderOp, ReaderRequest, ReaderTarget } from '../machines/reader-session.types.ts';
import { endTask, type SessionResources } from './session-resources.ts';

type Ok = Readonly<Record<string, unknown>>;

const takeReplyBuffer = (size: number): Buffer => replyBuffers.take(size);
type In<O extends ReaderOp> = ReadInput<Extract<ReaderRequest, { op: O }>>;

const read = <O extends ReaderOp>(fn: (reader: BackupReader, request: In<O>['request']) => Promise<Ok> | Ok) =>
  fromPromise<Ok, In<O>>(async ({ input }) => fn(input.reader as BackupReader, input.request));

async function checkOwner(t: ReaderTarget, authid: string): Promise<void> {
  const group = new BackupGroup(BackupNamespace.parse(t.ns), t.type, t.id);
  const owner = await readOwner(t.storePath, group);
  if (!ownsGroup(owner, authid)) throw bulwarkError('BULWARK_OWNER_MISMATCH', group.describe(), owner ?? 'nobody', authid);
}

/** A fault as one log field: the thrown error's message, or the session's own code and arguments. */
function describeFault(f: Fault): string {
  if ('thrown' in f) return f.thrown instanceof Error ? f.thrown.message : String(f.thrown);
  return `${f.code}: ${f.args.map(String).join(' ')}`;
}

export function readerSessionLogic(res: SessionResources) {
  return readerSessionMachine.provide({
    actors: {
      openReader: fromPromise<unknown, { sessionId: string; target: ReaderTarget }>(async ({ input: { sessionId, target: t }, system }) => {
        const log = res.log.child({ actor: 'reader-session', session: sessionId, store: t.store });
        try {
          if (t.requireOwner !== undefined) await checkOwner(t, t.requireOwner);
          const reader = await BackupReader.open({ storePath: t.storePath, chunkStore: res.chunkStore(t.storePath), ns: t.ns, type: t.type, id: t.id, backupTime: t.backupTime });
          let task;
          try {
            task = await res.startTask({ type: 'reader', id: `${t.store}:${reader.dir.group.toString()}/${reader.dir.time.toString(16).toUpperCase().padStart(8, '0')}`, user: t.authid ?? 'unknown' }, (reason) => system.get(sessionId)?.send({ type: 'STOP', reason }));
          } catch (err) {
            reader.close();
            throw err;
          }
          res.track(sessionId, { log, release: () => reader.close(), ...(task && { task }) });
          task?.log(`reading ${t.store}:${reader.dir.describe()}`);
          log.info({ snapshot: reader.dir.describe(), upid: task?.upid }, 'reader opened');
          return reader;
        } catch (err) {
          log.info({ err, ns: t.ns, group: `${t.type}/${t.id}`, time: t.backupTime }, 'reader refused');
          throw err;
        }
      }),
      closeReader: fromPromise<void, { sessionId: string; reader: unknown; fault?: Fault; disconnected: boolean }>(async ({ input }) => {
        (input.reader as BackupReader | undefined)?.close();
        const session = res.untrack(input.sessionId);
        if (input.fault) session?.log.warn({ fault: describeFault(input.fault), disconnected: input.disconnected }, 'reader session aborted');
        else session?.log.info({ disconnected: input.disconnected }, 'reader closed');
        await endTask(session, input.fault ? { state: 'error', message: describeFault(input.fault) } : { state: 'ok' });
      }),
      readManifest: read<'manifest'>((r) => ({ data: r.manifestBlob() })),
      readIndex: read<'index'>(async (r, q) => ({ data: await r.index(q.name) })),
      readBlob: read<'blob'>(async (r, q) => ({ data: await r.blob(q.name) })),
      // Read into a pooled buffer that the port gives back once the reply is sent (datastore/read-buffer-pool.ts).
      readChunk: read<'chunk'>(async (r, q) => ({ data: await r.chunk(q.digest, takeReplyBuffer) })),
    },
    actions: {
      send: ({ context }, params) => context.port.send(params.frame),
      closeSocket: ({ context }) => context.port.close(),
    },
  });
}
