/**
 * The next-event search shared by calendar events and cron: given the set of
 * allowed values per field, find the first whole second strictly after a
 * moment. It walks the fields from year down to second; each level jumps
 * straight to its next allowed value, and a level with none left carries into
 * the level above (seconds → minute, … day → month → year), resetting
 * everything below. So a match a century away costs a few hundred steps, not
 * a scan. All arithmetic is proleptic Gregorian in UTC on plain integers (no
 * Date objects, no time zones, no DST).
 */

/** One year rule: years from..to (to may be Infinity) in steps of step. */
export interface YearRange {
  readonly from: number;
  readonly to: number;
  readonly step: number;
}

/** What a schedule allows, field by field; every list is sorted and non-empty. */
export interface TimeFields {
  /** Empty means every year. */
  readonly years: readonly YearRange[];
  readonly months: readonly number[]; // 1..12
  readonly days: readonly number[]; // day of month, 1..31
  readonly weekdays: readonly number[]; // 0 = Sunday .. 6 = Saturday
  readonly hours: readonly number[];
  readonly minutes: readonly number[];
  readonly seconds: readonly number[];
  /**
   * How day of month and weekday combine: 'both' (calendar events, and cron
   * when either field is `*`) or 'either' (cron when both are restricted).
   */
  readonly dayRule: 'both' | 'either';
}

/** How far ahead a search looks before it answers "never". */
export const HORIZON_YEARS = 100;

const SECONDS_PER_DAY = 86_400;

/** Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** The civil date of a day count since 1970-01-01 (inverse of daysFromCivil). */
export function civilFromDays(days: number): { y: number; m: number; d: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return { y: era * 400 + yoe + (m <= 2 ? 1 : 0), m, d };
}

export function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const MONTH_DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function daysInMonth(y: number, m: number): number {
  return m === 2 && isLeapYear(y) ? 29 : MONTH_DAYS[m]!;
}

/** 0 = Sunday; 1970-01-01 was a Thursday. */
function weekdayOf(days: number): number {
  return (((days + 4) % 7) + 7) % 7;
}

/**
 * A table t where t[v] is the smallest allowed value ≥ v, or -1 if none;
 * sized one past the field's top so "top + 1" (a carry) reads as none.
 */
function nextTable(allowed: readonly number[], top: number): Int8Array {
  const t = new Int8Array(top + 2).fill(-1);
  const set = new Set(allowed);
  for (let v = top, next = -1; v >= 0; v--) {
    if (set.has(v)) next = v;
    t[v] = next;
  }
  return t;
}

function membership(allowed: readonly number[], size: number): Uint8Array {
  const t = new Uint8Array(size);
  for (const v of allowed) t[v] = 1;
  return t;
}

function yearAllowed(rules: readonly YearRange[], y: number): boolean {
  if (rules.length === 0) return true;
  return rules.some((r) => y >= r.from && y <= r.to && (y - r.from) % r.step === 0);
}

// The search state is [year, month, day, hour, minute, second].
const Y = 0, MONTH = 1, DAY = 2, HOUR = 3, MINUTE = 4, SECOND = 5;
const LOWEST = [0, 1, 1, 0, 0, 0];

/**
 * Compile fields into `next(afterMs)`: the first event strictly after afterMs
 * in ms since the epoch, or undefined if there is none within HORIZON_YEARS.
 * Events fall on whole seconds, so a fractional afterMs works as expected.
 */
export function compileNext(fields: TimeFields): (afterMs: number) => number | undefined {
  const months = nextTable(fields.months, 12);
  const hours = nextTable(fields.hours, 23);
  const minutes = nextTable(fields.minutes, 59);
  const seconds = nextTable(fields.seconds, 59);
  const mdays = membership(fields.days, 32);
  const wdays = membership(fields.weekdays, 7);
  const either = fields.dayRule === 'either';

  // The first day ≥ d of y-m that passes the day-of-month/weekday rule, or -1.
  const findDay = (y: number, m: number, d: number): number => {
    const last = daysInMonth(y, m);
    let wd = weekdayOf(daysFromCivil(y, m, Math.min(d, last)));
    for (; d <= last; d++, wd = (wd + 1) % 7) {
      const dom = mdays[d] === 1;
      const dow = wdays[wd] === 1;
      if (either ? dom || dow : dom && dow) return d;
    }
    return -1;
  };

  return (afterMs) => {
    if (!Number.isFinite(afterMs)) return undefined;
    const first = Math.floor(afterMs / 1000) + 1;
    const day = Math.floor(first / SECONDS_PER_DAY);
    const rest = first - day * SECONDS_PER_DAY;
    const { y, m, d } = civilFromDays(day);
    const t = [y, m, d, Math.floor(rest / 3600), Math.floor((rest % 3600) / 60), rest % 60];
    const lastYear = y + HORIZON_YEARS;

    while (t[Y]! <= lastYear) {
      if (!yearAllowed(fields.years, t[Y]!)) {
        carry(t, Y);
        continue;
      }
      if (!settle(t, MONTH, months[t[MONTH]!]!)) continue;
      if (!settle(t, DAY, findDay(t[Y]!, t[MONTH]!, t[DAY]!))) continue;
      if (!settle(t, HOUR, hours[t[HOUR]!]!)) continue;
      if (!settle(t, MINUTE, minutes[t[MINUTE]!]!)) continue;
      if (!settle(t, SECOND, seconds[t[SECOND]!]!)) continue;
      const [yy, mo, dd, hh, mm, ss] = t as [number, number, number, number, number, number];
      return (daysFromCivil(yy, mo, dd) * SECONDS_PER_DAY + hh * 3600 + mm * 60 + ss) * 1000;
    }
    return undefined;
  };
}

/** Step field `level` up by one and restart every finer field at its lowest. */
function carry(t: number[], level: number): void {
  t[level]!++;
  for (let i = level + 1; i < t.length; i++) t[i] = LOWEST[i]!;
}

/**
 * Move field `level` to `found`, its next allowed value (≥ the current one),
 * restarting the finer fields if it moved; with none left (-1), carry into
 * the coarser field. Returns whether the search may go on to finer fields.
 * A carry may leave a field past its top (month 13, day 32, hour 24…): the
 * next round's lookup reads that as "none" and carries again.
 */
function settle(t: number[], level: number, found: number): boolean {
  if (found < 0) {
    carry(t, level - 1);
    return false;
  }
  if (found !== t[level]) {
    t[level] = found;
    for (let i = level + 1; i < t.length; i++) t[i] = LOWEST[i]!;
  }
  return true;
}
