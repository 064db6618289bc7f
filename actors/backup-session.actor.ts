/**
 * The backup session machine bound to the datastore: each named side effect
 * of machines/backup-session.machine.ts becomes a call on a BackupWriter
 * (datastore/backup-writer.ts), whose replies are shaped for the wire here
 * (`{ wid }`, `{ existed }`, `{ data }`…). Frames go out through the
 * session's port (the transport's socket).
 */
import { decodeManifestBlob } from '../datastore/manifest.ts';
import { fromPromise } from 'xstate';
import { BackupWriter } from '../datastore/backup-writer.ts';
import { bulwarkError } from '../errors.ts';
import { backupSessionMachine } from '../machines/backup-session.machine.ts';
import type { BackupOp, BackupTarget, Fault, OpInputOf, StartedWriter, WriterInput } from '../machines/backup-session.types.ts';
import { endTask, type SessionResources } from './session-resources.ts';

type Ok = Readonly<Record<string, unknown>>;

/** A fault as one line of text, for logs and the writer's abort reason. */
export function faultText(fault: Fault): string {
  if ('code' in fault) return bulwarkError(fault.code, ...fault.args).message;
  const err = fault.thrown as { message?: unknown } | undefined;
  return String(err?.message ?? fault.thrown);
}

const op = <O extends BackupOp>(fn: (writer: BackupWriter, request: OpInputOf<O>['request']) => Promise<Ok> | Ok) =>
  fromPromise<Ok, OpInputOf<O>>(async ({ input }) => fn(input.writer as BackupWriter, input.request));

export function backupSessionLogic(res: SessionResources) {
  return backupSessionMachine.provide({
    actors: {
      startWriter: fromPromise<StartedWriter, { sessionId: string; target: BackupTarget }>(async ({ input: { sessionId, target: t }, system }) => {
        const log = res.log.child({ actor: 'backup-session', session: sessionId, store: t.store });
        let writer: BackupWriter;
        try {
          writer = await BackupWriter.start({
            storePath: t.storePath, chunkStore: res.chunkStore(t.storePath), resume: res.resumeStore(t.storePath),
            ns: t.ns, type: t.type, id: t.id, backupTime: t.backupTime, owner: t.owner, now: res.now, safety: res.safety,
          });
        } catch (err) {
          log.info({ err, ns: t.ns, group: `${t.type}/${t.id}`, owner: t.owner }, 'backup refused');
          throw err;
        }
        let task;
        try {
          task = await res.startTask({ type: 'backup', id: `${t.store}:${writer.dir.group.toString()}`, user: t.owner }, (reason) => system.get(sessionId)?.send({ type: 'STOP', reason }));
        } catch (err) {
          await writer.abort('could not create its task');
          throw err;
        }
        res.track(sessionId, { log, release: (reason) => writer.abort(reason), ...(task && { task }) });
        task?.log(`starting backup to ${t.store}:${writer.dir.describe()}`);
        log.info({ snapshot: writer.dir.describe(), owner: t.owner, upid: task?.upid }, 'backup started');
        return { writer, previousBackupTime: writer.previousSnapshot()?.dir.time ?? null };
      }),
      abortWriter: fromPromise<void, WriterInput & { fault: Fault }>(async ({ input }) => {
        const session = res.untrack(input.sessionId);
        const reason = faultText(input.fault);
        try {
          await (input.writer as BackupWriter).abort(reason);
          session?.log.warn({ reason }, 'backup aborted; unfinished snapshot removed');
          session?.task?.log('unfinished snapshot removed');
        } catch (err) {
          session?.log.error({ err, reason }, 'aborting the backup failed');
        }
        await endTask(session, { state: 'error', message: `backup failed: ${reason}` });
      }),
      finishWriter: fromPromise<Ok, WriterInput>(async ({ input }) => {
        const manifest = input.manifest && decodeManifestBlob(Buffer.from(input.manifest), 'client manifest');
        const { stats } = await (input.writer as BackupWriter).finish(manifest ? { manifest } : {});
        const session = res.untrack(input.sessionId);
        session?.log.info({ stats }, 'backup finished');
        session?.task?.log(`backup finished: ${JSON.stringify(stats)}`);
        await endTask(session, { state: 'ok' });
        return {};
      }),
      readPrevious: op<'previous'>(async (w, r) => ({ data: await w.previousArchive(r.name) })),
      readPreviousManifest: op<'previous-manifest'>(async (w) => ({ data: await w.previousManifestBlob() })),
      readResumeDigests: op<'resume'>(async (w) => ({ digests: await w.resumeDigests() })),
      createIndex: op<'create-index'>((w, r) => ({ wid: w.createIndex({ kind: r.kind, name: r.name, size: r.size, chunkSize: r.chunkSize }) })),
      uploadChunk: op<'chunk'>(async (w, r) => ({ existed: (await w.insertChunk(r.wid, r.digest, r.size, r.data)).existed })),
      appendIndex: op<'append'>((w, r) => { w.append(r.wid, r.digests, r.offsets); return {}; }),
      closeIndex: op<'close-index'>((w, r) => { w.closeIndex(r.wid, { count: r.count, size: r.size, csum: r.csum }); return {}; }),
      uploadBlob: op<'blob'>(async (w, r) => { await w.addBlob(r.name, r.data); return {}; }),
    },
    actions: {
      send: ({ context }, params) => context.port.send(params.frame),
      closeSocket: ({ context }) => context.port.close(),
    },
  });
}
