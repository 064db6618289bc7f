import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { verifyPassword } from '../../auth/password.ts';
import { httpsGet, makeDataDir, removeDataDir, runServer, startServer } from '../helpers/server-process.ts';

const dirs: string[] = [];
const tempDir = () => { const d = makeDataDir(); dirs.push(d); return d; };
after(() => dirs.forEach(removeDataDir));

function assertOneLineError(result: { code: number | null; stderr: string; stdout: string }, pattern: RegExp) {
  assert.equal(result.code, 2, `exit code 2, got ${result.code}: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
  assert.match(lines[0]!, /^bulwark-server: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

describe('bulwark-server on an embedded default', () => {
  test('first start creates config, certificate, store1 and admin, and answers /version', async () => {
    const dataDir = tempDir();
    const server = await startServer({ dataDir, env: { BULWARK_ADMIN_PASSWORD: '', BULWARK_LOG_LEVEL: 'info' } });
    try {
      assert.match(server.banner, /Bulwark listening on https:\/\/127\.0\.0\.1:\d+\/ \(uWebSockets\.js: native\)/);
      assert.match(server.banner, /Certificate fingerprint: ([0-9a-f]{2}:){31}[0-9a-f]{2}/);
      const pw = /Created user admin@pbs with password: (\S+)/.exec(server.banner)?.[1];
      assert.ok(pw, 'generated password printed once');
      const shadow = JSON.parse(readFileSync(join(dataDir, 'etc', 'shadow.json'), 'utf8')) as Record<string, string>;
      assert.ok(await verifyPassword(pw, shadow['admin@pbs']!), 'printed password matches the stored hash');
      assert.equal(statSync(join(dataDir, 'etc', 'shadow.json')).mode & 0o777, 0o600);
      assert.equal(statSync(join(dataDir, 'etc', 'proxy.key')).mode & 0o777, 0o600);
      assert.equal(readdirSync(join(dataDir, 'store1', '.chunks')).length, 65536);

      const res = await httpsGet(server.port, '/api2/json/version', server.ca);
      assert.equal(res.status, 200);
      const body = JSON.parse(res.body) as { data: { version: string; release: string } };
      assert.match(body.data.version, /^\d+\.\d+$/);

      const missing = await httpsGet(server.port, '/api2/json/no/such/thing', server.ca);
      assert.equal(missing.status, 404);
      assert.equal((JSON.parse(missing.body) as { code: string }).code, 'BULWARK_NOT_FOUND');
    } finally {
      const result = await server.stop('SIGTERM');
      assert.equal(result.code, 0, `clean exit on SIGTERM: ${result.stderr}`);
      // The clean stop's last log line, which tells an operator everything is on disk.
      const last = JSON.parse(result.stderr.trim().split('\n').at(-1)!) as { msg: string };
      assert.equal(last.msg, 'stopped');
    }

    // Second start: nothing is recreated, no password is printed again.
    const again = await startServer({ dataDir });
    try {
      assert.doesNotMatch(again.banner, /password:/);
      assert.match(again.banner, /Log in as admin@pbs/);
    } finally {
      await again.stop();
    }
  });

  test('BULWARK_ADMIN_PASSWORD sets the first admin password and is not printed', async () => {
    const dataDir = tempDir();
    const server = await startServer({ dataDir, env: { BULWARK_ADMIN_PASSWORD: 'correct horse battery' } });
    await server.stop();
    assert.doesNotMatch(server.banner, /correct horse/);
    const shadow = JSON.parse(readFileSync(join(dataDir, 'etc', 'shadow.json'), 'utf8')) as Record<string, string>;
    assert.ok(await verifyPassword('correct horse battery', shadow['admin@pbs']!));
  });

  test('--help prints usage and exits 0', async () => {
    const r = await runServer(['--help']).done;
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--data-dir DIR/);
  });

  test('a bad flag is one line and exit 2', async () => {
    assertOneLineError(await runServer(['--bogus']).done, /bogus/);
    assertOneLineError(await runServer(['--port', 'eighty']).done, /--port "eighty" is not a port number/);
    assertOneLineError(await runServer(['--port', '70000']).done, /not a port number/);
    assertOneLineError(await runServer(['--listen', 'example.org']).done, /not an IP address/);
    assertOneLineError(await runServer(['--log-level', 'loud']).done, /log-level/);
  });

  test('environment variables are read and validated too', async () => {
    assertOneLineError(await runServer([], { BULWARK_PORT: '-1' }).done, /not a port number/);
  });

  test('an unusable data dir is one line and exit 2, and nothing is written there', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'not a directory');
    assertOneLineError(await runServer(['--data-dir', file, '--port', '0']).done, /data directory .* is not usable/);
    assert.equal(readFileSync(file, 'utf8'), 'not a directory');
  });

  test('a port in use is one line and exit 2', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const dataDir = tempDir();
      assertOneLineError(await runServer(['--data-dir', dataDir, '--port', String(port)]).done, /cannot listen on 127\.0\.0\.1:\d+/);
      assert.ok(existsSync(join(dataDir, 'etc')), 'the data dir itself was fine');
    } finally {
      blocker.close();
    }
  });
});
