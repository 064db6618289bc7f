import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../client/backup-job.ts';
import { ServerConnection } from '../../client/connection.ts';
import { parseRepository } from '../../client/repository.ts';
import { client, clientEnv } from '../helpers/client-process.ts';
import { makeDataDir, removeDataDir, startServer, waitForLog, type StartedServer } from '../helpers/server-process.ts';
import { compareTrees } from '../helpers/tree-fixtures.ts';

const PASSWORD = 'crash-test-password';
const work = makeDataDir();
const dataDir = makeDataDir();
after(() => {
  removeDataDir(work);
  removeDataDir(dataDir);
});

const fingerprintOf = (s: StartedServer) => /Certificate fingerprint: (\S+)/.exec(s.banner)![1]!;

function tempChunkFiles(store: string): string[] {
  const found: string[] = [];
  const chunks = join(store, '.chunks');
  for (const prefix of readdirSync(chunks)) {
    for (const name of readdirSync(join(chunks, prefix))) if (name.endsWith('.tmp')) found.push(`${prefix}/${name}`);
  }
  return found;
}

test('kill -9 of the server during an upload: after restart no partial chunk, no unfinished snapshot, earlier snapshots intact', async () => {
  const env = { BULWARK_ADMIN_PASSWORD: PASSWORD, BULWARK_LOG_LEVEL: 'info' };
  let server = await startServer({ dataDir, env });
  const early = join(work, 'early');
  mkdirSync(early);
  writeFileSync(join(early, 'a.txt'), 'first snapshot\n');
  writeFileSync(join(early, 'b.bin'), randomBytes(3 * 1024 * 1024));
  const t0 = Math.floor(Date.now() / 1000) - 600;
  await client(['backup', `root.bxar:${early}`, '--backup-id', 'crash', '--backup-time', String(t0)], clientEnv(server, PASSWORD));

  const big = join(work, 'big');
  mkdirSync(big);
  writeFileSync(join(big, 'data.bin'), randomBytes(160 * 1024 * 1024));
  const conn = await ServerConnection.connect({ repo: parseRepository(`admin@pbs@127.0.0.1:${server.port}:store1`), secret: PASSWORD, fingerprint: fingerprintOf(server) });
  let killed = false;
  await assert.rejects(runBackup({
    conn, backupType: 'host', backupId: 'crash', backupTime: t0 + 60,
    archives: [{ kind: 'tree', name: 'root', path: big }],
    onProgress: (p) => {
      if (!killed && p.uploadedBytes > 40 * 1024 * 1024) {
        killed = true;
        server.child.kill('SIGKILL');
      }
    },
  }));
  const died = await server.done;
  assert.equal(died.signal, 'SIGKILL');

  server = await startServer({ dataDir, env });
  try {
    const recovered = JSON.parse(await waitForLog(server, /"msg":"recovery finished"/)) as { removedSnapshots: string[] };
    assert.equal(recovered.removedSnapshots.length, 1, 'the killed backup left one unfinished snapshot, now removed');
    const store = join(dataDir, 'store1');
    assert.deepEqual(tempChunkFiles(store), [], 'no partial chunk files');
    const snapshots = readdirSync(join(store, 'host', 'crash'));
    assert.deepEqual(snapshots.filter((n) => !n.startsWith('.') && n !== 'owner'), [new Date(t0 * 1000).toISOString().replace('.000Z', 'Z')]);
    assert.ok(existsSync(join(store, 'host', 'crash', snapshots.find((n) => n.endsWith('Z'))!, 'index.json.blob')));

    const target = join(work, 'restored');
    await client(['restore', `host/crash/${new Date(t0 * 1000).toISOString().replace('.000Z', 'Z')}`, 'root.bxar', target], clientEnv(server, PASSWORD));
    assert.deepEqual(await compareTrees(early, target), []);
  } finally {
    await server.stop();
  }
});
