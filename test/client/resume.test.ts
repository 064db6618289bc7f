import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../client/backup-job.ts';
import { ServerConnection } from '../../client/connection.ts';
import { parseRepository } from '../../client/repository.ts';
import { makeDataDir, removeDataDir, startServer, type StartedServer } from '../helpers/server-process.ts';

const PASSWORD = 'resume-test-password';
let server: StartedServer;
let work: string;

before(async () => {
  work = makeDataDir();
  server = await startServer({ env: { BULWARK_ADMIN_PASSWORD: PASSWORD } });
});
after(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
  if (work) removeDataDir(work);
});

async function connect(): Promise<ServerConnection> {
  const fingerprint = /Certificate fingerprint: (\S+)/.exec(server.banner)![1]!;
  return ServerConnection.connect({ repo: parseRepository(`admin@pbs@127.0.0.1:${server.port}:store1`), secret: PASSWORD, fingerprint });
}

test('a backup cut off half way resumes: the re-run sends only what the server did not store', async () => {
  const src = join(work, 'src');
  mkdirSync(src);
  // Incompressible, so bytes sent equal bytes read; ~48 chunks of 4 MiB on average.
  writeFileSync(join(src, 'data.bin'), randomBytes(192 * 1024 * 1024));
  const t0 = Math.floor(Date.now() / 1000) - 600;
  const total = 192 * 1024 * 1024;

  const cut = new Error('network cable pulled');
  let sentAtCut = 0;
  await assert.rejects(
    runBackup({
      conn: await connect(), backupType: 'host', backupId: 'resume', backupTime: t0,
      archives: [{ kind: 'tree', name: 'root', path: src }],
      onProgress: (p) => {
        if (p.uploadedBytes >= total / 2) {
          sentAtCut = p.uploadedBytes;
          throw cut;
        }
      },
    }),
    (err) => err === cut,
  );

  const second = await runBackup({
    conn: await connect(), backupType: 'host', backupId: 'resume', backupTime: t0 + 60,
    archives: [{ kind: 'tree', name: 'root', path: src }],
  });
  const [a] = second.archives;
  assert.ok(second.resumedChunks > 0, 'the server offered the chunks of the interrupted run');
  assert.ok(a!.reusedChunks >= second.resumedChunks / 2, `resumed chunks were reused (${a!.reusedChunks} of ${second.resumedChunks})`);
  // Everything the cut run sent and the server stored is not sent again: the
  // re-run sends at most the unsent half plus the chunks that were in flight.
  const resent = a!.uploadedBytes - (total - sentAtCut);
  assert.ok(resent < 0.05 * sentAtCut, `re-sent ${resent} of ${sentAtCut} bytes`);
  process.stderr.write(`# resume: cut after ${sentAtCut} bytes; re-run uploaded ${a!.uploadedBytes} of ${total} (resumed ${second.resumedChunks} chunks)\n`);
});
