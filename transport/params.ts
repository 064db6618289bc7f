/**
 * Request parameters, as PBS clients send them: url-encoded forms (every
 * value a string) or JSON bodies, plus the query string. Values are read as
 * the type the endpoint declares, and a bad one is refused with a 400 that
 * names the parameter.
 */
import { bulwarkError } from '../errors.ts';
import type { ApiRequest } from './http-api.ts';

/** Body parameters as strings: JSON object or url-encoded form, chosen by Content-Type. */
export function bodyParams(req: ApiRequest): Map<string, string> {
  const out = new Map<string, string>();
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
      if (typeof v === 'string') out.set(k, v);
      else if (typeof v === 'number' || typeof v === 'boolean') out.set(k, String(v));
      else if (v !== null) throw bulwarkError('BULWARK_INVALID_ARGUMENT', k, 'expected a string, number or boolean');
    }
    return out;
  }
  for (const [k, v] of new URLSearchParams(text)) out.set(k, v);
  return out;
}

/** Body parameters over the query string's (GET-style parameters on a POST are accepted too, as PBS does). */
export function requestParams(req: ApiRequest): Params {
  const map = new Map<string, string>(req.query);
  const hasBody = req.method === 'POST' || req.method === 'PUT';
  if (hasBody) for (const [k, v] of bodyParams(req)) map.set(k, v);
  return new Params(map);
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

export class Params {
  constructor(readonly map: ReadonlyMap<string, string>) {}

  string(name: string): string | undefined {
    return this.map.get(name);
  }

  required(name: string): string {
    const v = this.map.get(name);
    if (v === undefined || v === '') throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, 'parameter is missing');
    return v;
  }

  int(name: string, range: { min?: number; max?: number } = {}): number | undefined {
    const v = this.map.get(name);
    if (v === undefined || v === '') return undefined;
    if (!/^-?\d{1,15}$/.test(v)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, `${JSON.stringify(v)} is not an integer`);
    const n = Number(v);
    if (range.min !== undefined && n < range.min) throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, `${n} is below the minimum ${range.min}`);
    if (range.max !== undefined && n > range.max) throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, `${n} is above the maximum ${range.max}`);
    return n;
  }

  bool(name: string): boolean | undefined {
    const v = this.map.get(name)?.toLowerCase();
    if (v === undefined || v === '') return undefined;
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, `${JSON.stringify(v)} is not a boolean (use 1/0 or true/false)`);
  }
}
