import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isBulwarkError } from '../../../errors.ts';
import {
  ABORT_MESSAGE, TaskLogWriter, exitStatusText, listTaskLogs, parseTaskEnd, readTaskEnd, readTaskLog, taskLogDir, taskLogPath,
} from '../../../actors/tasks/task-log.ts';
import { parseUpid } from '../../../actors/tasks/upid.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const hasCode = (code: string) => (err: unknown) => isBulwarkError(err) && err.code === code;
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5); // 2024-01-02T03:04:05Z
let seq = 0;
const freshPath = (): string => path.join(tmp, `log-${seq++}`);
const lines = (p: string): string[] => fs.readFileSync(p, 'utf8').split('\n').slice(0, -1);

describe('TaskLogWriter', () => {
  test('writes time-prefixed lines and PBS end lines for each state', () => {
    let now = T0;
    const cases = [
      { result: { state: 'ok' as const }, warn: 0, last: 'TASK OK', exit: 'OK' },
      { result: { state: 'ok' as const }, warn: 2, last: 'TASK WARNINGS: 2', exit: 'WARNINGS: 2' },
      { result: { state: 'warnings' as const }, warn: 1, last: 'TASK WARNINGS: 1', exit: 'WARNINGS: 1' },
      { result: { state: 'error' as const, message: 'disk\nfull' }, warn: 0, last: 'TASK ERROR: disk full', exit: 'disk full' },
      { result: { state: 'aborted' as const }, warn: 0, last: `TASK ERROR: ${ABORT_MESSAGE}`, exit: ABORT_MESSAGE },
    ];
    for (const c of cases) {
      now = T0;
      const p = freshPath();
      const w = TaskLogWriter.create(p, () => now);
      w.log('starting');
      for (let i = 0; i < c.warn; i++) w.warn(`odd thing ${i}`);
      now += 61_000;
      const end = w.finish(c.result);
      assert.equal(exitStatusText(end), c.exit);
      const got = lines(p);
      assert.equal(got[0], '2024-01-02T03:04:05Z: starting');
      if (c.warn > 0) assert.equal(got[1], '2024-01-02T03:04:05Z: WARN: odd thing 0');
      assert.equal(got.at(-1), `${new Date(now).toISOString().replace('.000Z', 'Z')}: ${c.last}`);
      assert.deepEqual(parseTaskEnd(got.at(-1)!), end);
      assert.equal(end.endTime, Math.floor(now / 1000));
      assert.ok(w.finished);
    }
  });

  test('a multi-line message becomes several prefixed lines', () => {
    const p = freshPath();
    const w = TaskLogWriter.create(p, () => T0);
    w.log('first\nsecond\r\nthird');
    w.finish({ state: 'ok' });
    assert.deepEqual(lines(p).slice(0, 3).map((l) => l.slice(22)), ['first', 'second', 'third']);
  });

  test('the file is created exclusively, and a finished writer refuses more lines', () => {
    const p = freshPath();
    const w = TaskLogWriter.create(p, () => T0);
    assert.throws(() => TaskLogWriter.create(p), hasCode('BULWARK_ALREADY_EXISTS'));
    w.finish({ state: 'ok' });
    assert.throws(() => w.log('late'), hasCode('BULWARK_INTERNAL'));
    assert.throws(() => w.finish({ state: 'ok' }), hasCode('BULWARK_INTERNAL'));
  });
});

describe('end lines', () => {
  const at = '2024-01-02T03:04:05Z: ';
  const endTime = T0 / 1000;

  test('each final state parses, PBS wording included', () => {
    assert.deepEqual(parseTaskEnd(`${at}TASK OK`), { state: 'ok', endTime });
    assert.deepEqual(parseTaskEnd(`${at}TASK WARNINGS: 7`), { state: 'warnings', count: 7, endTime });
    assert.deepEqual(parseTaskEnd(`${at}TASK ERROR: chunk missing`), { state: 'error', message: 'chunk missing', endTime });
    assert.deepEqual(parseTaskEnd(`${at}TASK ERROR: ${ABORT_MESSAGE}`), { state: 'aborted', message: ABORT_MESSAGE, endTime });
    const quoted = `task 'UPID:n:00000001:00000002:00000003:65000000:gc::root@pam:': ${ABORT_MESSAGE}`;
    assert.equal(parseTaskEnd(`${at}TASK ERROR: ${quoted}`)?.state, 'aborted');
    assert.equal(parseTaskEnd(`${at}TASK ERROR: task aborted`)?.state, 'aborted');
    assert.deepEqual(parseTaskEnd(`${at}TASK unknown`), { state: 'unknown', endTime });
    // PBS: any other "TASK <text>" is an error with that text.
    assert.deepEqual(parseTaskEnd(`${at}TASK exploded`), { state: 'error', message: 'exploded', endTime });
    // Local time offsets as PBS writes them.
    assert.deepEqual(parseTaskEnd('2024-01-02T04:04:05+01:00: TASK OK'), { state: 'ok', endTime });
  });

  test('lines that are not end lines give undefined', () => {
    for (const line of [`${at}copied 5 chunks`, 'TASK OK', `${at}TASK WARNINGS: many`, `${at}TASK `, 'yesterday: TASK OK', '']) {
      assert.equal(parseTaskEnd(line), undefined, line);
    }
  });

  test('a log without an end line reads as unknown at its last time, or at the start when empty', () => {
    const p = freshPath();
    const w = TaskLogWriter.create(p, () => T0 + 5000);
    w.log('working');
    w.abandon();
    assert.deepEqual(readTaskEnd(p, 1), { state: 'unknown', endTime: endTime + 5 });
    const empty = freshPath();
    fs.writeFileSync(empty, '');
    assert.deepEqual(readTaskEnd(empty, 123), { state: 'unknown', endTime: 123 });
    assert.throws(() => readTaskEnd(path.join(tmp, 'nope'), 1), hasCode('BULWARK_NOT_FOUND'));
  });
});

describe('readTaskLog paging', () => {
  const p = path.join(tmp, 'paged');
  const w = TaskLogWriter.create(p, () => T0);
  for (let i = 1; i < 120; i++) w.log(`line ${i}`);
  w.finish({ state: 'ok' }); // line 120

  test('default page: the first 50 lines, numbered from 1, with the total', async () => {
    const page = await readTaskLog(p);
    assert.equal(page.total, 120);
    assert.equal(page.lines.length, 50);
    assert.deepEqual(page.lines[0], { n: 1, t: '2024-01-02T03:04:05Z: line 1' });
    assert.equal(page.lines[49]!.n, 50);
  });

  test('start is the 1-based first line (0 acts as 1), limit 0 reads to the end', async () => {
    assert.deepEqual((await readTaskLog(p, { start: 1, limit: 3 })).lines, (await readTaskLog(p, { start: 0, limit: 3 })).lines);
    const second = await readTaskLog(p, { start: 51, limit: 50 });
    assert.deepEqual(second.lines.map((l) => l.n), Array.from({ length: 50 }, (_, i) => 51 + i));
    const rest = await readTaskLog(p, { start: 101, limit: 0 });
    assert.equal(rest.lines.length, 20);
    assert.equal(rest.lines.at(-1)!.t, '2024-01-02T03:04:05Z: TASK OK');
    const beyond = await readTaskLog(p, { start: 500 });
    assert.deepEqual(beyond, { total: 120, lines: [] });
  });

  test('bad arguments and missing logs are refused with codes', async () => {
    await assert.rejects(readTaskLog(p, { start: -1 }), hasCode('BULWARK_INVALID_ARGUMENT'));
    await assert.rejects(readTaskLog(p, { limit: 1.5 }), hasCode('BULWARK_INVALID_ARGUMENT'));
    await assert.rejects(readTaskLog(path.join(tmp, 'missing')), hasCode('BULWARK_NOT_FOUND'));
  });
});

describe('log layout', () => {
  test('logs live in a subdirectory named by the low byte of pstart, as PBS does', () => {
    const u = parseUpid('UPID:elsa:00004F37:0039E4AB:00000000:5CA78B83:garbage_collection::root@pam:');
    assert.equal(taskLogDir('/t', u), '/t/AB');
    assert.equal(taskLogPath('/t', u), '/t/AB/UPID:elsa:00004F37:0039E4AB:00000000:5CA78B83:garbage_collection::root@pam:');
  });

  test('listTaskLogs finds UPID-named files only', () => {
    const dir = path.join(tmp, 'tasks');
    const u = parseUpid('UPID:elsa:00004F37:0039E405:00000000:5CA78B83:verify:store1:root@pam:');
    TaskLogWriter.create(taskLogPath(dir, u)).finish({ state: 'ok' });
    fs.writeFileSync(path.join(dir, '05', 'not-a-upid'), '');
    fs.mkdirSync(path.join(dir, 'index.rocksdb'));
    fs.writeFileSync(path.join(dir, 'ZZ'), '');
    const found = [...listTaskLogs(dir)];
    assert.deepEqual(found.map((f) => f.upid), [u]);
    assert.deepEqual([...listTaskLogs(path.join(tmp, 'no-such-dir'))], []);
  });
});
