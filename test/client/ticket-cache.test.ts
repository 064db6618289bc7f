import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSelfSignedCertificate, certificateFingerprint } from '../../config/tls.ts';
import { REUSE_SECONDS, TicketCache } from '../../client/ticket-cache.ts';

function runtimeDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ticket-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('no runtime directory, no cache', () => {
  assert.equal(TicketCache.fromEnv({}), undefined);
  assert.equal(TicketCache.fromEnv({ XDG_RUNTIME_DIR: '' }), undefined);
});

test('a ticket is kept per server and auth id, private to the user, and reused for an hour only', (t) => {
  const dir = runtimeDir(t);
  let now = 1_800_000_000;
  const cache = TicketCache.fromEnv({ XDG_RUNTIME_DIR: dir }, () => now)!;
  assert.equal(cache.ticket('h:8007', 'admin@pbs'), undefined);
  cache.storeTicket('h:8007', 'admin@pbs', 'PBS:admin@pbs:1::sig', 'csrf');
  assert.deepEqual(cache.ticket('h:8007', 'admin@pbs'), { ticket: 'PBS:admin@pbs:1::sig', csrf: 'csrf', issued: now });
  assert.equal(cache.ticket('h:8008', 'admin@pbs'), undefined);
  assert.equal(cache.ticket('h:8007', 'backup@pbs'), undefined);
  assert.equal(statSync(cache.path).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'bulwark')).mode & 0o777, 0o700);
  now += REUSE_SECONDS - 1;
  assert.ok(cache.ticket('h:8007', 'admin@pbs'));
  now += 1;
  assert.equal(cache.ticket('h:8007', 'admin@pbs'), undefined, 'an hour old: log in again');
  cache.storeTicket('h:8008', 'admin@pbs', 'other', 'c2');
  assert.deepEqual(Object.keys((JSON.parse(readFileSync(cache.path, 'utf8')) as { tickets: object }).tickets), ['admin@pbs@h:8008'], 'expired entries dropped on write');
  cache.forgetTicket('h:8008', 'admin@pbs');
  assert.equal(cache.ticket('h:8008', 'admin@pbs'), undefined);
});

test('a damaged cache file is ignored and replaced', (t) => {
  const dir = runtimeDir(t);
  const cache = TicketCache.fromEnv({ XDG_RUNTIME_DIR: dir })!;
  cache.storeTicket('h:1', 'a@pbs', 't', 'c');
  for (const junk of ['{not json', 'null', '{"tickets":{"a@pbs@h:1":{"ticket":1}},"certificates":{}}']) {
    writeFileSync(cache.path, junk);
    assert.equal(cache.ticket('h:1', 'a@pbs'), undefined);
  }
  cache.storeTicket('h:1', 'a@pbs', 't2', 'c2');
  assert.equal(cache.ticket('h:1', 'a@pbs')?.ticket, 't2');
});

test('a certificate is returned only under its own fingerprint', async (t) => {
  const dir = runtimeDir(t);
  const files = { keyFile: join(dir, 'k.pem'), certFile: join(dir, 'c.pem') };
  await ensureSelfSignedCertificate(files);
  const pem = readFileSync(files.certFile, 'utf8');
  const fp = certificateFingerprint(files.certFile);
  const cache = TicketCache.fromEnv({ XDG_RUNTIME_DIR: dir })!;
  cache.storeCertificate(fp, pem);
  assert.equal(cache.certificate(fp), pem);
  const other = '00'.repeat(32).match(/../g)!.join(':');
  cache.storeCertificate(other, pem); // kept under a fingerprint that is not its own
  assert.equal(cache.certificate(other), undefined);
  cache.storeCertificate(fp, 'not a certificate');
  assert.equal(cache.certificate(fp), undefined);
});
