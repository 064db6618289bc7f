import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificateFingerprint, ensureSelfSignedCertificate } from '../../config/tls.ts';
import { clientEnv, runClient, runClientOnTerminal } from '../helpers/client-process.ts';
import { makeDataDir, removeDataDir, startServer, type StartedServer } from '../helpers/server-process.ts';

const PASSWORD = 'ticket-reuse-password';
let server: StartedServer;
let work: string;
let env: NodeJS.ProcessEnv;
const cacheFile = () => join(work, 'run', 'bulwark', 'tickets.json');
type CacheFile = { tickets: Record<string, { ticket: string; csrf: string; issued: number }>; certificates: Record<string, string> };
const readCache = () => JSON.parse(readFileSync(cacheFile(), 'utf8')) as CacheFile;

before(async () => {
  work = makeDataDir();
  server = await startServer({ env: { BULWARK_ADMIN_PASSWORD: PASSWORD } });
  env = clientEnv(server, PASSWORD, { XDG_RUNTIME_DIR: join(work, 'run') });
});

after(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
  if (work) removeDataDir(work);
});

test('the next run reuses the ticket and the pinned certificate instead of logging in again', async () => {
  const first = await runClient(['list'], env);
  assert.equal(first.code, 0, first.stderr);
  const cache = readCache();
  const key = `admin@pbs@127.0.0.1:${server.port}`;
  assert.match(cache.tickets[key]!.ticket, /^PBS:admin@pbs:/);
  assert.deepEqual(Object.keys(cache.certificates), [env.BULWARK_FINGERPRINT]);
  // With a kept ticket the password is not used: a wrong one still works.
  const second = await runClient(['list'], { ...env, BULWARK_PASSWORD: 'not-the-password' });
  assert.equal(second.code, 0, second.stderr);
  assert.equal(readCache().tickets[key]!.ticket, cache.tickets[key]!.ticket);
});

test('a kept ticket the server refuses is replaced by a fresh login', async () => {
  assert.equal((await runClient(['list'], env)).code, 0);
  const cache = readCache();
  const key = `admin@pbs@127.0.0.1:${server.port}`;
  const forged = cache.tickets[key]!.ticket.replace(/::.*$/, `::${'A'.repeat(86)}`);
  cache.tickets[key] = { ...cache.tickets[key]!, ticket: forged };
  writeFileSync(cacheFile(), JSON.stringify(cache));
  const r = await runClient(['snapshot', 'list'], env);
  assert.equal(r.code, 0, r.stderr);
  const renewed = readCache().tickets[key]!.ticket;
  assert.notEqual(renewed, forged);
  assert.match(renewed, /^PBS:admin@pbs:/);
  // A refused ticket and a wrong password: the login's own error.
  const again = readCache();
  again.tickets[key] = { ...again.tickets[key]!, ticket: forged };
  writeFileSync(cacheFile(), JSON.stringify(again));
  const denied = await runClient(['list'], { ...env, BULWARK_PASSWORD: 'not-the-password' });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /authentication failed/);
});

test('a kept certificate the server no longer presents gives the fingerprint mismatch, not a TLS error', async () => {
  const files = { keyFile: join(work, 'other.key'), certFile: join(work, 'other.pem') };
  await ensureSelfSignedCertificate(files);
  const otherPin = certificateFingerprint(files.certFile);
  writeFileSync(cacheFile(), JSON.stringify({ tickets: {}, certificates: { [otherPin]: readFileSync(files.certFile, 'utf8') } }));
  const r = await runClient(['list'], { ...env, BULWARK_FINGERPRINT: otherPin });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /does not match the pinned/);
});

test('without a pin, the server\'s self-signed certificate is refused with its fingerprint to check and pin', async () => {
  const { BULWARK_FINGERPRINT: pin, ...unpinned } = env;
  const r = await runClient(['list'], { ...unpinned, BULWARK_FINGERPRINT: undefined });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `bulwark-client: authentication failed: the certificate of 127.0.0.1:${server.port} is not trusted (self-signed certificate); `
    + `if its fingerprint ${pin} is the one the server printed at start, pin it with --fingerprint or BULWARK_FINGERPRINT\n`);
});

test('without BULWARK_PASSWORD a kept ticket will do; else the password is asked on a terminal, and refused clearly off one', async () => {
  const { BULWARK_PASSWORD: _password, ...rest } = env;
  const noPassword = { ...rest, BULWARK_PASSWORD: undefined };
  assert.equal((await runClient(['list'], env)).code, 0); // a ticket is kept
  const kept = await runClient(['list', '--output-format', 'json'], noPassword);
  assert.equal(kept.code, 0, kept.stderr);

  const fresh = { ...noPassword, XDG_RUNTIME_DIR: join(work, 'run-empty') };
  const refused = await runClient(['list'], fresh);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr, 'bulwark-client: invalid value for password: missing: set BULWARK_PASSWORD (the password, or the API token secret), or run on a terminal to be asked for it\n');
  const asked = await runClientOnTerminal(['list', '--output-format', 'json'], fresh, [{ after: /Password for "admin@pbs": /, type: `${PASSWORD}\n` }]);
  assert.equal(asked.code, 0, asked.stdout.toString());
  assert.doesNotMatch(asked.stdout.toString(), new RegExp(PASSWORD));
});
