/**
 * Parser for classic 5-field cron: `minute hour day-of-month month
 * day-of-week`, each `*`, `*\/S`, or a list of `N`, `N-M`, `N-M/S`; months
 * and weekdays also by name (jan, mon), weekday 7 = Sunday. As in Vixie
 * cron, when both day fields are restricted a day matches if EITHER does,
 * and a field counts as unrestricted when it starts with `*` (so `*\/2` in
 * day-of-month does not switch on the either-rule).
 *
 * node-cron (installed for the scheduler) was tried as the validator and not
 * used: it also accepts Quartz extensions (`L`, `W`, `#`, `?`), a sixth
 * seconds field and wrap-around ranges (`5-1`), rejects `0 0 30 2 *` outright,
 * and its parsed output cannot tell `*` from `1-31`, which the either-rule
 * needs. Its field expansion serves as a cross-check in the tests instead.
 */
import { bulwarkError, type BulwarkError } from '../errors.ts';
import type { TimeFields } from './calendar-event-next.ts';
import { MAX_SCHEDULE_LENGTH } from './calendar-event-parse.ts';

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[]; // names[i] stands for min + i
}

const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

const CRON_FIELD = /^[0-9a-z*,/-]+$/i;

/** Whether text has the shape of a 5-field cron line (parseSchedule's switch). */
export function looksLikeCron(text: string): boolean {
  const parts = text.trim().split(/\s+/);
  return parts.length === 5 && parts.every((p) => CRON_FIELD.test(p));
}

type Fail = (reason: string) => BulwarkError;

export function parseCron(text: string): TimeFields {
  const fail: Fail = (reason) => bulwarkError('BULWARK_BAD_SCHEDULE', text, reason);
  if (text.length > MAX_SCHEDULE_LENGTH) throw fail(`longer than ${MAX_SCHEDULE_LENGTH} characters`);
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === '') {
    throw fail(`cron needs 5 fields (minute hour day-of-month month day-of-week), got ${parts[0] === '' ? 0 : parts.length}`);
  }
  const [minutes, hours, days, months, rawWeekdays] = parts.map((p, i) => parseField(p, FIELDS[i]!, fail)) as [
    number[], number[], number[], number[], number[],
  ];
  const weekdays = [...new Set(rawWeekdays.map((d) => d % 7))].sort((a, b) => a - b);
  const restricted = (p: string): boolean => !p.startsWith('*');
  return {
    years: [],
    months,
    days,
    weekdays,
    hours,
    minutes,
    seconds: [0],
    dayRule: restricted(parts[2]!) && restricted(parts[4]!) ? 'either' : 'both',
  };
}

function parseField(part: string, field: Field, fail: Fail): number[] {
  const set = new Set<number>();
  for (const item of part.split(',')) {
    if (item === '') throw fail(`empty item in ${field.name} '${part}'`);
    const [range = '', stepText, ...extra] = item.split('/');
    if (extra.length > 0) throw fail(`${field.name} '${item}' has more than one '/'`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText)) throw fail(`step '${stepText}' in ${field.name} '${item}' is not a number`);
      step = Number(stepText);
      if (step < 1) throw fail(`step in ${field.name} '${item}' must be at least 1`);
    }
    let from = field.min;
    let to = field.max;
    if (range !== '*') {
      const ends = range.split('-');
      if (ends.length > 2) throw fail(`${field.name} range '${item}' has more than two ends`);
      from = value(ends[0]!, field, item, fail);
      to = ends.length === 2 ? value(ends[1]!, field, item, fail) : from;
      if (from > to) throw fail(`${field.name} range '${item}' runs backwards`);
      if (ends.length === 1 && stepText !== undefined) {
        throw fail(`a step needs a range or '*' in ${field.name} '${item}' (write '${from}-${field.max}/${step}')`);
      }
    }
    for (let v = from; v <= to; v += step) set.add(v);
  }
  return [...set].sort((a, b) => a - b);
}

function value(text: string, field: Field, item: string, fail: Fail): number {
  if (text === '') throw fail(`${field.name} range '${item}' is missing a value`);
  const named = field.names?.indexOf(text.toLowerCase()) ?? -1;
  if (named >= 0) return field.min + named;
  if (!/^\d+$/.test(text)) throw fail(`${field.name} '${text}' is not a number${field.names ? ' or a name' : ''}`);
  const v = Number(text);
  if (v < field.min || v > field.max) throw fail(`${field.name} ${v} is out of range ${field.min}..${field.max}`);
  return v;
}
