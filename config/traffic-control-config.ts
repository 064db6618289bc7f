/**
 * traffic-control.json: bandwidth rules for client networks, with PBS's
 * traffic-control.cfg field names: a rule applies to connections from its
 * `network` CIDRs, during its `timeframe`s (all the time when none), and
 * limits them to `rate-in`/`rate-out` with `burst-in`/`burst-out` bucket
 * sizes. Also home of the rate-limit values sync jobs share (PBS
 * RateLimitConfig): byte sizes written as PBS's HumanByte (`10MiB`,
 * `1.5 GB`, `500000`) and stored normalised the way PBS prints them
 * (`10 MiB`), so a PBS client reads back what it expects.
 */
import { isIP } from 'node:net';
import type { Loaded } from './config-file.ts';
import { comment, type FieldCheck, type JobSchema } from './job-config.ts';
import { namedFile, safeName } from './keyed-config.ts';

export interface TrafficControlRule {
  readonly name: string;
  readonly comment?: string;
  /** Source networks the rule applies to (CIDR). */
  readonly network: readonly string[];
  readonly 'rate-in'?: string;
  readonly 'burst-in'?: string;
  readonly 'rate-out'?: string;
  readonly 'burst-out'?: string;
  /** `[weekdays] H[:MM]-H[:MM]` each; absent means always. */
  readonly timeframe?: readonly string[];
}

export type TrafficControlMap = Readonly<Record<string, TrafficControlRule>>;

const show = (v: unknown): string => (JSON.stringify(v) ?? String(v)).slice(0, 60);

// ── byte sizes (PBS HumanByte) ─────────────────────────────────────────────

const UNITS = ['', 'K', 'M', 'G', 'T', 'P'] as const;
const HUMAN_BYTE = /^(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i)?)?b?$/i;

export interface HumanByte {
  /** Bytes (fractional inputs such as `1.5 KB` may give a fraction). */
  readonly bytes: number;
  /** As PBS prints it: at most 3 decimals, then the unit (`10 MiB`, `1.5 KB`, `500000 B`). */
  readonly text: string;
}

/** PBS HumanByte: a number with an optional SI (`KB`) or IEC (`KiB`) unit; the `B` is optional. Undefined when not one. */
export function parseHumanByte(text: string): HumanByte | undefined {
  if (text.length > 64) return undefined;
  const m = HUMAN_BYTE.exec(text.trim());
  if (!m) return undefined;
  const size = Number(m[1]);
  const power = m[2] === undefined ? 0 : UNITS.indexOf(m[2].toUpperCase() as (typeof UNITS)[number]);
  const binary = m[3] !== undefined;
  const unit = power === 0 ? 'B' : `${UNITS[power]}${binary ? 'iB' : 'B'}`;
  const shown = Math.round(size * 1000) / 1000;
  return { bytes: size * (binary ? 1024 : 1000) ** power, text: `${shown} ${unit}` };
}

/** Rate or burst field: stored as PBS prints it. */
export const byteSize: FieldCheck = (v, field, sink) => {
  const parsed = typeof v === 'string' ? parseHumanByte(v) : Number.isSafeInteger(v) && (v as number) >= 0 ? parseHumanByte(String(v)) : undefined;
  return parsed ? parsed.text : sink.invalid(field, `must be a byte size such as 10MiB, 1.5GB or 500000, got ${show(v)}`);
};

/** PBS RateLimitConfig, shared by traffic-control rules and sync jobs. */
export const RATE_LIMIT_FIELDS = {
  'rate-in': { check: byteSize },
  'burst-in': { check: byteSize },
  'rate-out': { check: byteSize },
  'burst-out': { check: byteSize },
} as const satisfies JobSchema;

// ── networks and time frames ────────────────────────────────────────────────

/** `addr/prefix` with an IPv4 (0-32) or IPv6 (0-128) prefix, as PBS CIDR_SCHEMA. */
export function isCidr(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0) return false;
  const family = isIP(text.slice(0, slash));
  const prefix = text.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const FULL_WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const weekday = (s: string): number => {
  const lower = s.toLowerCase();
  const i = WEEKDAYS.indexOf(lower);
  return i >= 0 ? i : FULL_WEEKDAYS.indexOf(lower);
};

/** Minutes since midnight of `H` or `H:MM` (hour below 24, as proxmox-time), or -1. */
function hmTime(s: string): number {
  const m = /^(\d{1,2})(?::(\d{2}))?$/.exec(s);
  if (!m) return -1;
  const h = Number(m[1]);
  const min = m[2] === undefined ? 0 : Number(m[2]);
  return h < 24 && min < 60 ? h * 60 + min : -1;
}

/** PBS daily duration (proxmox-time): `[mon..fri,sun] 8:00-17:30`. Returns why it is not one, or undefined. */
export function timeframeProblem(text: string): string | undefined {
  const m = /^\s*(?:([A-Za-z.,]+)\s+)?([0-9:]+)\s*-\s*([0-9:]+)\s*$/.exec(text);
  if (!m) return 'expected [WEEKDAYS] H[:MM]-H[:MM]';
  for (const range of m[1]?.split(',') ?? []) {
    const ends = range.split('..');
    if (ends.length > 2 || ends.some((d) => weekday(d) < 0)) return `bad weekday range ${JSON.stringify(range)}`;
  }
  const start = hmTime(m[2]!);
  const end = hmTime(m[3]!);
  if (start < 0 || end < 0) return 'times are H or H:MM with hours 0-23';
  if (start > end) return 'end time before start time';
  return undefined;
}

function list(item: (s: string) => string | undefined, min: number): FieldCheck {
  return (v, field, sink) => {
    if (!Array.isArray(v) || v.length < min) return sink.invalid(field, `must be a list${min > 0 ? ' of at least one entry' : ''}, got ${show(v)}`);
    for (const e of v) {
      const problem = typeof e === 'string' ? item(e) : 'not a string';
      if (problem !== undefined) sink.invalid(field, `${show(e)}: ${problem}`);
    }
    return v.length === 0 ? undefined : v.map((e: string) => e.trim());
  };
}

const TRAFFIC_CONTROL_FIELDS: JobSchema = {
  name: { check: safeName, required: true },
  comment: { check: comment },
  network: { check: list((s) => (isCidr(s.trim()) ? undefined : 'not an IP network in CIDR notation (10.0.0.0/8, fd00::/8)'), 1), required: true },
  ...RATE_LIMIT_FIELDS,
  timeframe: { check: list(timeframeProblem, 0) },
};

const rules = namedFile<TrafficControlRule>('traffic control rule', TRAFFIC_CONTROL_FIELDS);

export function parseTrafficControl(raw: unknown, file: string): TrafficControlMap {
  return rules.parse(raw, file);
}

/** API input → rule; BULWARK_INVALID_ARGUMENT naming the parameter. */
export function validateTrafficControlRule(input: unknown): TrafficControlRule {
  return rules.validate(input);
}

export function loadTrafficControl(file: string): Loaded<TrafficControlMap> {
  return rules.load(file);
}

/** Create or replace; BULWARK_CONFIG_DIGEST when `expectedDigest` is stale. */
export function saveTrafficControlRule(file: string, rule: TrafficControlRule, expectedDigest?: string): Loaded<TrafficControlMap> {
  return rules.save(file, rule, expectedDigest === undefined ? {} : { expectedDigest });
}

/** BULWARK_NOT_FOUND when absent. */
export function deleteTrafficControlRule(file: string, name: string, expectedDigest?: string): Loaded<TrafficControlMap> {
  return rules.remove(file, name, expectedDigest);
}
