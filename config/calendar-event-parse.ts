/**
 * Parser for PBS calendar events (systemd.time style, as in the proxmox-time
 * crate): `[WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:]MINUTE[:SECOND]`, or one of the
 * shortcuts (daily, weekly…). Fields take `*`, numbers, lists `1,15`, ranges
 * `1..7` and repetitions `0/15`, `*\/2`, `0..23/2`. Weekdays and the date must
 * both match (`sat *-1..7` is the first Saturday of a month). A missing time
 * means 00:00:00, missing seconds mean :00, and, as in PBS, a lone time
 * component is the minute (`0` = every hour on the hour). A trailing `UTC` is
 * accepted and ignored: Bulwark schedules are always UTC.
 *
 * The result is plain data (TimeFields); calendar-event-next.ts searches it.
 */
import { bulwarkError, type BulwarkError } from '../errors.ts';
import type { TimeFields, YearRange } from './calendar-event-next.ts';

/** Long enough for any sensible schedule; bounds the work a bad input costs. */
export const MAX_SCHEDULE_LENGTH = 256;

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
}

const MONTH: Field = { name: 'month', min: 1, max: 12 };
const DAY: Field = { name: 'day', min: 1, max: 31 };
const HOUR: Field = { name: 'hour', min: 0, max: 23 };
const MINUTE: Field = { name: 'minute', min: 0, max: 59 };
const SECOND: Field = { name: 'second', min: 0, max: 59 };

const every = (f: Field): number[] => Array.from({ length: f.max - f.min + 1 }, (_, i) => f.min + i);
const ALL_WEEKDAYS = [0, 1, 2, 3, 4, 5, 6];

function fields(over: Partial<TimeFields>): TimeFields {
  return {
    years: [],
    months: every(MONTH),
    days: every(DAY),
    weekdays: ALL_WEEKDAYS,
    hours: every(HOUR),
    minutes: every(MINUTE),
    seconds: every(SECOND),
    dayRule: 'both',
    ...over,
  };
}

const MIDNIGHT = { hours: [0], minutes: [0], seconds: [0] };
const SHORTCUTS: Readonly<Record<string, TimeFields>> = {
  minutely: fields({ seconds: [0] }),
  hourly: fields({ minutes: [0], seconds: [0] }),
  daily: fields(MIDNIGHT),
  weekly: fields({ ...MIDNIGHT, weekdays: [1] }),
  monthly: fields({ ...MIDNIGHT, days: [1] }),
  yearly: fields({ ...MIDNIGHT, days: [1], months: [1] }),
  annually: fields({ ...MIDNIGHT, days: [1], months: [1] }),
  quarterly: fields({ ...MIDNIGHT, days: [1], months: [1, 4, 7, 10] }),
  semiannually: fields({ ...MIDNIGHT, days: [1], months: [1, 7] }),
  'semi-annually': fields({ ...MIDNIGHT, days: [1], months: [1, 7] }),
};

// Weekday name → JS day number (0 = Sunday). Ranges run Monday-first, as in PBS.
const WEEKDAYS: Readonly<Record<string, number>> = {
  mon: 1, monday: 1, tue: 2, tuesday: 2, wed: 3, wednesday: 3, thu: 4, thursday: 4,
  fri: 5, friday: 5, sat: 6, saturday: 6, sun: 0, sunday: 0,
};
const mondayFirst = (day: number): number => (day + 6) % 7;

type Fail = (reason: string) => BulwarkError;

export function parseCalendarEvent(text: string): TimeFields {
  const fail: Fail = (reason) => bulwarkError('BULWARK_BAD_SCHEDULE', text, reason);
  if (text.length > MAX_SCHEDULE_LENGTH) throw fail(`longer than ${MAX_SCHEDULE_LENGTH} characters`);
  const body = text.trim();
  if (body === '') throw fail('empty schedule');
  const shortcut = SHORTCUTS[body.toLowerCase()];
  if (shortcut) return shortcut;

  const tokens = body.split(/\s+/);
  if (tokens.length > 1 && tokens[tokens.length - 1] === 'UTC') tokens.pop();
  let i = 0;
  let over: Partial<TimeFields> = { ...MIDNIGHT };
  if (/^[a-z]/i.test(tokens[i]!)) over = { ...over, weekdays: parseWeekdays(tokens[i++]!, fail) };
  if (tokens[i]?.includes('-')) over = { ...over, ...parseDate(tokens[i++]!, fail) };
  if (i < tokens.length && !/^[a-z]/i.test(tokens[i]!) && !tokens[i]!.includes('-')) {
    over = { ...over, ...parseTime(tokens[i++]!, fail) };
  }
  if (i < tokens.length) throw fail(`unexpected '${tokens[i]}' (expected [WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]])`);
  return fields(over);
}

function parseWeekdays(token: string, fail: Fail): number[] {
  const set = new Set<number>();
  for (const item of token.split(',')) {
    const ends = item.split('..');
    if (ends.length > 2) throw fail(`weekday range '${item}' has more than two ends`);
    const [from, to = from] = ends.map((name) => {
      if (name === '') throw fail(`weekday range '${item}' is missing a weekday`);
      const day = WEEKDAYS[name.toLowerCase()];
      if (day === undefined) throw fail(`unknown weekday '${name}'`);
      return mondayFirst(day);
    }) as [number, number?];
    // A range like fri..mon wraps over the weekend.
    const span = (to - from + 7) % 7;
    for (let k = 0; k <= span; k++) set.add((from + k + 1) % 7);
  }
  return [...set].sort((a, b) => a - b);
}

function parseDate(token: string, fail: Fail): Partial<TimeFields> {
  const parts = token.split('-');
  if (parts.length === 3) {
    return { years: parseYears(parts[0]!, fail), months: parseValues(parts[1]!, MONTH, fail), days: parseValues(parts[2]!, DAY, fail) };
  }
  if (parts.length === 2) return { months: parseValues(parts[0]!, MONTH, fail), days: parseValues(parts[1]!, DAY, fail) };
  throw fail(`date '${token}' is not MONTH-DAY or YEAR-MONTH-DAY`);
}

function parseTime(token: string, fail: Fail): Partial<TimeFields> {
  const parts = token.split(':');
  if (parts.length > 3) throw fail(`time '${token}' has more than HOUR:MINUTE:SECOND`);
  if (parts.length === 1) return { hours: every(HOUR), minutes: parseValues(parts[0]!, MINUTE, fail), seconds: [0] };
  return {
    hours: parseValues(parts[0]!, HOUR, fail),
    minutes: parseValues(parts[1]!, MINUTE, fail),
    seconds: parts.length === 3 ? parseValues(parts[2]!, SECOND, fail) : [0],
  };
}

/** One component: `*`, `*\/S`, or a list of `N`, `N..M`, `N/S`, `N..M/S`. */
function parseValues(part: string, field: Field, fail: Fail): number[] {
  const set = new Set<number>();
  for (const { from, to, step } of parseItems(part, field.name, fail, (s) => inRange(s, field, fail))) {
    const last = Math.min(to ?? field.max, field.max);
    for (let v = from ?? field.min; v <= last; v += step) set.add(v);
  }
  return [...set].sort((a, b) => a - b);
}

function parseYears(part: string, fail: Fail): YearRange[] {
  const ranges: YearRange[] = [];
  for (const { from, to, step } of parseItems(part, 'year', fail, (s) => {
    if (!/^\d{4}$/.test(s)) throw fail(`year '${s}' is not a 4-digit year`);
    return Number(s);
  })) {
    if (from === undefined && step === 1) return []; // plain `*`: every year
    ranges.push({ from: from ?? 0, to: to ?? Infinity, step });
  }
  return ranges;
}

interface Item {
  readonly from: number | undefined; // undefined: from the field's start (`*`)
  readonly to: number | undefined; // undefined: to the field's end
  readonly step: number;
}

function parseItems(part: string, name: string, fail: Fail, num: (s: string) => number): Item[] {
  if (part === '') throw fail(`missing ${name}`);
  if (part === '*') return [{ from: undefined, to: undefined, step: 1 }];
  if (part.startsWith('*/')) return [{ from: undefined, to: undefined, step: parseStep(part.slice(2), part, fail) }];
  return part.split(',').map((item) => {
    if (item === '') throw fail(`empty ${name} in list '${part}'`);
    const [range = '', stepText, ...extra] = item.split('/');
    if (extra.length > 0) throw fail(`${name} '${item}' has more than one '/'`);
    const step = stepText === undefined ? undefined : parseStep(stepText, item, fail);
    const ends = range.split('..');
    if (ends.length > 2) throw fail(`${name} range '${item}' has more than two ends`);
    if (ends.some((e) => e === '')) throw fail(`${name} range '${item}' is missing a number`);
    const from = num(ends[0]!);
    if (ends.length === 1) return { from, to: step === undefined ? from : undefined, step: step ?? 1 };
    const to = num(ends[1]!);
    if (from > to) throw fail(`${name} range '${item}' runs backwards`);
    return { from, to, step: step ?? 1 };
  });
}

function parseStep(text: string, item: string, fail: Fail): number {
  if (!/^\d+$/.test(text)) throw fail(`step '${text}' in '${item}' is not a number`);
  const step = Number(text);
  if (step < 1) throw fail(`step in '${item}' must be at least 1`);
  return step;
}

function inRange(text: string, field: Field, fail: Fail): number {
  if (!/^\d+$/.test(text)) throw fail(`${field.name} '${text}' is not a number`);
  const v = Number(text);
  if (v < field.min || v > field.max) throw fail(`${field.name} ${v} is out of range ${field.min}..${field.max}`);
  return v;
}
