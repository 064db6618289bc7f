import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRemotes, readRemotePassword, saveRemote, validateRemote } from '../../config/remote-config.ts';
import { groupFilterProblem, loadSyncJobs, saveSyncJob, validateSyncJob } from '../../config/sync-job-config.ts';
import { isCidr, loadTrafficControl, parseHumanByte, timeframeProblem, validateTrafficControlRule } from '../../config/traffic-control-config.ts';
import { removeDir, tempDir } from '../helpers/chunk-fixtures.ts';

const dir = tempDir('bulwark-remote-sync-');
after(() => removeDir(dir));

describe('byte sizes, networks, time frames (PBS HumanByte, CIDR, daily duration)', () => {
  test('HumanByte parses SI and IEC units and prints as PBS does', () => {
    for (const [input, text, bytes] of [
      ['14', '14 B', 14], ['1300 b', '1300 B', 1300], ['1.5kb', '1.5 KB', 1500], ['2Ki', '2 KiB', 2048],
      ['2.3456MiB', '2.346 MiB', 2.3456 * 2 ** 20], ['4gib', '4 GiB', 4 * 2 ** 30], ['2.0GB', '2 GB', 2e9],
    ] as const) {
      assert.deepEqual(parseHumanByte(input), { text, bytes }, input);
    }
    for (const bad of ['-10', 'fast', '10 XB', '', '1e3']) assert.equal(parseHumanByte(bad), undefined, bad);
  });

  test('CIDR and time frames', () => {
    for (const ok of ['10.0.0.0/8', '0.0.0.0/0', 'fd00::/8', '::1/128']) assert.ok(isCidr(ok), ok);
    for (const bad of ['10.0.0.0', '10.0.0.0/33', 'fd00::/129', 'host/8', '10.0.0.0/x']) assert.ok(!isCidr(bad), bad);
    for (const ok of ['8:00-17:30', 'mon..fri 8-18', 'sat,sun 10-14', 'monday..wednesday,fri 0:00-23:59']) assert.equal(timeframeProblem(ok), undefined, ok);
    assert.match(timeframeProblem('18:00-8:00')!, /end time before start time/);
    assert.match(timeframeProblem('funday 8-9')!, /weekday/);
    assert.match(timeframeProblem('24:00-25:00')!, /hours 0-23/);
  });

  test('a rule needs at least one network; fields are named when bad', () => {
    assert.throws(() => validateTrafficControlRule({ name: 'lan', network: [] }), { code: 'BULWARK_INVALID_ARGUMENT', message: /network/ });
    assert.throws(() => validateTrafficControlRule({ name: 'lan' }), { code: 'BULWARK_INVALID_ARGUMENT', message: /network: is required/ });
    assert.deepEqual(validateTrafficControlRule({ name: 'lan', network: [' 10.0.0.0/8 '], 'rate-in': 500000 }), { name: 'lan', network: ['10.0.0.0/8'], 'rate-in': '500000 B' });
  });

  test('a bad file is BULWARK_CONFIG_INVALID naming file, rule and field', () => {
    const file = join(dir, 'traffic-control.json');
    writeFileSync(file, JSON.stringify({ lan: { network: ['10.0.0.0/8'], timeframe: ['late'] } }));
    assert.throws(() => loadTrafficControl(file), { code: 'BULWARK_CONFIG_INVALID', message: /traffic-control\.json.*"lan"\.timeframe/ });
  });
});

describe('remotes', () => {
  const files = { config: join(dir, 'remote.json'), shadow: join(dir, 'remote.shadow') };

  test('a new remote needs a password; a refused save writes neither file', () => {
    assert.throws(() => saveRemote(files, { name: 'far', host: 'h.example', 'auth-id': 'a@pbs' }, undefined), { code: 'BULWARK_INVALID_ARGUMENT', message: /password/ });
    assert.equal(existsSync(files.config), false);
    assert.equal(existsSync(files.shadow), false);
    saveRemote(files, { name: 'far', host: 'h.example', 'auth-id': 'a@pbs' }, 'pw-1');
    const { digest } = loadRemotes(files.config);
    saveRemote(files, { name: 'far', host: 'h.example', port: 8008, 'auth-id': 'a@pbs' }, undefined, digest);
    assert.equal(readRemotePassword(files.shadow, 'far'), 'pw-1', 'no password means keep the stored one');
    assert.throws(() => saveRemote(files, { name: 'far', host: 'other.example', 'auth-id': 'a@pbs' }, 'pw-2', digest), { code: 'BULWARK_CONFIG_DIGEST' });
    assert.equal(readRemotePassword(files.shadow, 'far'), 'pw-1');
    assert.equal(loadRemotes(files.config).data.far!.port, 8008);
  });

  test('field checks name the parameter', () => {
    for (const [input, field] of [
      [{ name: 'ab', host: 'h', 'auth-id': 'a@pbs' }, 'name'],
      [{ name: 'abc', host: 'h', port: 70000, 'auth-id': 'a@pbs' }, 'port'],
      [{ name: 'abc', host: 'h', 'auth-id': 'a@pbs', password: 'x' }, 'password'],
    ] as const) {
      assert.throws(() => validateRemote(input), { code: 'BULWARK_INVALID_ARGUMENT', message: new RegExp(field) }, field);
    }
  });
});

describe('sync jobs', () => {
  test('group filters: PBS forms accepted, include: dropped when stored', () => {
    for (const ok of ['type:vm', 'exclude:type:host', 'group:ct/100', 'include:regex:^web-\\d+$']) assert.equal(groupFilterProblem(ok), undefined, ok);
    for (const bad of ['type:disk', 'group:vm', 'group:vm/a/b', 'regex:(', 'vm/100']) assert.notEqual(groupFilterProblem(bad), undefined, bad);
    const job = validateSyncJob({ id: 'j', store: 'a', remote: 'far', 'remote-store': 'b', 'group-filter': ['include:type:vm', 'exclude:group:vm/1'] });
    assert.deepEqual(job['group-filter'], ['type:vm', 'exclude:group:vm/1']);
  });

  test("PBS's cross-field rules: no local sync onto itself, remote-ns depth bounds max-depth", () => {
    assert.throws(() => validateSyncJob({ id: 'j', store: 'a', 'remote-store': 'a' }), { code: 'BULWARK_INVALID_ARGUMENT', message: /remote-store/ });
    assert.ok(validateSyncJob({ id: 'j', store: 'a', remote: 'far', 'remote-store': 'a' }));
    assert.throws(() => validateSyncJob({ id: 'j', store: 'a', remote: 'far', 'remote-store': 'b', 'remote-ns': 'x/y/z', 'max-depth': 5 }), { code: 'BULWARK_INVALID_ARGUMENT', message: /max-depth/ });
  });

  test('saved and loaded back; a file breaking a cross-field rule is BULWARK_CONFIG_INVALID', () => {
    const file = join(dir, 'sync.json');
    saveSyncJob(file, { id: 'j', store: 'a', remote: 'far', 'remote-store': 'a', 'rate-in': '10 MiB', 'transfer-last': 2 });
    assert.deepEqual(loadSyncJobs(file).data.j, { id: 'j', store: 'a', remote: 'far', 'remote-store': 'a', 'rate-in': '10 MiB', 'transfer-last': 2 });
    writeFileSync(file, readFileSync(file, 'utf8').replace('"remote": "far",', ''));
    assert.throws(() => loadSyncJobs(file), { code: 'BULWARK_CONFIG_INVALID', message: /sync job j\.remote-store/ });
  });
});
