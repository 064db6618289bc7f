import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { waitFor, type AnyActorRef } from 'xstate';
import { startServerSystem } from '../../actors/server-system.ts';
import { configPaths } from '../../config/paths.ts';
import { createDatastore } from '../../datastore/create.ts';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-system-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the root supervisor starts one datastore actor per configured store; a broken store does not affect the others', async () => {
  const good = join(dir, 'good');
  createDatastore(good);
  const system = await startServerSystem({
    paths: configPaths(join(dir, 'data')),
    log: pino({ level: 'silent' }),
    config: {
      datastoresDigest: 'x',
      datastores: {
        good: { name: 'good', path: good },
        ro: { name: 'ro', path: good, 'maintenance-mode': 'read-only' },
        missing: { name: 'missing', path: join(dir, 'does-not-exist') },
      },
    },
  });
  const { root } = system;
  try {
    const get = (id: string) => root.system.get(id) as AnyActorRef;
    assert.ok(get('config'), 'config store registered');
    for (const child of ['datastores', 'sessions', 'jobs', 'scheduler']) assert.ok(get(child), `${child} registered`);
    const goodSnap = await waitFor(get('datastore:good'), (s) => s.value !== 'opening');
    assert.equal(goodSnap.value, 'online');
    assert.equal((await waitFor(get('datastore:ro'), (s) => s.value !== 'opening')).value, 'readOnly');
    const missing = await waitFor(get('datastore:missing'), (s) => s.value !== 'opening');
    assert.equal(missing.value, 'unavailable');
    assert.equal(missing.context.error.code, 'BULWARK_NOT_FOUND');

    get('datastores').send({ type: 'SET_MAINTENANCE', name: 'good', mode: 'offline' });
    assert.equal(get('datastore:good').getSnapshot().value, 'offline');
    assert.equal(root.getSnapshot().status, 'active');
  } finally {
    root.send({ type: 'SHUTDOWN' });
    assert.equal(root.getSnapshot().status, 'done');
    await system.close();
  }
});
