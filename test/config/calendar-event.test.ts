/**
 * Calendar events (PBS syntax): parsing, exact next-event computation across
 * month, year and leap-year ends, strictly-after semantics, bad inputs, and a
 * brute-force cross-check of the search against a per-minute/per-second scan.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isBulwarkError } from '../../errors.ts';
import { parseSchedule, calendarSchedule } from '../../config/schedule.ts';
import { parseCalendarEvent } from '../../config/calendar-event-parse.ts';
import { parseCron } from '../../config/cron-schedule.ts';
import type { TimeFields } from '../../config/calendar-event-next.ts';

const ms = (iso: string): number => Date.parse(iso);
const iso = (t: number | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString().replace('.000Z', 'Z'));

/** The next `count` events after `from`, as ISO strings. */
function nexts(text: string, from: string, count = 3): (string | undefined)[] {
  const s = parseSchedule(text);
  const out: (string | undefined)[] = [];
  let t: number | undefined = ms(from);
  for (let i = 0; i < count && t !== undefined; i++) {
    t = s.next(t);
    out.push(iso(t));
  }
  return out;
}

describe('calendar events: the required examples', () => {
  test('daily, hourly, weekly', () => {
    assert.equal(parseSchedule('daily').kind, 'calendar');
    assert.deepEqual(nexts('daily', '2026-01-31T12:00:00Z'), ['2026-02-01T00:00:00Z', '2026-02-02T00:00:00Z', '2026-02-03T00:00:00Z']);
    assert.deepEqual(nexts('hourly', '2026-12-31T22:30:00Z'), ['2026-12-31T23:00:00Z', '2027-01-01T00:00:00Z', '2027-01-01T01:00:00Z']);
    // 2026-01-01 is a Thursday; weekly is Monday 00:00.
    assert.deepEqual(nexts('weekly', '2026-01-01T00:00:00Z'), ['2026-01-05T00:00:00Z', '2026-01-12T00:00:00Z', '2026-01-19T00:00:00Z']);
  });

  test('mon..fri 02:00 skips the weekend', () => {
    assert.deepEqual(nexts('mon..fri 02:00', '2026-01-02T02:00:00Z', 4), [
      '2026-01-05T02:00:00Z', '2026-01-06T02:00:00Z', '2026-01-07T02:00:00Z', '2026-01-08T02:00:00Z',
    ]);
    assert.deepEqual(nexts('mon..fri 02:00', '2026-01-02T01:59:59.999Z', 1), ['2026-01-02T02:00:00Z']);
  });

  test('*:0/15, including at hh:59:59.999', () => {
    assert.deepEqual(nexts('*:0/15', '2026-01-01T10:59:59.999Z'), ['2026-01-01T11:00:00Z', '2026-01-01T11:15:00Z', '2026-01-01T11:30:00Z']);
    assert.deepEqual(nexts('*:0/15', '2026-12-31T23:59:59.999Z', 2), ['2027-01-01T00:00:00Z', '2027-01-01T00:15:00Z']);
    assert.deepEqual(nexts('*:0/15', '2026-01-01T10:45:00Z', 1), ['2026-01-01T11:00:00Z']);
  });

  test('sat *-1..7 03:00 is the first Saturday of each month', () => {
    const got = nexts('sat *-1..7 03:00', '2026-01-03T03:00:00Z', 5);
    assert.deepEqual(got, ['2026-02-07T03:00:00Z', '2026-03-07T03:00:00Z', '2026-04-04T03:00:00Z', '2026-05-02T03:00:00Z', '2026-06-06T03:00:00Z']);
    for (const g of got) {
      const d = new Date(g!);
      assert.equal(d.getUTCDay(), 6);
      assert.ok(d.getUTCDate() <= 7);
    }
    // Across a year end: 2027-01-02 is the first Saturday of 2027.
    assert.deepEqual(nexts('sat *-1..7 03:00', '2026-12-05T03:00:00Z', 1), ['2027-01-02T03:00:00Z']);
  });

  test('2027-02-29 never happens; 2028-02-29 happens once', () => {
    const never = parseSchedule('2027-02-29');
    assert.equal(never.next(ms('2020-01-01T00:00:00Z')), undefined);
    assert.equal(never.next(ms('2027-02-28T23:59:59Z')), undefined);
    assert.deepEqual(nexts('2028-02-29', '2026-05-01T00:00:00Z', 2), ['2028-02-29T00:00:00Z', undefined]);
  });

  test('*-02-29 00:00 fires only in leap years, skipping 2100', () => {
    assert.deepEqual(nexts('*-02-29 00:00', '2026-01-01T00:00:00Z'), ['2028-02-29T00:00:00Z', '2032-02-29T00:00:00Z', '2036-02-29T00:00:00Z']);
    assert.deepEqual(nexts('*-02-29 00:00', '2096-02-29T00:00:00Z', 2), ['2104-02-29T00:00:00Z', '2108-02-29T00:00:00Z']);
    assert.deepEqual(nexts('*-02-29 00:00', '2399-01-01T00:00:00Z', 1), ['2400-02-29T00:00:00Z']);
  });

  test('12,14:30 and *-*-* *:*:0/10', () => {
    assert.deepEqual(nexts('12,14:30', '2026-01-01T13:00:00Z'), ['2026-01-01T14:30:00Z', '2026-01-02T12:30:00Z', '2026-01-02T14:30:00Z']);
    assert.deepEqual(nexts('*-*-* *:*:0/10', '2026-01-01T00:00:55Z'), ['2026-01-01T00:01:00Z', '2026-01-01T00:01:10Z', '2026-01-01T00:01:20Z']);
    assert.deepEqual(nexts('*-*-* *:*:0/10', '2026-02-28T23:59:50Z', 1), ['2026-03-01T00:00:00Z']);
  });
});

describe('calendar events: edges of months, years and leap years', () => {
  test('month ends', () => {
    assert.deepEqual(nexts('daily', '2026-01-31T00:00:00Z', 1), ['2026-02-01T00:00:00Z']);
    assert.deepEqual(nexts('*-*-31 12:00', '2026-01-31T12:00:00Z'), ['2026-03-31T12:00:00Z', '2026-05-31T12:00:00Z', '2026-07-31T12:00:00Z']);
    assert.deepEqual(nexts('*-*-30', '2026-01-30T00:00:00Z', 2), ['2026-03-30T00:00:00Z', '2026-04-30T00:00:00Z']);
    assert.deepEqual(nexts('monthly', '2026-01-31T23:59:59Z', 2), ['2026-02-01T00:00:00Z', '2026-03-01T00:00:00Z']);
  });

  test('year end', () => {
    assert.deepEqual(nexts('daily', '2026-12-31T23:59:00Z', 1), ['2027-01-01T00:00:00Z']);
    assert.deepEqual(nexts('*:*', '2026-12-31T23:59:00Z', 2), ['2027-01-01T00:00:00Z', '2027-01-01T00:01:00Z']);
    assert.deepEqual(nexts('*-12-31 23:59:59', '2026-12-31T23:59:59Z', 1), ['2027-12-31T23:59:59Z']);
    assert.deepEqual(nexts('yearly', '2026-06-01T00:00:00Z', 2), ['2027-01-01T00:00:00Z', '2028-01-01T00:00:00Z']);
    assert.deepEqual(nexts('annually', '2026-06-01T00:00:00Z', 1), ['2027-01-01T00:00:00Z']);
  });

  test('leap years', () => {
    assert.deepEqual(nexts('daily', '2028-02-28T00:00:00Z', 2), ['2028-02-29T00:00:00Z', '2028-03-01T00:00:00Z']);
    assert.deepEqual(nexts('daily', '2027-02-28T00:00:00Z', 1), ['2027-03-01T00:00:00Z']);
    assert.deepEqual(nexts('*-02-28..29 06:00', '2028-02-28T06:00:00Z', 3), [
      '2028-02-29T06:00:00Z', '2029-02-28T06:00:00Z', '2030-02-28T06:00:00Z',
    ]);
    assert.deepEqual(nexts('*-*-29', '2027-01-29T00:00:00Z', 1), ['2027-03-29T00:00:00Z']);
    assert.deepEqual(nexts('*-*-29', '2028-01-29T00:00:00Z', 1), ['2028-02-29T00:00:00Z']);
  });

  test('an event exactly at afterMs is not returned; one ms earlier it is', () => {
    for (const text of ['daily', 'hourly', '*:0/15', 'mon..fri 02:00', 'sat *-1..7 03:00', '*-02-29 00:00', '*-*-* *:*:0/10']) {
      const s = parseSchedule(text);
      let t = ms('2026-01-01T00:00:00Z');
      for (let i = 0; i < 5; i++) {
        const e = s.next(t)!;
        assert.ok(e > t, text);
        assert.notEqual(s.next(e), e, text);
        assert.ok(s.next(e)! > e, text);
        assert.equal(s.next(e - 1), e, text);
        assert.equal(s.next(e - 0.5), e, text);
        t = e;
      }
    }
  });

  test('years, year repetitions and year ranges', () => {
    assert.deepEqual(nexts('2026,2028-06-01', '2026-07-01T00:00:00Z', 2), ['2028-06-01T00:00:00Z', undefined]);
    assert.deepEqual(nexts('2026/2-01-01', '2026-01-01T00:00:00Z', 2), ['2028-01-01T00:00:00Z', '2030-01-01T00:00:00Z']);
    assert.deepEqual(nexts('2026..2027-*-01', '2027-11-15T00:00:00Z', 2), ['2027-12-01T00:00:00Z', undefined]);
    assert.deepEqual(nexts('2020-01-01', '2026-01-01T00:00:00Z', 1), [undefined]); // in the past
    // From proxmox-time's own tests: 1965/5-01-01 first fires at the epoch.
    assert.equal(parseSchedule('1965/5-01-01').next(-1000), 0);
  });
});

describe('calendar events: weekdays with dates and other forms', () => {
  test('weekday and date must both match', () => {
    // Friday the 13th.
    assert.deepEqual(nexts('fri *-*-13', '2026-01-01T00:00:00Z'), ['2026-02-13T00:00:00Z', '2026-03-13T00:00:00Z', '2026-11-13T00:00:00Z']);
    assert.deepEqual(nexts('mon 2026-*-01 08:00', '2026-01-01T00:00:00Z', 3), ['2026-06-01T08:00:00Z', undefined]);
    assert.deepEqual(nexts('sun *-12-25', '2026-01-01T00:00:00Z', 1), ['2033-12-25T00:00:00Z']);
  });

  test('weekday lists, ranges, wrap-around, full names and case', () => {
    assert.deepEqual(nexts('mon,wed,fri', '2026-01-01T00:00:00Z', 4), [
      '2026-01-02T00:00:00Z', '2026-01-05T00:00:00Z', '2026-01-07T00:00:00Z', '2026-01-09T00:00:00Z',
    ]);
    assert.deepEqual(nexts('fri..mon 12:00', '2026-01-01T00:00:00Z', 5), [
      '2026-01-02T12:00:00Z', '2026-01-03T12:00:00Z', '2026-01-04T12:00:00Z', '2026-01-05T12:00:00Z', '2026-01-09T12:00:00Z',
    ]);
    const a = parseSchedule('Monday..Friday 02:00');
    const b = parseSchedule('mon..fri 02:00');
    for (let t = ms('2026-01-01T00:00:00Z'), i = 0; i < 10; i++, t = b.next(t)!) assert.equal(a.next(t), b.next(t));
    assert.deepEqual(parseCalendarEvent('MON,wed..Fri').weekdays, [1, 3, 4, 5]);
    assert.deepEqual(parseCalendarEvent('sun..mon').weekdays, [0, 1]);
  });

  test('shortcuts', () => {
    assert.deepEqual(nexts('minutely', '2026-01-01T00:00:30Z', 2), ['2026-01-01T00:01:00Z', '2026-01-01T00:02:00Z']);
    assert.deepEqual(nexts('quarterly', '2026-01-01T00:00:00Z', 4), [
      '2026-04-01T00:00:00Z', '2026-07-01T00:00:00Z', '2026-10-01T00:00:00Z', '2027-01-01T00:00:00Z',
    ]);
    for (const text of ['semiannually', 'semi-annually']) {
      assert.deepEqual(nexts(text, '2026-01-01T00:00:00Z', 2), ['2026-07-01T00:00:00Z', '2027-01-01T00:00:00Z']);
    }
  });

  test('ranges with steps, seconds, minute-only (PBS), UTC suffix, whitespace', () => {
    assert.deepEqual(nexts('0..23/2:00', '2026-01-01T23:00:00Z', 2), ['2026-01-02T00:00:00Z', '2026-01-02T02:00:00Z']);
    assert.deepEqual(nexts('4..10/2:0', '2026-01-01T11:00:00Z', 1), ['2026-01-02T04:00:00Z']);
    assert.deepEqual(nexts('*:3:5', '2026-01-01T00:00:00Z', 1), ['2026-01-01T00:03:05Z']);
    assert.deepEqual(nexts('0', '2026-01-01T00:00:00Z', 2), ['2026-01-01T01:00:00Z', '2026-01-01T02:00:00Z']);
    assert.deepEqual(nexts('*', '2026-01-01T00:00:00Z', 1), ['2026-01-01T00:01:00Z']);
    assert.deepEqual(nexts('  mon   02:00 UTC ', '2026-01-01T00:00:00Z', 1), ['2026-01-05T02:00:00Z']);
    assert.equal(calendarSchedule('  daily ').text, 'daily');
    assert.deepEqual(parseCalendarEvent('*/20:*/7:*/30').hours, [0, 20]);
    assert.deepEqual(parseCalendarEvent('*-*/5-*').months, [1, 6, 11]); // month steps start at 1
  });
});

describe('calendar events: bad inputs', () => {
  const bad: readonly [string, RegExp][] = [
    ['', /empty/],
    ['   ', /empty/],
    ['mox 02:00', /unknown weekday 'mox'/],
    ['mon..', /mon\.\./],
    ['..fri', /\.\.fri/],
    ['mon..tue..wed', /more than two/],
    ['mon,,fri', /missing a weekday|weekday ''/],
    ['24:00', /hour 24 is out of range/],
    ['12:60', /minute 60 is out of range/],
    ['12:00:60', /second 60 is out of range/],
    ['*/0', /step .* at least 1/],
    ['0/0:00', /step .* at least 1/],
    ['*:0/0', /step .* at least 1/],
    ['*:0/x', /not a number/],
    ['2027-13-01', /month 13/],
    ['2027-00-01', /month 0/],
    ['*-*-32', /day 32/],
    ['27-01-01', /4-digit year/],
    ['5..1:00', /runs backwards/],
    ['1..:00', /missing a number/],
    ['12:', /missing minute/],
    ['1,,2:00', /empty hour/],
    ['1:2:3:4', /more than HOUR:MINUTE:SECOND/],
    ['1-2-3-4', /not MONTH-DAY/],
    ['daily 02:00', /unknown weekday 'daily'/],
    ['02:00 mon', /unexpected 'mon'/],
    ['mon 02:00 03:00', /unexpected '03:00'/],
    ['mon 02:00 *-*-*', /unexpected/],
    ['a:b', /unknown weekday|not a number/],
    ['1/2/3:00', /more than one '\/'/],
    ['02:00 CET', /unexpected 'CET'/],
    ['x'.repeat(300), /longer than/],
  ];
  for (const [text, why] of bad) {
    test(`rejects '${text.slice(0, 20)}'`, () => {
      assert.throws(() => parseSchedule(text), (err: unknown) => {
        assert.ok(isBulwarkError(err, 'BULWARK_BAD_SCHEDULE'), String(err));
        assert.equal(err.http, 400);
        assert.match(err.message, why);
        if (text.length < 100) assert.ok(err.message.includes(`'${text}'`), 'the message names the schedule');
        return true;
      });
    });
  }
  test('a non-string is rejected with the same code', () => {
    assert.throws(() => parseSchedule(undefined as unknown as string), (e: unknown) => isBulwarkError(e, 'BULWARK_BAD_SCHEDULE'));
  });
});

// ── brute force: the search must agree with a plain scan ────────────────────

/** An independent matcher over JS Date fields (no shared civil arithmetic). */
function matches(f: TimeFields, t: number): boolean {
  const d = new Date(t);
  const y = d.getUTCFullYear();
  const yearOk = f.years.length === 0 || f.years.some((r) => y >= r.from && y <= r.to && (y - r.from) % r.step === 0);
  const dom = f.days.includes(d.getUTCDate());
  const dow = f.weekdays.includes(d.getUTCDay());
  return (
    yearOk &&
    f.months.includes(d.getUTCMonth() + 1) &&
    (f.dayRule === 'either' ? dom || dow : dom && dow) &&
    f.hours.includes(d.getUTCHours()) &&
    f.minutes.includes(d.getUTCMinutes()) &&
    f.seconds.includes(d.getUTCSeconds())
  );
}

/** A tiny deterministic PRNG (LCG), so the sample points are fixed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0) / 2 ** 32);
}

function crossCheck(text: string, fields: TimeFields, startIso: string, spanMs: number, stepMs: number): void {
  const s = parseSchedule(text);
  const start = ms(startIso);
  const end = start + spanMs;
  const events: number[] = [];
  for (let t = start; t <= end; t += stepMs) if (matches(fields, t)) events.push(t);
  // Walking next() from the start visits exactly the scanned events.
  const walked: number[] = [];
  for (let t = s.next(start - 1); t !== undefined && t <= end; t = s.next(t)) walked.push(t);
  assert.deepEqual(walked.map(iso), events.map(iso), `${text} from ${startIso}`);
  // And from arbitrary (fractional) points in between, next() is the first scanned event after it.
  const rnd = lcg(events.length * 31 + text.length);
  for (let i = 0; i < 200; i++) {
    const after = start + rnd() * (spanMs - stepMs);
    const want = events.find((e) => e > after);
    const got = s.next(after);
    if (want !== undefined) assert.equal(iso(got), iso(want), `${text} after ${new Date(after).toISOString()}`);
    else assert.ok(got === undefined || got > end, `${text} after ${new Date(after).toISOString()}`);
  }
}

describe('next() agrees with a brute-force scan', () => {
  const MINUTE = 60_000;
  const DAY = 86_400_000;
  const windows = ['2027-12-29T00:00:00Z', '2028-02-26T00:00:00Z', '2026-02-26T00:00:00Z', '2026-08-29T00:00:00Z'];
  const perMinute: readonly [string, TimeFields][] = [
    'daily', 'hourly', 'weekly', 'mon..fri 02:00', '*:0/15', 'sat *-1..7 03:00', '*-02-29 00:00', '12,14:30',
    'fri..mon 0/20', '*-*-1,15..31 22..23:05..10/2', 'wed,sat *-*-28..31 *:0,30', '2028-*-* 0/7:13',
  ].map((t) => [t, parseCalendarEvent(t)] as [string, TimeFields]);
  const cron: readonly [string, TimeFields][] = [
    '*/7 1-5 * * *', '0 0 13 * fri', '30 */6 29 2 *', '15 10 * * sun', '0 12 1,31 * mon-wed', '*/20 * * jan,feb,dec 0,6',
  ].map((t) => [t, parseCron(t)] as [string, TimeFields]);

  for (const [text, fields] of [...perMinute, ...cron]) {
    test(text, () => {
      for (const w of windows) crossCheck(text, fields, w, 4 * DAY, MINUTE);
    });
  }
  for (const text of ['*-*-* *:*:0/10', '*:*:*', 'minutely', '*:59:7..9,50/4']) {
    test(`${text} (per second)`, () => {
      crossCheck(text, parseCalendarEvent(text), '2026-12-31T22:30:00Z', 3 * 3_600_000, 1000);
    });
  }
});
