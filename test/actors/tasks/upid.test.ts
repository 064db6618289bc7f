import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isBulwarkError } from '../../../errors.ts';
import {
  createUpid, escapeWorkerId, formatUpid, isLocalUpid, isProcessRunning, parseUpid, processStartTime, selfProcess,
  unescapeWorkerId, type Upid,
} from '../../../actors/tasks/upid.ts';

const PBS_EXAMPLE = 'UPID:elsa:00004F37:0039E469:00000000:5CA78B83:garbage_collection::root@pam:';

const hasCode = (code: string) => (err: unknown) => isBulwarkError(err) && err.code === code;

describe('UPID text form', () => {
  test('parses and re-renders PBS\'s own example byte for byte', () => {
    const u = parseUpid(PBS_EXAMPLE);
    assert.deepEqual(u, {
      node: 'elsa', pid: 0x4f37, pstart: 0x39e469, taskId: 0, startTime: 0x5ca78b83,
      workerType: 'garbage_collection', authId: 'root@pam',
    });
    assert.equal(formatUpid(u), PBS_EXAMPLE);
  });

  test('numbers are upper-case hex padded to 8; pstart may have 9 digits and task id 16', () => {
    const u: Upid = { node: 'pbs1', pid: 10, pstart: 0x1_0000_00ab, taskId: 0x1234_5678_9a, startTime: 0xabc, workerType: 'verify', authId: 'root@pam' };
    const text = formatUpid(u);
    assert.equal(text, 'UPID:pbs1:0000000A:1000000AB:123456789A:00000ABC:verify::root@pam:');
    assert.deepEqual(parseUpid(text), u);
    // Lower-case hex is accepted on input, as PBS's regex does.
    assert.deepEqual(parseUpid(text.toLowerCase().replace('upid:', 'UPID:')), { ...u });
  });

  test('worker ids are escaped like systemd unit names and round-trip', () => {
    assert.equal(escapeWorkerId('store1:vm/100'), 'store1\\x3avm-100');
    assert.equal(escapeWorkerId('a-b_c.d'), 'a\\x2db_c.d');
    assert.equal(escapeWorkerId('.x.y'), '\\x2ex.y');
    assert.equal(escapeWorkerId('ü'), '\\xc3\\xbc');
    const odd = ['store1:vm/100', 'ns/a/ns/b:host/web-01/2024-01-01T00:00:00Z', '.hidden', 'sp ace\ttab', 'back\\slash', 'ümlaut €', '-', '/', '::'];
    for (const workerId of odd) {
      const u: Upid = { node: 'n', pid: 1, pstart: 2, taskId: 3, startTime: 4, workerType: 'backup', workerId, authId: 'backup@pbs!my-token_1' };
      const text = formatUpid(u);
      assert.equal(text.split(':').length, 10, `escaped id of ${JSON.stringify(workerId)} holds no ':'`);
      assert.doesNotMatch(text, /\s/);
      assert.deepEqual(parseUpid(text), u);
      assert.equal(unescapeWorkerId(escapeWorkerId(workerId)), workerId);
    }
  });

  test('auth ids with API token names are kept verbatim', () => {
    const text = 'UPID:node-1:00000001:00000002:00000003:65000000:sync:remote1\\x3astore:sync@pbs!job-runner:';
    const u = parseUpid(text);
    assert.equal(u.authId, 'sync@pbs!job-runner');
    assert.equal(u.workerId, 'remote1:store');
    assert.equal(formatUpid(u), text);
  });

  test('malformed UPIDs are refused with BULWARK_BAD_UPID (400)', () => {
    const bad = [
      '', 'UPID', PBS_EXAMPLE.slice(0, -1), PBS_EXAMPLE.replace('UPID:', 'upid:'), PBS_EXAMPLE + 'x',
      PBS_EXAMPLE.replace('elsa', '-elsa'), PBS_EXAMPLE.replace('elsa', 'el_sa'), PBS_EXAMPLE.replace('elsa', ''),
      PBS_EXAMPLE.replace('00004F37', '4F37'), PBS_EXAMPLE.replace('00004F37', '00004G37'),
      PBS_EXAMPLE.replace('0039E469', '0039E4690A'), PBS_EXAMPLE.replace('5CA78B83', '05CA78B83'),
      PBS_EXAMPLE.replace('garbage_collection', ''), PBS_EXAMPLE.replace('root@pam', ''),
      PBS_EXAMPLE.replace('root@pam', 'root @pam'), PBS_EXAMPLE.replace('::', ':a:b:'),
      PBS_EXAMPLE.replace('::', ':\\x3:'), PBS_EXAMPLE.replace('::', ':\\y41:'), PBS_EXAMPLE.replace('::', ':ab\\x:'),
      PBS_EXAMPLE.replace('::', ':\\xff:'), // not UTF-8 once unescaped
      'UPID:n:00000001:00000002:FFFFFFFFFFFFFFFF:00000004:t::a@pam:', // task id beyond 2^53
    ];
    for (const text of bad) {
      assert.throws(() => parseUpid(text), (err: unknown) => hasCode('BULWARK_BAD_UPID')(err) && (err as { http: number }).http === 400, text);
    }
    assert.throws(() => parseUpid(42 as unknown as string), hasCode('BULWARK_BAD_UPID'));
  });

  test('formatUpid refuses fields that would not parse back', () => {
    const good: Upid = { node: 'n', pid: 1, pstart: 2, taskId: 3, startTime: 4, workerType: 'gc', authId: 'root@pam' };
    for (const patch of [
      { workerType: 'a:b' }, { workerType: 'a b' }, { workerType: '' }, { authId: 'root@pam:x' }, { authId: '' },
      { node: 'a.b' }, { pid: -1 }, { pid: 2 ** 32 }, { startTime: 1.5 }, { pstart: 2 ** 36 },
    ]) {
      assert.throws(() => formatUpid({ ...good, ...patch }), hasCode('BULWARK_INVALID_ARGUMENT'), JSON.stringify(patch));
    }
  });
});

describe('UPIDs of this process', () => {
  test('createUpid counts task ids up per process and names this process', () => {
    const a = createUpid({ node: 'n', workerType: 'gc', authId: 'root@pam', startTime: 100 });
    const b = createUpid({ node: 'n', workerType: 'gc', workerId: 'store', authId: 'root@pam', startTime: 100 });
    assert.equal(b.upid.taskId, a.upid.taskId + 1);
    assert.notEqual(a.text, b.text);
    assert.deepEqual(parseUpid(b.text), b.upid);
    assert.equal(a.upid.pid, process.pid);
    assert.equal(a.upid.pstart, selfProcess().pstart);
    assert.ok(isLocalUpid(a.upid));
    assert.ok(isProcessRunning(process.pid, selfProcess().pstart));
    assert.ok(!isProcessRunning(process.pid, selfProcess().pstart + 1), 'same pid, other start: another process');
    assert.throws(() => createUpid({ node: 'n', workerType: 'a/b', authId: 'root@pam', startTime: 1 }), hasCode('BULWARK_INVALID_ARGUMENT'));
  });

  test('process start times come from /proc, and a missing process has none', () => {
    assert.equal(processStartTime(process.pid), selfProcess().pstart);
    assert.equal(processStartTime(0x7fff_fff0), undefined);
    assert.ok(!isProcessRunning(0x7fff_fff0, 1));
  });
});
