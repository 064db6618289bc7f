/**
 * Job schedules: the one entry point job configs and the scheduler use.
 * A schedule is either a PBS calendar event (`daily`, `mon..fri 02:00`,
 * `*:0/15`) or a 5-field cron line (`0 2 * * 1-5`); parseSchedule tells them
 * apart by shape. Both compile to the same field sets and share one exact
 * next-event search (calendar-event-next.ts). Times are UTC throughout.
 */
import { bulwarkError } from '../errors.ts';
import { compileNext, type TimeFields } from './calendar-event-next.ts';
import { parseCalendarEvent } from './calendar-event-parse.ts';
import { looksLikeCron, parseCron } from './cron-schedule.ts';

export interface Schedule {
  /** The schedule as written (trimmed). */
  readonly text: string;
  readonly kind: 'calendar' | 'cron';
  /**
   * The first event strictly after afterMs, in ms since the epoch (UTC), or
   * undefined if there is none within about 100 years (`2027-02-29`).
   */
  next(afterMs: number): number | undefined;
}

/**
 * Five whitespace-separated fields made only of cron characters (digits,
 * names, `* , - /`) are cron; anything else is a calendar event. The two
 * cannot collide: a calendar event has at most four parts and cron never
 * uses `:` or `..`. Throws BULWARK_BAD_SCHEDULE.
 */
export function parseSchedule(text: string): Schedule {
  if (typeof text !== 'string') throw bulwarkError('BULWARK_BAD_SCHEDULE', String(text), 'not a string');
  return looksLikeCron(text) ? cronSchedule(text) : calendarSchedule(text);
}

export function calendarSchedule(text: string): Schedule {
  return schedule(text, 'calendar', parseCalendarEvent(text));
}

export function cronSchedule(text: string): Schedule {
  return schedule(text, 'cron', parseCron(text));
}

function schedule(text: string, kind: Schedule['kind'], fields: TimeFields): Schedule {
  return { text: text.trim(), kind, next: compileNext(fields) };
}
