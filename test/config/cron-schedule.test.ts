/**
 * 5-field cron: parsing (cross-checked against node-cron's own expansion),
 * the day-of-month/day-of-week either-rule, next-event computation, how
 * parseSchedule tells cron from calendar events, and bad inputs.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import cron from 'node-cron';
import { isBulwarkError } from '../../errors.ts';
import { cronSchedule, parseSchedule } from '../../config/schedule.ts';
import { looksLikeCron, parseCron } from '../../config/cron-schedule.ts';

const ms = (iso: string): number => Date.parse(iso);
const iso = (t: number | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString().replace('.000Z', 'Z'));

function nexts(text: string, from: string, count = 3): (string | undefined)[] {
  const s = cronSchedule(text);
  const out: (string | undefined)[] = [];
  let t: number | undefined = ms(from);
  for (let i = 0; i < count && t !== undefined; i++) {
    t = s.next(t);
    out.push(iso(t));
  }
  return out;
}

describe('cron: parsing', () => {
  test('field expansion matches node-cron for standard expressions', () => {
    for (const expr of [
      '* * * * *', '*/15 0-23/2 1,15 jan-mar mon-fri', '0 2 * * 1-5', '5,10-20/5 */6 * * *', '0 0 1 */3 *',
      '30 4 1-7 * sat', '0 12 * JAN,Jul SUN', '10-50/20 * * * *', '0 0 * * 0-6/2',
    ]) {
      const ours = parseCron(expr);
      const theirs = cron.validateDetailed(expr);
      assert.ok(theirs.valid, expr);
      const f = theirs.fields!;
      assert.deepEqual(ours.minutes, f.minute, `${expr} minutes`);
      assert.deepEqual(ours.hours, f.hour, `${expr} hours`);
      assert.deepEqual(ours.days, f.dayOfMonth, `${expr} days`);
      assert.deepEqual(ours.months, f.month, `${expr} months`);
      assert.deepEqual(ours.weekdays, f.dayOfWeek, `${expr} weekdays`);
      assert.deepEqual(ours.seconds, [0]);
    }
  });

  test('weekday 7 is Sunday, and ranges through 7 wrap to it', () => {
    assert.deepEqual(parseCron('0 0 * * 7').weekdays, [0]);
    assert.deepEqual(parseCron('0 0 * * 5-7').weekdays, [0, 5, 6]);
    assert.deepEqual(parseCron('0 0 * * sun,7').weekdays, [0]);
  });

  test('the either-rule is on only when both day fields are restricted', () => {
    assert.equal(parseCron('0 0 13 * fri').dayRule, 'either');
    assert.equal(parseCron('0 0 1-31 * mon').dayRule, 'either');
    assert.equal(parseCron('0 0 13 * *').dayRule, 'both');
    assert.equal(parseCron('0 0 * * fri').dayRule, 'both');
    assert.equal(parseCron('0 0 */2 * mon').dayRule, 'both'); // Vixie: a field starting with '*' is unrestricted
  });
});

describe('cron: next events', () => {
  test('weekdays at 02:00', () => {
    assert.deepEqual(nexts('0 2 * * 1-5', '2026-01-02T02:00:00Z', 3), ['2026-01-05T02:00:00Z', '2026-01-06T02:00:00Z', '2026-01-07T02:00:00Z']);
  });

  test('day of month OR day of week when both are restricted', () => {
    // 2026-01-01 is a Thursday: Fridays 2, 9, 16 and Tuesday the 13th all fire.
    assert.deepEqual(nexts('0 0 13 * fri', '2026-01-01T00:00:00Z', 4), [
      '2026-01-02T00:00:00Z', '2026-01-09T00:00:00Z', '2026-01-13T00:00:00Z', '2026-01-16T00:00:00Z',
    ]);
    // With '*' in day of week only the 13th counts, and vice versa.
    assert.deepEqual(nexts('0 0 13 * *', '2026-01-01T00:00:00Z', 2), ['2026-01-13T00:00:00Z', '2026-02-13T00:00:00Z']);
    assert.deepEqual(nexts('0 0 * * fri', '2026-01-01T00:00:00Z', 2), ['2026-01-02T00:00:00Z', '2026-01-09T00:00:00Z']);
    // '*/2' counts as unrestricted: odd days that are Mondays (5th, 19th of Jan 2026).
    assert.deepEqual(nexts('0 0 */2 * mon', '2026-01-01T00:00:00Z', 2), ['2026-01-05T00:00:00Z', '2026-01-19T00:00:00Z']);
  });

  test('month and year ends, leap days, names', () => {
    assert.deepEqual(nexts('59 23 31 * *', '2026-01-31T23:59:00Z', 2), ['2026-03-31T23:59:00Z', '2026-05-31T23:59:00Z']);
    assert.deepEqual(nexts('* * * * *', '2026-12-31T23:59:59.999Z', 2), ['2027-01-01T00:00:00Z', '2027-01-01T00:01:00Z']);
    assert.deepEqual(nexts('0 0 29 feb *', '2026-01-01T00:00:00Z', 2), ['2028-02-29T00:00:00Z', '2032-02-29T00:00:00Z']);
    assert.deepEqual(nexts('0 12 * JAN,Jul SUN', '2026-01-30T00:00:00Z', 2), ['2026-07-05T12:00:00Z', '2026-07-12T12:00:00Z']);
  });

  test('strictly after, and impossible dates never fire', () => {
    const s = cronSchedule('*/15 * * * *');
    const at = ms('2026-01-01T10:15:00Z');
    assert.equal(iso(s.next(at)), '2026-01-01T10:30:00Z');
    assert.equal(s.next(at - 1), at);
    assert.equal(cronSchedule('0 0 30 2 *').next(ms('2026-01-01T00:00:00Z')), undefined);
    // ...unless the weekday half of the either-rule fires.
    assert.equal(iso(cronSchedule('0 0 30 2 mon').next(ms('2026-01-01T00:00:00Z'))), '2026-02-02T00:00:00Z');
  });
});

describe('parseSchedule tells cron from calendar events', () => {
  test('by shape', () => {
    for (const t of ['* * * * *', '0 2 * * 1-5', '*/15 0-23/2 1,15 jan-mar mon-fri', '  0 0 1 1 *  ']) {
      assert.equal(parseSchedule(t).kind, 'cron', t);
      assert.ok(looksLikeCron(t));
    }
    for (const t of ['daily', 'mon..fri 02:00', '*:0/15', 'sat *-1..7 03:00', '*-*-* *:*:0/10', '0', '*']) {
      assert.equal(parseSchedule(t).kind, 'calendar', t);
    }
    assert.equal(parseSchedule(' 0 2 * * 1-5 ').text, '0 2 * * 1-5');
  });
});

describe('cron: bad inputs', () => {
  const bad: readonly [string, RegExp][] = [
    ['60 * * * *', /minute 60 is out of range/],
    ['* 24 * * *', /hour 24 is out of range/],
    ['* * 0 * *', /day of month 0/],
    ['* * 32 * *', /day of month 32/],
    ['* * * 13 *', /month 13/],
    ['0 0 * * 8', /day of week 8/],
    ['*/0 * * * *', /at least 1/],
    ['0-59/0 * * * *', /at least 1/],
    ['5-1 * * * *', /runs backwards/],
    ['5/10 * * * *', /step needs a range/],
    ['1-2-3 * * * *', /more than two ends/],
    ['1- * * * *', /missing a value/],
    ['1,,2 * * * *', /empty item/],
    ['mon * * * *', /minute 'mon' is not a number$/],
    ['0 0 * foo *', /month 'foo' is not a number or a name/],
    ['0 0 * * funday', /day of week 'funday'/],
    ['0 0 L * *', /day of month 'L'/],
    ['*/x * * * *', /step 'x'/],
  ];
  for (const [text, why] of bad) {
    test(`rejects '${text}'`, () => {
      assert.equal(looksLikeCron(text), true);
      for (const parse of [parseSchedule, cronSchedule]) {
        assert.throws(() => parse(text), (err: unknown) => {
          assert.ok(isBulwarkError(err, 'BULWARK_BAD_SCHEDULE'), String(err));
          assert.equal(err.http, 400);
          assert.match(err.message, why);
          assert.ok(err.message.includes(`'${text}'`), 'the message names the schedule');
          return true;
        });
      }
    });
  }
  test('wrong field counts', () => {
    for (const text of ['* * * *', '* * * * * *', '', '   ']) {
      assert.throws(() => cronSchedule(text), (e: unknown) => isBulwarkError(e, 'BULWARK_BAD_SCHEDULE') && /5 fields/.test(e.message), text);
      assert.throws(() => parseSchedule(text), (e: unknown) => isBulwarkError(e, 'BULWARK_BAD_SCHEDULE'), text);
    }
  });
});
