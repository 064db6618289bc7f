import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configPaths } from '../../config/paths.ts';
import {
  deletePruneJob, loadPruneJobs, savePruneJob, validatePruneJob, type PruneJob,
} from '../../config/prune-job-config.ts';
import {
  deleteVerifyJob, ignoresVerified, loadVerifyJobs, saveVerifyJob, validateVerifyJob, type VerifyJob,
} from '../../config/verify-job-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string): string => join(dir, `${n++}-${name}`);

const PRUNE: PruneJob = {
  id: 'daily-prune', store: 'store1', ns: 'a/b', 'max-depth': 2, schedule: 'mon..fri 02:00',
  'keep-last': 3, 'keep-hourly': 0, 'keep-daily': 7, 'keep-weekly': 4, 'keep-monthly': 6, 'keep-yearly': 1,
  disable: false, comment: 'weekday retention',
};
const VERIFY: VerifyJob = {
  id: 'v1', store: 'store1', ns: 'a', 'max-depth': 6, schedule: '0 3 * * *',
  'ignore-verified': false, 'outdated-after': 30, disable: true, comment: 'nightly',
};

/** Asserts the throw's code and that its message names `name`. */
function rejects(fn: () => unknown, code: string, name: string): void {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.includes(name), `${JSON.stringify(err.message)} should name ${name}`);
    return true;
  });
}

describe('prune jobs', () => {
  test('round trip: save, load, a second job, delete; file mode 0600 and paths', () => {
    const file = fresh('prune.json');
    assert.deepEqual(loadPruneJobs(file).data, {});
    const saved = savePruneJob(file, PRUNE, loadPruneJobs(file).digest);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const loaded = loadPruneJobs(file);
    assert.deepEqual(loaded.data, { 'daily-prune': PRUNE });
    assert.equal(loaded.digest, saved.digest);
    savePruneJob(file, { id: 'minimal', store: 's', schedule: ' daily ' }, loaded.digest);
    assert.deepEqual(loadPruneJobs(file).data.minimal, { id: 'minimal', store: 's', schedule: 'daily' });
    const afterDelete = deletePruneJob(file, 'daily-prune', loadPruneJobs(file).digest);
    assert.deepEqual(Object.keys(afterDelete.data), ['minimal']);
    assert.deepEqual(loadPruneJobs(file), afterDelete);
    assert.equal(configPaths('/var/lib/bulwark').pruneJobs, '/var/lib/bulwark/etc/prune.json');
    assert.equal(configPaths('/var/lib/bulwark').verifyJobs, '/var/lib/bulwark/etc/verification.json');
  });

  test('the root namespace is stored as no ns', () => {
    assert.deepEqual(validatePruneJob({ id: 'r', store: 's', schedule: 'daily', ns: '' }), { id: 'r', store: 's', schedule: 'daily' });
  });

  test('two edits from the same digest: the second gets BULWARK_CONFIG_DIGEST and the file keeps the first', () => {
    const file = fresh('prune.json');
    savePruneJob(file, PRUNE);
    const seenByBoth = loadPruneJobs(file).digest;
    savePruneJob(file, { ...PRUNE, 'keep-last': 10 }, seenByBoth);
    const kept = readFileSync(file, 'utf8');
    assert.throws(() => savePruneJob(file, { ...PRUNE, 'keep-last': 1 }, seenByBoth), { code: 'BULWARK_CONFIG_DIGEST' });
    assert.throws(() => deletePruneJob(file, PRUNE.id, seenByBoth), { code: 'BULWARK_CONFIG_DIGEST' });
    assert.equal(readFileSync(file, 'utf8'), kept);
    assert.equal(loadPruneJobs(file).data[PRUNE.id]?.['keep-last'], 10);
  });

  test('deleting a job that is not there is BULWARK_NOT_FOUND and writes nothing', () => {
    const file = fresh('prune.json');
    savePruneJob(file, PRUNE);
    const before = readFileSync(file, 'utf8');
    rejects(() => deletePruneJob(file, 'nope'), 'BULWARK_NOT_FOUND', 'nope');
    assert.equal(readFileSync(file, 'utf8'), before);
  });

  const badPrune: Array<[string, Record<string, unknown>]> = [
    ['id', { id: '.hidden' }], ['id', { id: 'x'.repeat(33) }], ['id', { id: 'a/b' }], ['id', { id: undefined }],
    ['store', { store: '../etc' }], ['store', { store: 7 }], ['store', { store: undefined }],
    ['ns', { ns: 'a//b' }], ['ns', { ns: 'a/../b' }], ['ns', { ns: 'a/b/c/d/e/f/g/h' }], ['ns', { ns: 3 }],
    ['max-depth', { 'max-depth': 8 }], ['max-depth', { 'max-depth': -1 }], ['max-depth', { 'max-depth': 1.5 }],
    ['max-depth', { ns: 'a/b/c/d/e', 'max-depth': 3 }],
    ['keep-last', { 'keep-last': -1 }], ['keep-hourly', { 'keep-hourly': 1.5 }], ['keep-daily', { 'keep-daily': '7' }],
    ['keep-weekly', { 'keep-weekly': null }], ['keep-monthly', { 'keep-monthly': true }], ['keep-yearly', { 'keep-yearly': 2 ** 53 }],
    ['disable', { disable: 'yes' }], ['comment', { comment: 'two\nlines' }], ['comment', { comment: 5 }],
    ['schedule', { schedule: undefined }], ['keep-dayly', { 'keep-dayly': 7 }],
  ];

  for (const [name, patch] of badPrune) {
    test(`API input with a bad ${name} (${JSON.stringify(patch)}) is BULWARK_INVALID_ARGUMENT naming it`, () => {
      rejects(() => validatePruneJob({ ...PRUNE, ...patch }), 'BULWARK_INVALID_ARGUMENT', name);
      rejects(() => savePruneJob(fresh('prune.json'), { ...PRUNE, ...patch } as PruneJob), 'BULWARK_INVALID_ARGUMENT', name);
    });
  }

  test('a bad schedule is BULWARK_BAD_SCHEDULE from the API and CONFIG_INVALID naming the field on disk', () => {
    rejects(() => validatePruneJob({ ...PRUNE, schedule: 'sometimes' }), 'BULWARK_BAD_SCHEDULE', 'sometimes');
    rejects(() => validatePruneJob({ ...PRUNE, schedule: 42 }), 'BULWARK_BAD_SCHEDULE', '42');
    const file = fresh('prune.json');
    writeFileSync(file, JSON.stringify({ j: { store: 's', schedule: '25:00' } }));
    rejects(() => loadPruneJobs(file), 'BULWARK_CONFIG_INVALID', 'prune job j.schedule');
  });

  test('API input that is not an object is BULWARK_INVALID_ARGUMENT', () => {
    for (const input of [null, 'job', [PRUNE]]) rejects(() => validatePruneJob(input), 'BULWARK_INVALID_ARGUMENT', 'prune job');
  });

  const badFiles: Array<[string, unknown]> = [
    ['prune job config', []],
    ['prune job j', { j: 'not an object' }],
    ['prune job "../x".id', { '../x': { store: 's', schedule: 'daily' } }],
    ['prune job j.id', { j: { id: 'k', store: 's', schedule: 'daily' } }],
    ['prune job j.store', { j: { schedule: 'daily' } }],
    ['prune job j.keep-last', { j: { store: 's', schedule: 'daily', 'keep-last': -2 } }],
    ['prune job j.max-depth', { j: { store: 's', schedule: 'daily', 'max-depth': 9 } }],
    ['prune job j.ns', { j: { store: 's', schedule: 'daily', ns: '/a' } }],
    ['prune job j.keep-dayly', { j: { store: 's', schedule: 'daily', 'keep-dayly': 1 } }],
  ];

  for (const [field, content] of badFiles) {
    test(`a file with a bad ${field} is BULWARK_CONFIG_INVALID naming the file and field`, () => {
      const file = fresh('prune.json');
      writeFileSync(file, JSON.stringify(content));
      rejects(() => loadPruneJobs(file), 'BULWARK_CONFIG_INVALID', field);
      rejects(() => loadPruneJobs(file), 'BULWARK_CONFIG_INVALID', file);
    });
  }

  test('a file entry may repeat its id when it matches the key', () => {
    const file = fresh('prune.json');
    writeFileSync(file, JSON.stringify({ j: { id: 'j', store: 's', schedule: 'daily' } }));
    assert.deepEqual(loadPruneJobs(file).data, { j: { id: 'j', store: 's', schedule: 'daily' } });
  });
});

describe('verify jobs', () => {
  test('round trip, ignore-verified default, delete, file mode 0600', () => {
    const file = fresh('verification.json');
    const first = saveVerifyJob(file, VERIFY, loadVerifyJobs(file).digest);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    saveVerifyJob(file, { id: 'manual', store: 's' }, first.digest);
    const { data } = loadVerifyJobs(file);
    assert.deepEqual(data, { v1: VERIFY, manual: { id: 'manual', store: 's' } });
    assert.equal(ignoresVerified(data.manual!), true);
    assert.equal(ignoresVerified(data.v1!), false);
    assert.deepEqual(Object.keys(deleteVerifyJob(file, 'v1').data), ['manual']);
    rejects(() => deleteVerifyJob(file, 'v1'), 'BULWARK_NOT_FOUND', 'v1');
  });

  test('two edits from the same digest: the second gets BULWARK_CONFIG_DIGEST and the file keeps the first', () => {
    const file = fresh('verification.json');
    const seenByBoth = loadVerifyJobs(file).digest;
    saveVerifyJob(file, VERIFY, seenByBoth);
    const kept = readFileSync(file, 'utf8');
    assert.throws(() => saveVerifyJob(file, { ...VERIFY, id: 'other' }, seenByBoth), { code: 'BULWARK_CONFIG_DIGEST' });
    assert.equal(readFileSync(file, 'utf8'), kept);
    assert.deepEqual(Object.keys(loadVerifyJobs(file).data), ['v1']);
  });

  const badVerify: Array<[string, Record<string, unknown>]> = [
    ['id', { id: '-x' }], ['store', { store: '' }], ['ns', { ns: 'a b' }], ['max-depth', { 'max-depth': 'all' }],
    ['max-depth', { ns: 'a/b/c/d/e/f/g', 'max-depth': 1 }],
    ['ignore-verified', { 'ignore-verified': 1 }], ['outdated-after', { 'outdated-after': -30 }],
    ['outdated-after', { 'outdated-after': 0.5 }], ['disable', { disable: 0 }], ['comment', { comment: 'a\u0007' }],
    ['keep-last', { 'keep-last': 1 }],
  ];

  for (const [name, patch] of badVerify) {
    test(`API input with a bad ${name} (${JSON.stringify(patch)}) is BULWARK_INVALID_ARGUMENT naming it`, () => {
      rejects(() => validateVerifyJob({ ...VERIFY, ...patch }), 'BULWARK_INVALID_ARGUMENT', name);
    });
  }

  test('a bad schedule is BULWARK_BAD_SCHEDULE; none at all is fine', () => {
    rejects(() => validateVerifyJob({ ...VERIFY, schedule: 'every tuesday' }), 'BULWARK_BAD_SCHEDULE', 'every tuesday');
    const { schedule: _none, ...manual } = VERIFY;
    assert.deepEqual(validateVerifyJob(manual), manual);
  });

  test('a file with a bad field is BULWARK_CONFIG_INVALID naming the file and field', () => {
    const file = fresh('verification.json');
    writeFileSync(file, JSON.stringify({ v: { store: 's', 'outdated-after': 'soon' } }));
    rejects(() => loadVerifyJobs(file), 'BULWARK_CONFIG_INVALID', 'verify job v.outdated-after');
    rejects(() => loadVerifyJobs(file), 'BULWARK_CONFIG_INVALID', file);
    writeFileSync(file, JSON.stringify({ v: { store: 's', schedule: 'never ever' } }));
    rejects(() => loadVerifyJobs(file), 'BULWARK_CONFIG_INVALID', 'verify job v.schedule');
    writeFileSync(file, '{ not json');
    rejects(() => loadVerifyJobs(file), 'BULWARK_CONFIG_INVALID', file);
  });
});
