/**
 * Config files of entries keyed by `name` (remote.json,
 * traffic-control.json): the name-keyed twin of job-config.ts's jobFile,
 * with the same field checks (readJob) and the same two error channels
 * (a file on disk → BULWARK_CONFIG_INVALID naming file and field; API input
 * → BULWARK_INVALID_ARGUMENT naming the parameter).
 */
import { bulwarkError } from '../errors.ts';
import { expectObject, readConfigFile, updateConfigFile, type Loaded } from './config-file.ts';
import { apiFields, fileFields, readJob, type FieldCheck, type JobSchema } from './job-config.ts';

/** PBS's remote and traffic-control rule ids: a safe id of 3 to 32 characters. */
export const safeName: FieldCheck = (v, field, sink) =>
  typeof v === 'string' && /^[A-Za-z0-9_][A-Za-z0-9._-]{2,31}$/.test(v)
    ? v
    : sink.invalid(field, `must be 3-32 of A-Z a-z 0-9 _ . - not starting with . or -, got ${(JSON.stringify(v) ?? String(v)).slice(0, 60)}`);

export interface NamedFile<E extends { readonly name: string }> {
  parse(raw: unknown, file: string): Readonly<Record<string, E>>;
  /** Check API input (which carries `name`) and return the entry as it will be stored. */
  validate(input: unknown): E;
  load(file: string): Loaded<Readonly<Record<string, E>>>;
  /**
   * Create or replace the entry. `beforeWrite` runs under the file lock once
   * the digest has matched, just before the file is written (remote-config.ts
   * stores the password there, so a refused write leaves both files as they were).
   */
  save(file: string, entry: E, opts?: { expectedDigest?: string; beforeWrite?: () => void }): Loaded<Readonly<Record<string, E>>>;
  /** BULWARK_NOT_FOUND when there is no such entry; nothing is written then. */
  remove(file: string, name: string, expectedDigest?: string): Loaded<Readonly<Record<string, E>>>;
}

export function namedFile<E extends { readonly name: string }>(kind: string, schema: JobSchema): NamedFile<E> {
  const empty = (): Readonly<Record<string, E>> => ({});
  const parse = (raw: unknown, file: string): Readonly<Record<string, E>> => {
    const out: Record<string, E> = {};
    for (const [name, value] of Object.entries(expectObject(raw, file, `${kind} config`))) {
      const what = `${kind} ${JSON.stringify(name)}`;
      const entry = expectObject(value, file, what);
      const sink = fileFields(file, what);
      if (entry.name !== undefined && entry.name !== name) sink.invalid('name', 'does not match its key');
      out[name] = readJob({ ...entry, name }, schema, kind, sink) as unknown as E;
    }
    return out;
  };
  const validate = (input: unknown): E => {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', kind, 'must be an object');
    }
    return readJob(input as Record<string, unknown>, schema, kind, apiFields) as unknown as E;
  };
  return {
    parse,
    validate,
    load: (file) => readConfigFile(file, parse, empty),
    save: (file, entry, opts = {}) => {
      const checked = validate(entry);
      return updateConfigFile(file, parse, empty, (cur) => {
        opts.beforeWrite?.();
        return { ...cur, [checked.name]: checked };
      }, opts.expectedDigest);
    },
    remove: (file, name, expectedDigest) =>
      updateConfigFile(file, parse, empty, (cur) => {
        if (!Object.hasOwn(cur, name)) throw bulwarkError('BULWARK_NOT_FOUND', `${kind} ${JSON.stringify(name)}`);
        const { [name]: _gone, ...rest } = cur;
        return rest;
      }, expectedDigest),
  };
}
