import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRepository } from '../../client/repository.ts';

test('repository specs after proxmox-backup-client', () => {
  const cases: [string, ReturnType<typeof parseRepository>][] = [
    ['store1', { authid: 'admin@pbs', host: 'localhost', port: 8007, store: 'store1' }],
    ['backup.example:store1', { authid: 'admin@pbs', host: 'backup.example', port: 8007, store: 'store1' }],
    ['127.0.0.1:8443:s', { authid: 'admin@pbs', host: '127.0.0.1', port: 8443, store: 's' }],
    ['alice@pbs@host:s', { authid: 'alice@pbs', host: 'host', port: 8007, store: 's' }],
    ['alice@pbs!ci@host:9000:s', { authid: 'alice@pbs!ci', host: 'host', port: 9000, store: 's' }],
    ['bob@pbs@[::1]:8007:s', { authid: 'bob@pbs', host: '::1', port: 8007, store: 's' }],
    ['[::1]:s', { authid: 'admin@pbs', host: '::1', port: 8007, store: 's' }],
  ];
  for (const [spec, want] of cases) assert.deepEqual(parseRepository(spec), want, spec);
});

test('bad repository specs give BULWARK_INVALID_ARGUMENT naming the problem', () => {
  for (const [spec, why] of [
    ['', /empty/],
    ['host:99999:s', /bad port/],
    ['host:0:s', /bad port/],
    ['a:b:c:d', /too many/],
    ['host:../x', /bad datastore name/],
    ['[::1:s', /unclosed/],
    ['bad user@pbs@host:s', /bad auth id/],
  ] as const) {
    assert.throws(() => parseRepository(spec), (e: Error & { code?: string }) => e.code === 'BULWARK_INVALID_ARGUMENT' && why.test(e.message), spec);
  }
});
