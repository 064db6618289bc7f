/**
 * Prune selection: which snapshots of one group to keep, with PBS's
 * semantics (pbs-datastore/src/prune.rs). Pure: no files, no clock; the
 * caller lists the snapshots and applies the verdict (prune-apply.ts).
 *
 * The walk, newest first:
 * 1. Unfinished snapshots (no manifest): the newest one, if it is newer than
 *    every finished one, is 'keep-partial' (its backup may still be running);
 *    every other unfinished one is 'remove'.
 * 2. Rules in order keep-last, -hourly, -daily, -weekly (ISO week), -monthly,
 *    -yearly. A rule ignores snapshots an earlier rule already marked, and
 *    periods that already hold a snapshot kept by an earlier rule. Of the
 *    rest, the first (newest) snapshot of each new period is kept, later ones
 *    of a period it has seen are marked 'remove' (so a coarser rule cannot
 *    keep them either), and the rule stops at the first new period once it
 *    has kept N; what it did not reach stays open for the next rule.
 * 3. Protected snapshots are 'protected' whatever happened above and count
 *    for no rule. Whatever is still unmarked is removed.
 * With no rule at all (every count missing or 0) nothing is pruned.
 *
 * Periods are calendar periods in one IANA time zone (UTC by default; PBS
 * uses the host's local time), so a daily period starts at local midnight.
 */
import { bulwarkError } from '../errors.ts';

export interface KeepOptions {
  readonly keepLast?: number;
  readonly keepHourly?: number;
  readonly keepDaily?: number;
  readonly keepWeekly?: number;
  readonly keepMonthly?: number;
  readonly keepYearly?: number;
}

export type PeriodKind = 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

export type PruneMark = 'keep' | 'remove' | 'protected' | 'keep-partial';

export interface PruneItem {
  /** Epoch seconds. */
  readonly time: number;
  readonly finished: boolean;
  readonly protected: boolean;
}

export interface PruneDecision<T> {
  readonly item: T;
  readonly mark: PruneMark;
  /** The rule and period that kept it ('keep-daily 2026/11/24'), or why it goes. */
  readonly reason: string;
}

export interface PruneSelectOptions {
  /** IANA zone the calendar periods are computed in (default 'UTC'). */
  readonly timeZone?: string;
}

/** The rules in the order PBS applies them; keep-last has no calendar period. */
const RULES: ReadonlyArray<{ readonly option: keyof KeepOptions; readonly name: string; readonly period?: PeriodKind }> = [
  { option: 'keepLast', name: 'keep-last' },
  { option: 'keepHourly', name: 'keep-hourly', period: 'hourly' },
  { option: 'keepDaily', name: 'keep-daily', period: 'daily' },
  { option: 'keepWeekly', name: 'keep-weekly', period: 'weekly' },
  { option: 'keepMonthly', name: 'keep-monthly', period: 'monthly' },
  { option: 'keepYearly', name: 'keep-yearly', period: 'yearly' },
];

/** Checks every count (a non-negative safe integer or absent) and returns `opts`. */
export function validateKeepOptions(opts: KeepOptions): KeepOptions {
  if (opts === null || typeof opts !== 'object') {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'keep options', 'not an object');
  }
  for (const { option, name } of RULES) {
    const value: unknown = opts[option];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, `${String(value)} (must be a non-negative integer)`);
    }
  }
  return opts;
}

/** True when some rule keeps at least one snapshot; false means "prune nothing". */
export function hasKeepRules(opts: KeepOptions): boolean {
  validateKeepOptions(opts);
  return RULES.some(({ option }) => (opts[option] ?? 0) > 0);
}

// ── calendar periods ───────────────────────────────────────────────────────

/** One formatter per zone: building one costs far more than using it. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    if (typeof timeZone !== 'string' || timeZone === '') {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'time zone', String(timeZone));
    }
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone, year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', hourCycle: 'h23',
      });
    } catch (err) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'time zone', `${timeZone} (${(err as Error).message})`, { cause: err });
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws BULWARK_INVALID_ARGUMENT unless `timeZone` is an IANA zone this runtime knows. */
export function validateTimeZone(timeZone: string): string {
  formatterFor(timeZone);
  return timeZone;
}

interface LocalTime { readonly y: number; readonly m: number; readonly d: number; readonly h: number }

function localTime(time: number, timeZone: string): LocalTime {
  if (!Number.isFinite(time)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'snapshot time', String(time));
  const parts: Record<string, number> = {};
  for (const p of formatterFor(timeZone).formatToParts(time * 1000)) {
    if (p.type === 'year' || p.type === 'month' || p.type === 'day' || p.type === 'hour') parts[p.type] = Number(p.value);
  }
  return { y: parts.year!, m: parts.month!, d: parts.day!, h: parts.hour! };
}

const DAY_MS = 86_400_000;

/** Midnight UTC of a calendar date, in ms (setUTCFullYear: no 19xx mapping for years < 100). */
function utcDate(y: number, m: number, d: number): number {
  const date = new Date(0);
  date.setUTCFullYear(y, m - 1, d);
  return date.getTime();
}

/**
 * ISO-8601 week-year and week (`%G/%V`): weeks start on Monday and belong to
 * the year that holds their Thursday, so Jan 1-3 may be in the previous
 * year's week 52/53 and Dec 29-31 in the next year's week 1.
 */
function isoWeek(y: number, m: number, d: number): { year: number; week: number } {
  const day = utcDate(y, m, d);
  const weekday = ((new Date(day).getUTCDay() + 6) % 7) + 1; // Monday 1 … Sunday 7
  const thursday = day + (4 - weekday) * DAY_MS;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - utcDate(year, 1, 1)) / DAY_MS / 7) + 1;
  return { year, week };
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function keyOf(kind: PeriodKind, t: LocalTime): string {
  switch (kind) {
    case 'hourly': return `${pad(t.y, 4)}/${pad(t.m)}/${pad(t.d)}/${pad(t.h)}`;
    case 'daily': return `${pad(t.y, 4)}/${pad(t.m)}/${pad(t.d)}`;
    case 'weekly': { const w = isoWeek(t.y, t.m, t.d); return `${pad(w.year, 4)}/${pad(w.week)}`; }
    case 'monthly': return `${pad(t.y, 4)}/${pad(t.m)}`;
    case 'yearly': return pad(t.y, 4);
  }
}

/**
 * The calendar period holding `time` (epoch s) in `timeZone`, formatted as
 * PBS's strftime patterns: hourly `%Y/%m/%d/%H`, daily `%Y/%m/%d`, weekly
 * `%G/%V` (ISO week-year and week), monthly `%Y/%m`, yearly `%Y`.
 */
export function prunePeriodKey(kind: PeriodKind, time: number, timeZone = 'UTC'): string {
  if (!RULES.some((r) => r.period === kind)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'period', String(kind));
  return keyOf(kind, localTime(time, timeZone));
}

// ── selection ──────────────────────────────────────────────────────────────

/** Marks for every item, newest first (see the header for the walk). */
export function selectPrune<T extends PruneItem>(items: readonly T[], opts: KeepOptions, select: PruneSelectOptions = {}): PruneDecision<T>[] {
  const timeZone = validateTimeZone(select.timeZone ?? 'UTC');
  const keepSomething = hasKeepRules(opts);
  for (const item of items) {
    if (!Number.isFinite(item.time)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'snapshot time', String(item.time));
  }
  // Newest first; sort is stable, so equal times keep their input order.
  const list = [...items].sort((a, b) => b.time - a.time);
  if (!keepSomething) {
    return list.map((item) => (item.protected
      ? { item, mark: 'protected' as const, reason: 'protected' }
      : { item, mark: 'keep' as const, reason: 'no keep rule given: nothing is pruned' }));
  }

  const marks: Array<PruneMark | undefined> = new Array(list.length);
  const reasons: string[] = new Array(list.length);
  /** Why an unmarked snapshot goes, if a rule passed it over for an already covered period. */
  const covered: Array<string | undefined> = new Array(list.length);
  const locals: Array<LocalTime | undefined> = new Array(list.length);
  const local = (i: number): LocalTime => (locals[i] ??= localTime(list[i]!.time, timeZone));

  // 1. Unfinished snapshots: only a newest one may still be running.
  let newest = true;
  list.forEach((item, i) => {
    if (!item.finished) {
      marks[i] = newest ? 'keep-partial' : 'remove';
      reasons[i] = newest ? 'unfinished, newest snapshot: its backup may still be running' : 'unfinished, and a newer snapshot exists';
    }
    newest = false;
  });

  // 2. The rules, each over what the earlier ones left unmarked.
  for (const rule of RULES) {
    const count = opts[rule.option] ?? 0;
    if (count === 0) continue;
    const period = rule.period;
    const keyAt = (i: number): string => (period === undefined ? `#${i}` : keyOf(period, local(i)));
    const label = (key: string): string => `${period} period ${key}`;

    const alreadyKept = new Set<string>();
    list.forEach((_, i) => { if (marks[i] === 'keep') alreadyKept.add(keyAt(i)); });

    const kept = new Set<string>();
    for (let i = 0; i < list.length; i++) {
      if (marks[i] !== undefined) continue;
      if (list[i]!.protected) {
        marks[i] = 'protected';
        continue;
      }
      const key = keyAt(i);
      if (alreadyKept.has(key)) {
        covered[i] ??= `superseded in its ${label(key)}`;
        continue;
      }
      if (kept.has(key)) {
        marks[i] = 'remove';
        reasons[i] = `superseded in its ${label(key)}`;
        continue;
      }
      if (kept.size >= count) break;
      kept.add(key);
      marks[i] = 'keep';
      reasons[i] = period === undefined ? `keep-last #${kept.size}` : `${rule.name} ${key}`;
    }
  }

  // 3. Protection wins over everything; the rest goes.
  return list.map((item, i) => {
    if (item.protected) return { item, mark: 'protected', reason: 'protected' };
    const mark = marks[i];
    if (mark === undefined) return { item, mark: 'remove', reason: covered[i] ?? 'not kept by any rule' };
    return { item, mark, reason: reasons[i]! };
  });
}
