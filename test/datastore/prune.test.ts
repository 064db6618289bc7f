import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hasKeepRules, prunePeriodKey, selectPrune, type KeepOptions, type PruneMark } from '../../datastore/prune.ts';

interface Snap { name: string; time: number; finished: boolean; protected: boolean }

/** A snapshot named by its UTC time ('2026-11-24T10:00'), finished and unprotected unless told. */
function snap(iso: string, opts: { finished?: boolean; protected?: boolean } = {}): Snap {
  return { name: iso, time: Date.parse(`${iso}Z`) / 1000, finished: opts.finished ?? true, protected: opts.protected ?? false };
}

/** One snapshot per day at 12:00 UTC, from `first` through `last` (inclusive). */
function daily(first: string, last: string): Snap[] {
  const out: Snap[] = [];
  for (let t = Date.parse(`${first}T12:00Z`); t <= Date.parse(`${last}T12:00Z`); t += 86_400_000) {
    out.push(snap(new Date(t).toISOString().slice(0, 16)));
  }
  return out;
}

const run = (items: Snap[], opts: KeepOptions, timeZone?: string) => selectPrune(items, opts, { timeZone });
const marks = (items: Snap[], opts: KeepOptions, timeZone?: string): Array<[string, PruneMark]> =>
  run(items, opts, timeZone).map((d) => [d.item.name, d.mark]);
const keptNames = (items: Snap[], opts: KeepOptions, timeZone?: string): string[] =>
  run(items, opts, timeZone).filter((d) => d.mark !== 'remove').map((d) => d.item.name);
const reasonOf = (items: Snap[], opts: KeepOptions, name: string): string =>
  run(items, opts).find((d) => d.item.name === name)!.reason;

describe('each rule alone', () => {
  test('keep-last keeps the N newest, newest first in the result', () => {
    const items = [snap('2026-11-20T10:00'), snap('2026-11-24T10:00'), snap('2026-11-22T10:00'), snap('2026-11-21T10:00'), snap('2026-11-23T10:00')];
    assert.deepEqual(marks(items, { keepLast: 3 }), [
      ['2026-11-24T10:00', 'keep'], ['2026-11-23T10:00', 'keep'], ['2026-11-22T10:00', 'keep'],
      ['2026-11-21T10:00', 'remove'], ['2026-11-20T10:00', 'remove'],
    ]);
    assert.equal(reasonOf(items, { keepLast: 3 }, '2026-11-24T10:00'), 'keep-last #1');
    assert.equal(reasonOf(items, { keepLast: 3 }, '2026-11-20T10:00'), 'not kept by any rule');
    assert.equal(items[0]!.name, '2026-11-20T10:00', 'input is not reordered');
  });

  test('keep-hourly keeps the newest of each hour and stops after N hours', () => {
    const items = ['10:05', '10:40', '11:10', '11:50', '12:30'].map((t) => snap(`2026-11-24T${t}`));
    assert.deepEqual(marks(items, { keepHourly: 2 }), [
      ['2026-11-24T12:30', 'keep'], ['2026-11-24T11:50', 'keep'], ['2026-11-24T11:10', 'remove'],
      ['2026-11-24T10:40', 'remove'], ['2026-11-24T10:05', 'remove'],
    ]);
    assert.equal(reasonOf(items, { keepHourly: 2 }, '2026-11-24T11:50'), 'keep-hourly 2026/11/24/11');
    assert.equal(reasonOf(items, { keepHourly: 2 }, '2026-11-24T11:10'), 'superseded in its hourly period 2026/11/24/11');
    assert.equal(reasonOf(items, { keepHourly: 2 }, '2026-11-24T10:40'), 'not kept by any rule');
  });

  test('keep-daily', () => {
    const items = ['22T08:00', '22T20:00', '23T08:00', '24T08:00', '24T20:00'].map((t) => snap(`2026-11-${t}`));
    assert.deepEqual(keptNames(items, { keepDaily: 2 }), ['2026-11-24T20:00', '2026-11-23T08:00']);
    assert.equal(reasonOf(items, { keepDaily: 2 }, '2026-11-24T20:00'), 'keep-daily 2026/11/24');
    assert.equal(reasonOf(items, { keepDaily: 2 }, '2026-11-24T08:00'), 'superseded in its daily period 2026/11/24');
  });

  test('keep-weekly uses ISO weeks (Monday to Sunday)', () => {
    // 2026-11-23 is a Monday (week 48); Sunday 11-22 closes week 47.
    const items = daily('2026-11-14', '2026-11-24');
    assert.deepEqual(keptNames(items, { keepWeekly: 3 }), ['2026-11-24T12:00', '2026-11-22T12:00', '2026-11-15T12:00']);
    assert.equal(reasonOf(items, { keepWeekly: 3 }, '2026-11-22T12:00'), 'keep-weekly 2026/47');
  });

  test('keep-monthly', () => {
    const items = daily('2026-08-28', '2026-11-02');
    assert.deepEqual(keptNames(items, { keepMonthly: 3 }), ['2026-11-02T12:00', '2026-10-31T12:00', '2026-09-30T12:00']);
    assert.equal(reasonOf(items, { keepMonthly: 3 }, '2026-10-31T12:00'), 'keep-monthly 2026/10');
  });

  test('keep-yearly', () => {
    const items = [snap('2023-06-01T00:00'), snap('2024-03-01T00:00'), snap('2024-12-31T23:59'), snap('2025-01-01T00:00'), snap('2026-02-01T00:00')];
    assert.deepEqual(keptNames(items, { keepYearly: 3 }), ['2026-02-01T00:00', '2025-01-01T00:00', '2024-12-31T23:59']);
    assert.equal(reasonOf(items, { keepYearly: 3 }, '2024-03-01T00:00'), 'superseded in its yearly period 2024');
  });

  test('a count larger than the list keeps everything', () => {
    const items = daily('2026-11-01', '2026-11-05');
    assert.equal(keptNames(items, { keepDaily: 100 }).length, 5);
  });
});

describe('rules together', () => {
  test('keep-last 3 + daily 7 + weekly 4 + monthly 6 + yearly 2 on a year of daily snapshots', () => {
    const items = daily('2025-12-01', '2026-11-30'); // 365 snapshots, newest a Monday (ISO week 49)
    assert.equal(items.length, 365);
    const opts = { keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 6, keepYearly: 2 };
    const result = run(items, opts);
    const kept = result.filter((d) => d.mark === 'keep').map((d) => [d.item.name.slice(0, 10), d.reason]);
    assert.deepEqual(kept, [
      ['2026-11-30', 'keep-last #1'], ['2026-11-29', 'keep-last #2'], ['2026-11-28', 'keep-last #3'],
      ['2026-11-27', 'keep-daily 2026/11/27'], ['2026-11-26', 'keep-daily 2026/11/26'], ['2026-11-25', 'keep-daily 2026/11/25'],
      ['2026-11-24', 'keep-daily 2026/11/24'], ['2026-11-23', 'keep-daily 2026/11/23'], ['2026-11-22', 'keep-daily 2026/11/22'],
      ['2026-11-21', 'keep-daily 2026/11/21'],
      // Weeks 49, 48 and 47 already hold kept snapshots; weekly starts at week 46.
      ['2026-11-15', 'keep-weekly 2026/46'], ['2026-11-08', 'keep-weekly 2026/45'], ['2026-11-01', 'keep-weekly 2026/44'],
      ['2026-10-25', 'keep-weekly 2026/43'],
      // November and October are covered; monthly starts at September.
      ['2026-09-30', 'keep-monthly 2026/09'], ['2026-08-31', 'keep-monthly 2026/08'], ['2026-07-31', 'keep-monthly 2026/07'],
      ['2026-06-30', 'keep-monthly 2026/06'], ['2026-05-31', 'keep-monthly 2026/05'], ['2026-04-30', 'keep-monthly 2026/04'],
      // 2026 is covered, so yearly only finds 2025, once.
      ['2025-12-31', 'keep-yearly 2025'],
    ]);
    assert.equal(result.filter((d) => d.mark === 'remove').length, 365 - 21);
    const reason = (day: string): string => result.find((d) => d.item.name.startsWith(day))!.reason;
    assert.equal(reason('2026-11-20'), 'superseded in its weekly period 2026/47'); // daily stopped; its week is covered
    assert.equal(reason('2026-11-14'), 'superseded in its weekly period 2026/46');
    assert.equal(reason('2026-10-18'), 'superseded in its monthly period 2026/10');
    assert.equal(reason('2026-03-31'), 'superseded in its yearly period 2026');
    assert.equal(reason('2025-12-30'), 'superseded in its yearly period 2025');
  });

  test('a snapshot kept by keep-last is not counted again by keep-daily', () => {
    const items = ['21', '22', '23', '24'].flatMap((d) => [snap(`2026-11-${d}T08:00`), snap(`2026-11-${d}T20:00`)]);
    // keep-last takes the 24th; keep-daily then needs two *more* days: the 23rd and 22nd.
    assert.deepEqual(keptNames(items, { keepLast: 1, keepDaily: 2 }), ['2026-11-24T20:00', '2026-11-23T20:00', '2026-11-22T20:00']);
    assert.equal(reasonOf(items, { keepLast: 1, keepDaily: 2 }, '2026-11-24T08:00'), 'superseded in its daily period 2026/11/24');
  });

  test('a snapshot a finer rule marked remove is not kept by a coarser one', () => {
    // keep-daily 1 keeps 11-24 20:00 and marks 11-24 08:00 remove; keep-monthly must not revive it.
    const items = [snap('2026-11-24T08:00'), snap('2026-11-24T20:00')];
    assert.deepEqual(marks(items, { keepDaily: 1, keepMonthly: 5 }), [['2026-11-24T20:00', 'keep'], ['2026-11-24T08:00', 'remove']]);
  });

  test('a week spanning two months: weekly coverage does not stop monthly', () => {
    // Week 2026/44 runs Mon 10-26 to Sun 11-01. keep-daily 1 keeps 11-01; weekly 1 skips the
    // rest of week 44 as covered; monthly then finds October still empty and keeps 10-31.
    const items = daily('2026-10-26', '2026-11-01');
    assert.deepEqual(keptNames(items, { keepDaily: 1, keepWeekly: 1, keepMonthly: 2 }), ['2026-11-01T12:00', '2026-10-31T12:00']);
  });
});

describe('protected and unfinished snapshots', () => {
  test('protected snapshots stay wherever they are and count for no rule', () => {
    const items = [
      snap('2026-11-20T10:00', { protected: true }), snap('2026-11-21T10:00'), snap('2026-11-22T10:00', { protected: true }),
      snap('2026-11-23T10:00'), snap('2026-11-24T10:00', { protected: true }), snap('2026-11-19T10:00'),
    ];
    assert.deepEqual(marks(items, { keepLast: 2 }), [
      ['2026-11-24T10:00', 'protected'], ['2026-11-23T10:00', 'keep'], ['2026-11-22T10:00', 'protected'],
      ['2026-11-21T10:00', 'keep'], ['2026-11-20T10:00', 'protected'], ['2026-11-19T10:00', 'remove'],
    ]);
    // A protected snapshot does not fill its day: the day's next snapshot is kept.
    const day = [snap('2026-11-24T08:00'), snap('2026-11-24T20:00', { protected: true })];
    assert.deepEqual(marks(day, { keepDaily: 1 }), [['2026-11-24T20:00', 'protected'], ['2026-11-24T08:00', 'keep']]);
    // Protected beats unfinished, and "keep nothing" rules.
    const odd = [snap('2026-11-24T08:00', { finished: false, protected: true }), snap('2026-11-23T08:00', { finished: false, protected: true }), snap('2026-11-22T08:00')];
    assert.deepEqual(marks(odd, { keepLast: 1 }).map(([, m]) => m), ['protected', 'protected', 'keep']);
    assert.equal(reasonOf(odd, { keepLast: 1 }, '2026-11-23T08:00'), 'protected');
  });

  test('the newest unfinished snapshot is keep-partial, older unfinished ones go', () => {
    const items = [snap('2026-11-24T10:00', { finished: false }), snap('2026-11-23T10:00'), snap('2026-11-22T10:00', { finished: false }), snap('2026-11-21T10:00')];
    assert.deepEqual(marks(items, { keepLast: 5 }), [
      ['2026-11-24T10:00', 'keep-partial'], ['2026-11-23T10:00', 'keep'], ['2026-11-22T10:00', 'remove'], ['2026-11-21T10:00', 'keep'],
    ]);
    assert.match(reasonOf(items, { keepLast: 5 }, '2026-11-24T10:00'), /^unfinished, newest/);
    assert.match(reasonOf(items, { keepLast: 5 }, '2026-11-22T10:00'), /^unfinished/);
    // keep-partial counts for no rule: keep-last 1 still keeps the newest finished one,
    // and keep-daily 1 does not see the 24th as covered by the partial one.
    assert.deepEqual(marks(items, { keepLast: 1 }).map(([, m]) => m), ['keep-partial', 'keep', 'remove', 'remove']);
    const sameDay = [snap('2026-11-24T20:00', { finished: false }), snap('2026-11-24T08:00')];
    assert.deepEqual(marks(sameDay, { keepDaily: 1 }).map(([, m]) => m), ['keep-partial', 'keep']);
  });

  test('only one unfinished snapshot can be kept, and only when nothing finished is newer', () => {
    const two = [snap('2026-11-24T10:00', { finished: false }), snap('2026-11-24T09:00', { finished: false }), snap('2026-11-23T10:00')];
    assert.deepEqual(marks(two, { keepLast: 3 }).map(([, m]) => m), ['keep-partial', 'remove', 'keep']);
    const older = [snap('2026-11-24T10:00'), snap('2026-11-24T09:00', { finished: false })];
    assert.deepEqual(marks(older, { keepLast: 3 }).map(([, m]) => m), ['keep', 'remove']);
  });

  test('no rule at all keeps everything, unfinished ones included', () => {
    const items = [snap('2026-11-24T10:00'), snap('2026-11-23T10:00', { finished: false }), snap('2026-11-22T10:00', { protected: true }), snap('2026-11-21T10:00')];
    for (const opts of [{}, { keepLast: 0 }, { keepLast: 0, keepDaily: 0, keepYearly: 0 }]) {
      assert.equal(hasKeepRules(opts), false);
      assert.deepEqual(marks(items, opts).map(([, m]) => m), ['keep', 'keep', 'protected', 'keep']);
    }
    assert.equal(hasKeepRules({ keepLast: 0, keepYearly: 1 }), true);
    assert.deepEqual(selectPrune([], { keepLast: 1 }), []);
  });
});

describe('calendar periods', () => {
  const at = (iso: string): number => Date.parse(iso) / 1000;

  test('ISO week-year edges', () => {
    assert.equal(prunePeriodKey('weekly', at('2020-12-31T12:00:00Z')), '2020/53');
    assert.equal(prunePeriodKey('weekly', at('2021-01-03T12:00:00Z')), '2020/53');
    assert.equal(prunePeriodKey('weekly', at('2021-01-04T00:00:00Z')), '2021/01');
    assert.equal(prunePeriodKey('weekly', at('2024-12-29T23:59:59Z')), '2024/52');
    assert.equal(prunePeriodKey('weekly', at('2024-12-30T00:00:00Z')), '2025/01');
    assert.equal(prunePeriodKey('weekly', at('2027-01-01T12:00:00Z')), '2026/53');
    assert.equal(prunePeriodKey('weekly', at('2026-01-01T12:00:00Z')), '2026/01');
    assert.equal(prunePeriodKey('weekly', at('2025-12-29T12:00:00Z')), '2026/01');
    assert.equal(prunePeriodKey('weekly', at('2016-01-03T12:00:00Z')), '2015/53');
  });

  test('formats follow the strftime patterns', () => {
    const t = at('2026-03-05T07:08:09Z');
    assert.equal(prunePeriodKey('hourly', t), '2026/03/05/07');
    assert.equal(prunePeriodKey('daily', t), '2026/03/05');
    assert.equal(prunePeriodKey('monthly', t), '2026/03');
    assert.equal(prunePeriodKey('yearly', t), '2026');
    assert.equal(prunePeriodKey('hourly', at('2026-03-05T00:30:00Z')), '2026/03/05/00');
  });

  test('a non-UTC zone moves the day, week and year boundaries', () => {
    const late = at('2026-11-24T23:30:00Z'); // 00:30 on the 25th in Berlin (UTC+1)
    assert.equal(prunePeriodKey('daily', late), '2026/11/24');
    assert.equal(prunePeriodKey('daily', late, 'Europe/Berlin'), '2026/11/25');
    assert.equal(prunePeriodKey('hourly', at('2026-07-01T22:15:00Z'), 'Europe/Berlin'), '2026/07/02/00'); // summer: UTC+2
    const newYear = at('2026-12-31T23:30:00Z');
    assert.equal(prunePeriodKey('yearly', newYear, 'Europe/Berlin'), '2027');
    assert.equal(prunePeriodKey('weekly', newYear, 'Europe/Berlin'), '2026/53');
    assert.equal(prunePeriodKey('daily', at('2026-11-25T03:00:00Z'), 'America/New_York'), '2026/11/24');

    const items = [snap('2026-11-24T22:30'), snap('2026-11-24T23:30')];
    assert.deepEqual(keptNames(items, { keepDaily: 2 }), ['2026-11-24T23:30']);
    assert.deepEqual(keptNames(items, { keepDaily: 2 }, 'Europe/Berlin'), ['2026-11-24T23:30', '2026-11-24T22:30']);
    assert.equal(run(items, { keepDaily: 2 }, 'Europe/Berlin')[0]!.reason, 'keep-daily 2026/11/25');
  });
});

describe('bad input', () => {
  const items = [snap('2026-11-24T10:00')];

  test('counts must be non-negative integers', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3', null, 2 ** 60]) {
      for (const key of ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly']) {
        const opts = { [key]: bad } as unknown as KeepOptions;
        assert.throws(() => selectPrune(items, opts), { code: 'BULWARK_INVALID_ARGUMENT' }, `${key}=${String(bad)}`);
        assert.throws(() => hasKeepRules(opts), { code: 'BULWARK_INVALID_ARGUMENT' });
      }
    }
    assert.throws(() => selectPrune(items, null as unknown as KeepOptions), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => selectPrune(items, { keepDaily: -1 }), (e: Error) => /keep-daily/.test(e.message));
  });

  test('unknown time zones, period kinds and times are refused', () => {
    assert.throws(() => selectPrune(items, { keepLast: 1 }, { timeZone: 'Mars/Olympus_Mons' }), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => selectPrune(items, { keepLast: 1 }, { timeZone: '' }), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => prunePeriodKey('daily', 0, 'Nowhere/Else'), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => prunePeriodKey('fortnightly' as 'daily', 0), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => prunePeriodKey('daily', Number.NaN), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.throws(() => selectPrune([{ time: Number.NaN, finished: true, protected: false }], { keepLast: 1 }), { code: 'BULWARK_INVALID_ARGUMENT' });
  });
});
