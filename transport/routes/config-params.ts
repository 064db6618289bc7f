/**
 * Shared plumbing of the /config routes, after PBS's config API: request
 * parameters typed per field, including PBS's list parameters (repeated
 * form keys or JSON arrays, which params.ts's scalar Params cannot carry),
 * the `delete` list and `digest` of an update, merging an update into the
 * stored entry, and the `digest` PBS puts beside `data` in read replies.
 * Every refusal is a 400 naming the parameter; unknown parameters are
 * refused too, as PBS's schemas do, so a misspelt field never goes unnoticed.
 */
import { bulwarkError } from '../../errors.ts';
import { WithMeta, type ApiRequest } from '../http-api.ts';
import { Params } from '../params.ts';

/** `csv` lists also split single values at commas, semicolons and blanks (CIDRs, property names). */
export type FieldType = 'string' | 'int' | 'bool' | 'list' | 'csv';
export type FieldTypes = Readonly<Record<string, FieldType>>;

export interface ConfigInput {
  /** Every value of every parameter, body over query. */
  readonly values: ReadonlyMap<string, readonly string[]>;
  /** The last value of each, for params.ts's typed readers. */
  readonly params: Params;
}

function jsonValues(key: string, v: unknown): string[] | undefined {
  if (v === null) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  if (Array.isArray(v) && v.every((e) => typeof e === 'string' || typeof e === 'number')) return v.map(String);
  throw bulwarkError('BULWARK_INVALID_ARGUMENT', key, 'expected a string, number, boolean or a list of strings');
}

export function configInput(req: ApiRequest): ConfigInput {
  const values = new Map<string, string[]>();
  const add = (from: Map<string, string[]>, k: string, v: string): void => {
    const list = from.get(k);
    if (list) list.push(v);
    else from.set(k, [v]);
  };
  for (const [k, v] of req.query) add(values, k, v);
  if (req.method === 'POST' || req.method === 'PUT') {
    const body = new Map<string, string[]>();
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const text = req.body.toString('utf8');
    if (type === 'application/json') {
      let raw: unknown;
      try {
        raw = text.length === 0 ? {} : JSON.parse(text);
      } catch {
        throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'request body', 'not valid JSON');
      }
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'request body', 'expected a JSON object');
      for (const [k, v] of Object.entries(raw)) {
        const list = jsonValues(k, v);
        if (list) body.set(k, list);
      }
    } else {
      for (const [k, v] of new URLSearchParams(text)) add(body, k, v);
    }
    for (const [k, list] of body) values.set(k, list);
  }
  return { values, params: new Params(new Map([...values].map(([k, list]) => [k, list[list.length - 1]!]))) };
}

const splitCsv = (list: readonly string[]): string[] => list.flatMap((v) => v.split(/[\s,;]+/)).filter((v) => v !== '');

/**
 * The parameters of `types` as typed values (ints and booleans parsed, lists
 * as arrays). An empty string counts as not given, except `comment`, whose
 * emptiness an update turns into deleting it. `digest` and `delete` are read
 * separately and skipped here; any other unknown parameter is refused.
 */
export function typedFields(input: ConfigInput, types: FieldTypes): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, list] of input.values) {
    if (key === 'digest' || key === 'delete') continue;
    const type = types[key];
    if (type === undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', key, 'unknown parameter');
    if (type === 'list' || type === 'csv') {
      const items = type === 'csv' ? splitCsv(list) : list.filter((v) => v !== '');
      if (items.length > 0) out[key] = items;
      continue;
    }
    if (list.length > 1) throw bulwarkError('BULWARK_INVALID_ARGUMENT', key, 'expected a single value');
    if (list[0] === '' && key !== 'comment') continue;
    out[key] = type === 'int' ? input.params.int(key) : type === 'bool' ? input.params.bool(key) : list[0];
  }
  return out;
}

/** PBS's `delete` list (repeated, or comma separated); each name must be one of `deletable`. */
export function deleteList(input: ConfigInput, deletable: readonly string[]): string[] {
  const names = splitCsv(input.values.get('delete') ?? []);
  for (const name of names) {
    if (!deletable.includes(name)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'delete', `${JSON.stringify(name)} cannot be deleted (deletable: ${deletable.join(', ')})`);
  }
  return names;
}

/** The config digest an update was based on (hex SHA-256), if the client sent one. */
export function digestParam(input: ConfigInput): string | undefined {
  const digest = input.params.string('digest');
  if (digest === undefined || digest === '') return undefined;
  if (!/^[0-9a-f]{64}$/i.test(digest)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'digest', 'must be 64 hex digits');
  return digest.toLowerCase();
}

/** Refuse early (409) when the client's digest is stale; the save checks again under the file lock. */
export function expectDigest(what: string, given: string | undefined, current: string): void {
  if (given !== undefined && given !== current) throw bulwarkError('BULWARK_CONFIG_DIGEST', what);
}

/**
 * PBS's update: delete the listed properties, then set the given ones; a
 * comment is trimmed and an empty one deleted.
 */
export function mergeUpdate<E extends object>(current: E, update: Readonly<Record<string, unknown>>, deletes: readonly string[]): Record<string, unknown> {
  const next: Record<string, unknown> = { ...(current as Record<string, unknown>) };
  for (const name of deletes) delete next[name];
  for (const [key, value] of Object.entries(update)) {
    if (key === 'comment' && typeof value === 'string') {
      const trimmed = value.trim();
      if (trimmed === '') delete next.comment;
      else next.comment = trimmed;
    } else {
      next[key] = value;
    }
  }
  return next;
}

/** On create an empty comment is just not given. */
export function withoutEmptyComment(fields: Record<string, unknown>): Record<string, unknown> {
  if (typeof fields.comment === 'string' && fields.comment.trim() === '') {
    const { comment: _gone, ...rest } = fields;
    return rest;
  }
  return typeof fields.comment === 'string' ? { ...fields, comment: fields.comment.trim() } : fields;
}

/** A read reply with PBS's `digest` beside `data`. */
export const withDigest = (data: unknown, digest: string): WithMeta => new WithMeta(data, { digest });
