import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromPromise, type AnyActorRef } from 'xstate';
import { backupSessionMachine } from '../../machines/backup-session.machine.ts';
import type { BackupSessionInput, StartedWriter } from '../../machines/backup-session.types.ts';
import { sessionsMachine } from '../../machines/sessions.machine.ts';

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Sessions whose writer starts at once; a port whose `send` throws makes its session crash. */
function start() {
  const crashed: { sessionId: string; kind: string | undefined; error: unknown }[] = [];
  const session = backupSessionMachine.provide({
    actors: {
      startWriter: fromPromise(async (): Promise<StartedWriter> => ({ writer: 'W', previousBackupTime: null })),
      abortWriter: fromPromise(async () => undefined) as never,
    },
    actions: {
      send: ({ context }, { frame }) => context.port.send(frame),
      closeSocket: ({ context }) => context.port.close(),
    },
  });
  const machine = sessionsMachine.provide({
    actors: { backupSession: session },
    actions: { sessionCrashed: (_, params) => { crashed.push(params); } },
  });
  const supervisor = createActor(machine, { systemId: 'sessions' });
  supervisor.start();
  const open = (port: BackupSessionInput['port']): AnyActorRef => {
    const input: Omit<BackupSessionInput, 'sessionId'> = {
      port,
      limits: { credit: 100, maxChunkSize: 100, concurrency: 2, idleTimeoutMs: 60_000 },
      target: { store: 's', storePath: '/s', ns: '', type: 'host', id: 'a', backupTime: 1, owner: 'u@pbs' },
    };
    supervisor.send({ type: 'OPEN_BACKUP', input });
    return supervisor.system.get(supervisor.getSnapshot().context.lastId!) as AnyActorRef;
  };
  return { supervisor, open, crashed };
}

test('each connection gets its own session:<n>, found through the system registry', async () => {
  const { supervisor, open } = start();
  const quiet = { send() {}, close() {} };
  const a = open(quiet);
  const b = open(quiet);
  assert.equal(a.id, 'session:1');
  assert.equal(b.id, 'session:2');
  assert.deepEqual(supervisor.getSnapshot().context.sessions, { 'session:1': 'backup', 'session:2': 'backup' });
  await tick();
  a.send({ type: 'CONNECTED' });
  a.send({ type: 'DISCONNECTED' });
  await tick();
  assert.deepEqual(supervisor.getSnapshot().context.sessions, { 'session:2': 'backup' }, 'an ended session is forgotten');
  supervisor.stop();
});

test('a crashed session is reported and affects neither the supervisor nor other sessions', async () => {
  const { supervisor, open, crashed } = start();
  const boom = new Error('port exploded');
  const sent: unknown[] = [];
  const bad = open({ send() { throw boom; }, close() {} });
  const good = open({ send(f) { sent.push(f); }, close() {} });
  await tick();
  bad.send({ type: 'CONNECTED' }); // its hello throws inside the session's action
  good.send({ type: 'CONNECTED' });
  await tick();
  assert.equal(bad.getSnapshot().status, 'error');
  assert.deepEqual(crashed, [{ sessionId: 'session:1', kind: 'backup', error: boom }]);
  assert.equal(supervisor.getSnapshot().status, 'active');
  assert.deepEqual(supervisor.getSnapshot().context.sessions, { 'session:2': 'backup' });
  assert.deepEqual(good.getSnapshot().value, { active: 'listening' });
  assert.equal((sent[0] as { op: string }).op, 'hello');
  supervisor.stop();
});
