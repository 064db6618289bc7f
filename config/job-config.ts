/**
 * What prune and verify job configs share (after PBS prune.cfg and
 * verification.cfg): the field checks and the load/save/delete of a
 * `{ "<id>": {...} }` file, written once for both.
 *
 * Each check serves two readers that differ only in how a bad field is
 * reported: a file on disk fails with BULWARK_CONFIG_INVALID naming the file
 * and `<job> <id>.<field>`; API input fails with BULWARK_INVALID_ARGUMENT
 * naming the parameter, or with parseSchedule's own BULWARK_BAD_SCHEDULE.
 * Unknown fields are refused in both: a misspelt `keep-dayly` that was
 * silently ignored would make a prune job delete more than its owner meant.
 */
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { MAX_NAMESPACE_DEPTH, formatNamespace, parseNamespace } from '../datastore/names.ts';
import { expectObject, readConfigFile, updateConfigFile, type Loaded } from './config-file.ts';
import { parseSchedule } from './schedule.ts';

/** Where a bad field goes: see the header. */
export interface FieldSink {
  invalid(field: string, reason: string): never;
  badSchedule(field: string, err: unknown): never;
}

export const apiFields: FieldSink = {
  invalid: (field, reason) => { throw bulwarkError('BULWARK_INVALID_ARGUMENT', field, reason); },
  badSchedule: (_field, err) => { throw err; },
};

export function fileFields(file: string, what: string): FieldSink {
  const invalid = (field: string, reason: string, cause?: unknown): never => {
    throw bulwarkError('BULWARK_CONFIG_INVALID', file, `${what}.${field}: ${reason}`, ...(cause === undefined ? [] : [{ cause }]));
  };
  return { invalid, badSchedule: (field, err) => invalid(field, (err as Error).message, err) };
}

/** Returns the value to store, or undefined to leave the field out. */
export type FieldCheck = (value: unknown, field: string, sink: FieldSink) => unknown;
export interface FieldSpec {
  readonly check: FieldCheck;
  readonly required?: boolean;
}
export type JobSchema = Readonly<Record<string, FieldSpec>>;

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** PBS's safe id, as for datastore names: 1-32 of A-Z a-z 0-9 _ . - (not starting with . or -). */
const SAFE_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/;

export const safeId: FieldCheck = (v, field, sink) =>
  typeof v === 'string' && SAFE_ID.test(v)
    ? v
    : sink.invalid(field, `must be 1-32 of A-Z a-z 0-9 _ . - not starting with . or -, got ${show(v)}`);

/** `a/b/c`, at most 7 levels; `''` is the root namespace and is left out. */
export const namespace: FieldCheck = (v, field, sink) => {
  try {
    const parts = parseNamespace(v);
    return parts.length === 0 ? undefined : formatNamespace(parts);
  } catch (err) {
    if (!isBulwarkError(err, 'BULWARK_INVALID_NAME') && !isBulwarkError(err, 'BULWARK_NAMESPACE_TOO_DEEP')) throw err;
    return sink.invalid(field, err.message);
  }
};

export const maxDepth: FieldCheck = (v, field, sink) =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_NAMESPACE_DEPTH
    ? v
    : sink.invalid(field, `must be an integer from 0 to ${MAX_NAMESPACE_DEPTH}, got ${show(v)}`);

/** Keep counts and day counts. */
export const count: FieldCheck = (v, field, sink) =>
  Number.isSafeInteger(v) && (v as number) >= 0 ? v : sink.invalid(field, `must be a non-negative integer, got ${show(v)}`);

export const flag: FieldCheck = (v, field, sink) =>
  typeof v === 'boolean' ? v : sink.invalid(field, `must be true or false, got ${show(v)}`);

/** PBS's single-line comment: no control characters (a newline would break task lists). */
export const comment: FieldCheck = (v, field, sink) =>
  typeof v === 'string' && !/\p{Cc}/u.test(v) ? v : sink.invalid(field, `must be a single-line string, got ${show(v)}`);

/** Stored as written (trimmed); parsed again by whoever runs the job. */
export const schedule: FieldCheck = (v, field, sink) => {
  try {
    return parseSchedule(v as string).text;
  } catch (err) {
    if (!isBulwarkError(err, 'BULWARK_BAD_SCHEDULE')) throw err;
    return sink.badSchedule(field, err);
  }
};

/** The fields every job kind has, in the order they are written. */
export const COMMON_FIELDS = {
  id: { check: safeId, required: true },
  store: { check: safeId, required: true },
  ns: { check: namespace },
  'max-depth': { check: maxDepth },
} as const satisfies JobSchema;
export const TRAILING_FIELDS = {
  disable: { check: flag },
  comment: { check: comment },
} as const satisfies JobSchema;

/** Check one job against its schema; the result holds only schema fields, in schema order. */
export function readJob(obj: Record<string, unknown>, schema: JobSchema, kind: string, sink: FieldSink): Record<string, unknown> {
  for (const key of Object.keys(obj)) {
    if (!Object.hasOwn(schema, key)) sink.invalid(key, `is not a ${kind} parameter`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    if (obj[key] === undefined) {
      if (spec.required) sink.invalid(key, 'is required');
      continue;
    }
    const value = spec.check(obj[key], key, sink);
    if (value !== undefined) out[key] = value;
  }
  // PBS check_max_depth: the walk below ns may not pass the deepest namespace level.
  const depth = typeof out.ns === 'string' ? out.ns.split('/').length : 0;
  const below = out['max-depth'] as number | undefined;
  if (below !== undefined && depth + below > MAX_NAMESPACE_DEPTH) {
    sink.invalid('max-depth', `ns ${show(out.ns)} is ${depth} levels deep, so max-depth may be at most ${MAX_NAMESPACE_DEPTH - depth}, got ${below}`);
  }
  return out;
}

export interface JobFile<J extends { readonly id: string }> {
  /** Parser for readConfigFile: the whole `{ "<id>": job }` map. */
  parse(raw: unknown, file: string): Readonly<Record<string, J>>;
  /** Check API input (which carries `id`) and return the job as it will be stored. */
  validate(input: unknown): J;
  load(file: string): Loaded<Readonly<Record<string, J>>>;
  /** Create or replace the job with this id. */
  save(file: string, job: J, expectedDigest?: string): Loaded<Readonly<Record<string, J>>>;
  /** BULWARK_NOT_FOUND when there is no such job; nothing is written then. */
  remove(file: string, id: string, expectedDigest?: string): Loaded<Readonly<Record<string, J>>>;
}

export function jobFile<J extends { readonly id: string }>(kind: string, schema: JobSchema): JobFile<J> {
  const empty = (): Readonly<Record<string, J>> => ({});
  const parse = (raw: unknown, file: string): Readonly<Record<string, J>> => {
    const out: Record<string, J> = {};
    for (const [id, value] of Object.entries(expectObject(raw, file, `${kind} config`))) {
      const what = `${kind} ${SAFE_ID.test(id) ? id : JSON.stringify(id)}`;
      const entry = expectObject(value, file, what);
      const sink = fileFields(file, what);
      // The key is the id; an `id` inside is tolerated only when it agrees.
      if (entry.id !== undefined && entry.id !== id) sink.invalid('id', `${show(entry.id)} does not match its key`);
      out[id] = readJob({ ...entry, id }, schema, kind, sink) as unknown as J;
    }
    return out;
  };
  const validate = (input: unknown): J => {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', kind, 'must be an object');
    }
    return readJob(input as Record<string, unknown>, schema, kind, apiFields) as unknown as J;
  };
  return {
    parse,
    validate,
    load: (file) => readConfigFile(file, parse, empty),
    save: (file, job, expectedDigest) => {
      const checked = validate(job);
      return updateConfigFile(file, parse, empty, (cur) => ({ ...cur, [checked.id]: checked }), expectedDigest);
    },
    remove: (file, id, expectedDigest) =>
      updateConfigFile(file, parse, empty, (cur) => {
        if (!Object.hasOwn(cur, id)) throw bulwarkError('BULWARK_NOT_FOUND', `${kind} ${show(id)}`);
        const { [id]: _gone, ...rest } = cur;
        return rest;
      }, expectedDigest),
  };
}
