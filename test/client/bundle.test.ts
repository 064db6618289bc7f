/**
 * The bundled CLI (scripts/build-client.ts) that the benches time: it must
 * run the same backup and restore as the TypeScript one, workers included
 * (encode on backup, decode and write on restore), with its addons and
 * externals loading from node_modules.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildClient, runBuiltClient } from '../../scripts/build-client.ts';
import { clientEnv } from '../helpers/client-process.ts';
import { makeDataDir, removeDataDir, startServer, type StartedServer } from '../helpers/server-process.ts';
import { compareTrees, makeFullTree } from '../helpers/tree-fixtures.ts';

const PASSWORD = 'bundle-test-password';
let server: StartedServer;
let work: string;

before(async () => {
  work = makeDataDir();
  [server] = await Promise.all([startServer({ env: { BULWARK_ADMIN_PASSWORD: PASSWORD } }), buildClient({ quiet: true })]);
});

after(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
  if (work) removeDataDir(work);
});

test('the bundled CLI backs up and restores a tree exactly', async () => {
  const env = clientEnv(server, PASSWORD, { XDG_CONFIG_HOME: join(work, 'config') });
  const src = join(work, 'src');
  mkdirSync(src);
  await makeFullTree(src);
  writeFileSync(join(src, 'big.bin'), Buffer.concat([randomBytes(3 * 1024 * 1024), Buffer.alloc(2 * 1024 * 1024)]));
  const time = Math.floor(Date.now() / 1000) - 60;
  const out = JSON.parse(await runBuiltClient(['backup', `root.bxar:${src}`, '--backup-id', 'bundle', '--backup-time', String(time), '--output-format', 'json'], env)) as { snapshot: string };
  const target = join(work, 'restored');
  await runBuiltClient(['restore', out.snapshot, 'root.bxar', target], env);
  assert.deepEqual(await compareTrees(src, target), []);
  assert.match(await runBuiltClient(['help'], env), /Usage: bulwark-client/);
});
