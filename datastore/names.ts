/**
 * Validation of every name that becomes part of a store path or is stored
 * beside one: backup types, backup ids, namespace components and paths,
 * snapshot times and owner auth ids.
 *
 * Names are checked against a closed ASCII charset (PBS's safe id,
 * `[A-Za-z0-9_][A-Za-z0-9._-]*`), so path traversal (`.`, `..`, `/`, `\`),
 * NUL and control characters, and unicode lookalikes are all impossible by
 * construction. Each validator returns its input or throws
 * BULWARK_INVALID_NAME whose message says what exactly is wrong; positions in
 * messages are 0-based code-point offsets.
 */
import { bulwarkError } from '../errors.ts';

export const BACKUP_TYPES = ['vm', 'ct', 'host'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

/** Longest backup id, namespace component or token name. */
export const MAX_NAME_LENGTH = 128;
/** PBS `MAX_NAMESPACE_DEPTH`. */
export const MAX_NAMESPACE_DEPTH = 7;
/** PBS `MAX_BACKUP_NAMESPACE_LENGTH`: the whole `a/b/c` text. */
export const MAX_NAMESPACE_PATH_LENGTH = 256;
/** 9999-12-31T23:59:59Z: the last time with a four-digit year. */
export const MAX_BACKUP_TIME = 253_402_300_799;

function quote(value: string): string {
  const shown = value.length > 48 ? `${value.slice(0, 48)}…` : value;
  return JSON.stringify(shown);
}

function invalid(kind: string, value: string, reason: string): never {
  throw bulwarkError('BULWARK_INVALID_NAME', kind, quote(value), reason);
}

const SAFE_FIRST = /^[A-Za-z0-9_]$/;
const SAFE_REST = /^[A-Za-z0-9._-]$/;

/** The reason `value` is not a safe id, or undefined when it is one. */
function safeIdProblem(value: string, maxLength: number): string | undefined {
  if (value.length === 0) return 'empty';
  if (value.length > maxLength) return `longer than ${maxLength} characters`;
  let pos = 0;
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0)) return `control character at position ${pos}`;
    if (ch === '/') return "contains '/'";
    if (ch === '\\') return "contains '\\'";
    if (!SAFE_REST.test(ch)) {
      const hex = code.toString(16).toUpperCase().padStart(4, '0');
      return `character '${ch}' (U+${hex}) at position ${pos} is not allowed (only A-Z a-z 0-9 _ . -)`;
    }
    pos++;
  }
  if (value === '.' || value === '..') return `is '${value}' (path traversal)`;
  if (!SAFE_FIRST.test(value[0]!)) return `starts with '${value[0]}'`;
  return undefined;
}

function checkSafeId(kind: string, value: unknown, maxLength = MAX_NAME_LENGTH): string {
  if (typeof value !== 'string') invalid(kind, String(value), 'not a string');
  const problem = safeIdProblem(value, maxLength);
  if (problem !== undefined) invalid(kind, value, problem);
  return value;
}

export function isBackupType(value: unknown): value is BackupType {
  return typeof value === 'string' && (BACKUP_TYPES as readonly string[]).includes(value);
}

export function validateBackupType(value: unknown): BackupType {
  if (isBackupType(value)) return value;
  const text = String(value);
  invalid('backup type', text, text === '' ? 'empty' : `must be one of ${BACKUP_TYPES.join(', ')}`);
}

export function validateBackupId(value: unknown): string {
  return checkSafeId('backup id', value);
}

export function validateNamespaceComponent(value: unknown): string {
  return checkSafeId('namespace component', value);
}

/** Safe-id check for other names that end up in lock paths (job names). */
export function validateSafeId(kind: string, value: unknown): string {
  return checkSafeId(kind, value);
}

/**
 * Check a list of namespace components (depth first, then each component,
 * then the joined length). Returns a frozen copy.
 */
export function validateNamespaceComponents(components: readonly string[]): readonly string[] {
  if (components.length > MAX_NAMESPACE_DEPTH) {
    throw bulwarkError('BULWARK_NAMESPACE_TOO_DEEP', quote(components.join('/')), MAX_NAMESPACE_DEPTH);
  }
  for (const c of components) validateNamespaceComponent(c);
  const joined = components.join('/');
  if (joined.length > MAX_NAMESPACE_PATH_LENGTH) {
    invalid('namespace', joined, `longer than ${MAX_NAMESPACE_PATH_LENGTH} characters`);
  }
  return Object.freeze([...components]);
}

/** `'a/b/c'` → `['a','b','c']`; `''` is the root namespace (`[]`). Empty components are refused. */
export function parseNamespace(text: unknown): readonly string[] {
  if (typeof text !== 'string') invalid('namespace', String(text), 'not a string');
  if (text === '') return Object.freeze([]);
  if (text.length > MAX_NAMESPACE_PATH_LENGTH) {
    invalid('namespace', text, `longer than ${MAX_NAMESPACE_PATH_LENGTH} characters`);
  }
  const parts = text.split('/');
  parts.forEach((p, i) => {
    if (p === '') invalid('namespace', text, `empty component at level ${i + 1}`);
  });
  return validateNamespaceComponents(parts);
}

export function formatNamespace(components: readonly string[]): string {
  return components.join('/');
}

// ── backup time ────────────────────────────────────────────────────────────

const RFC3339_Z = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

function invalidTime(value: unknown, reason: string): never {
  throw bulwarkError('BULWARK_INVALID_BACKUP_TIME', quote(String(value)), reason);
}

function checkEpoch(value: number, shown: unknown): number {
  if (!Number.isSafeInteger(value)) invalidTime(shown, 'not a whole number of seconds');
  if (value < 0 || value > MAX_BACKUP_TIME) invalidTime(shown, 'out of range (1970 to 9999)');
  return value;
}

/**
 * Epoch seconds from either a number or the strict RFC 3339 UTC form used as
 * the snapshot dir name (`2019-11-15T09:39:15Z`: `Z`, second precision, no
 * offsets, no fractions). Numeric strings are refused on purpose: a dir named
 * `1573810755` is not a snapshot, and parse∘format must be the identity.
 */
export function parseBackupTime(value: string | number): number {
  if (typeof value === 'number') return checkEpoch(value, value);
  if (typeof value !== 'string') invalidTime(value, 'not a string or number');
  const m = RFC3339_Z.exec(value);
  if (m === null) invalidTime(value, 'not an RFC 3339 UTC time with second precision like 2019-11-15T09:39:15Z');
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  // Date.UTC rolls Feb 30 over to Mar 2; a changed field means no such time.
  if (
    Number.isNaN(ms) || back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d ||
    back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== s
  ) {
    invalidTime(value, 'no such date or time');
  }
  return checkEpoch(ms / 1000, value);
}

/** Epoch seconds → `2019-11-15T09:39:15Z`. */
export function formatBackupTime(epoch: number): string {
  checkEpoch(epoch, epoch);
  return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// ── owner auth ids ─────────────────────────────────────────────────────────

const USER_NAME = /^[^\s:/\p{Cc}]{1,64}$/u;
const REALM = /^[A-Za-z0-9_][A-Za-z0-9._-]{1,31}$/;

/**
 * An auth id as stored in a group's `owner` file: `user@realm` or
 * `user@realm!token`. The user name may hold `@` (PBS splits at the last one).
 */
export function validateAuthId(value: unknown): string {
  if (typeof value !== 'string') invalid('auth id', String(value), 'not a string');
  if (value === '') invalid('auth id', value, 'empty');
  const at = value.lastIndexOf('@');
  if (at < 0) invalid('auth id', value, "missing '@realm'");
  const name = value.slice(0, at);
  const rest = value.slice(at + 1);
  const bang = rest.indexOf('!');
  const realm = bang < 0 ? rest : rest.slice(0, bang);
  if (!USER_NAME.test(name)) {
    invalid('auth id', value, 'user name must be 1 to 64 characters without whitespace, control characters, \':\' or \'/\'');
  }
  if (!REALM.test(realm)) invalid('auth id', value, 'realm must be a safe id of 2 to 32 characters');
  if (bang >= 0) {
    const problem = safeIdProblem(rest.slice(bang + 1), 64);
    if (problem !== undefined) invalid('auth id', value, `token name ${problem}`);
  }
  return value;
}
