/**
 * Immutable references to a namespace, a backup group and a snapshot
 * ("backup dir" in PBS). Every constructor validates through `names.ts`, and
 * the classes carry a private brand, so a value of these types is always
 * safe to turn into a path (see `layout.ts`).
 *
 * Text forms: namespace `a/b/c` (root is `''`), group `host/web1`, snapshot
 * `host/web1/2026-11-24T10:00:00Z`. The namespace is never part of the group
 * or snapshot text; it travels separately (as in PBS's `ns` parameter).
 */
import { bulwarkError } from '../errors.ts';
import {
  type BackupType,
  formatBackupTime,
  parseBackupTime,
  parseNamespace,
  validateBackupId,
  validateBackupType,
  validateNamespaceComponents,
} from './names.ts';

export class BackupNamespace {
  static readonly root: BackupNamespace = new BackupNamespace([]);

  /** `'a/b'` → namespace; `''` → root. */
  static parse(text: string): BackupNamespace {
    const parts = parseNamespace(text);
    return parts.length === 0 ? BackupNamespace.root : new BackupNamespace(parts);
  }

  /** Private brand: only the validating constructor can make one. */
  readonly #brand = true;
  readonly components: readonly string[];

  constructor(components: readonly string[]) {
    this.components = validateNamespaceComponents(components);
    Object.freeze(this);
  }

  get depth(): number { return this.components.length; }
  get isRoot(): boolean { return this.components.length === 0; }
  /** Last component; `''` for the root. */
  get name(): string { return this.components[this.components.length - 1] ?? ''; }
  /** Undefined for the root. */
  get parent(): BackupNamespace | undefined {
    return this.isRoot ? undefined : new BackupNamespace(this.components.slice(0, -1));
  }

  /** Throws BULWARK_NAMESPACE_TOO_DEEP past 7 levels. */
  child(name: string): BackupNamespace {
    return new BackupNamespace([...this.components, name]);
  }

  /** True when `other` is this namespace or below it. */
  contains(other: BackupNamespace): boolean {
    return this.components.every((c, i) => other.components[i] === c) && other.depth >= this.depth;
  }

  equals(other: BackupNamespace): boolean {
    return compareNamespaces(this, other) === 0;
  }

  toString(): string { return this.components.join('/'); }
  /** For messages: `root namespace` or `namespace 'a/b'`. */
  describe(): string { return this.isRoot ? 'root namespace' : `namespace '${this.toString()}'`; }
}

export class BackupGroup {
  readonly #brand = true;
  readonly ns: BackupNamespace;
  readonly type: BackupType;
  readonly id: string;

  constructor(ns: BackupNamespace, type: string, id: string) {
    if (!(ns instanceof BackupNamespace)) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'namespace', 'not a BackupNamespace');
    }
    this.ns = ns;
    this.type = validateBackupType(type);
    this.id = validateBackupId(id);
    Object.freeze(this);
  }

  snapshot(time: number | string): BackupDir { return new BackupDir(this, time); }

  equals(other: BackupGroup): boolean {
    return compareGroups(this, other) === 0;
  }

  /** `host/web1` (without the namespace). */
  toString(): string { return `${this.type}/${this.id}`; }
  /** For messages: `host/web1` or `host/web1 in namespace 'a/b'`. */
  describe(): string { return this.ns.isRoot ? this.toString() : `${this.toString()} in ${this.ns.describe()}`; }
}

export class BackupDir {
  readonly #brand = true;
  readonly group: BackupGroup;
  /** Epoch seconds. */
  readonly time: number;
  /** RFC 3339 form, also the directory name. */
  readonly timeString: string;

  constructor(group: BackupGroup, time: number | string) {
    if (!(group instanceof BackupGroup)) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'group', 'not a BackupGroup');
    }
    this.group = group;
    this.time = parseBackupTime(time);
    this.timeString = formatBackupTime(this.time);
    Object.freeze(this);
  }

  get ns(): BackupNamespace { return this.group.ns; }
  get type(): BackupType { return this.group.type; }
  get id(): string { return this.group.id; }

  equals(other: BackupDir): boolean {
    return compareSnapshots(this, other) === 0;
  }

  /** `host/web1/2026-11-24T10:00:00Z` (without the namespace). */
  toString(): string { return `${this.group.toString()}/${this.timeString}`; }
  describe(): string { return this.ns.isRoot ? this.toString() : `${this.toString()} in ${this.ns.describe()}`; }
}

function refError(kind: string, text: string, want: string): never {
  throw bulwarkError('BULWARK_INVALID_NAME', kind, JSON.stringify(text.slice(0, 200)), `expected ${want}`);
}

/** `'host/web1'` → group in `ns` (root by default). */
export function parseGroupRef(text: string, ns: BackupNamespace = BackupNamespace.root): BackupGroup {
  if (typeof text !== 'string') refError('group reference', String(text), "'<type>/<id>'");
  const parts = text.split('/');
  if (parts.length !== 2) refError('group reference', text, "'<type>/<id>'");
  return new BackupGroup(ns, parts[0]!, parts[1]!);
}

/** `'host/web1/2026-11-24T10:00:00Z'` → snapshot in `ns` (root by default). */
export function parseSnapshotRef(text: string, ns: BackupNamespace = BackupNamespace.root): BackupDir {
  if (typeof text !== 'string') refError('snapshot reference', String(text), "'<type>/<id>/<time>'");
  const parts = text.split('/');
  if (parts.length !== 3) refError('snapshot reference', text, "'<type>/<id>/<time>'");
  return new BackupDir(new BackupGroup(ns, parts[0]!, parts[1]!), parts[2]!);
}

// ── ordering ───────────────────────────────────────────────────────────────

const cmp = (a: string | number, b: string | number): number => (a < b ? -1 : a > b ? 1 : 0);

/** Parents before children, siblings by name (depth-first listing order). */
export function compareNamespaces(a: BackupNamespace, b: BackupNamespace): number {
  const n = Math.min(a.depth, b.depth);
  for (let i = 0; i < n; i++) {
    const c = cmp(a.components[i]!, b.components[i]!);
    if (c !== 0) return c;
  }
  return a.depth - b.depth;
}

/** By namespace, then type, then id (PBS orders groups by type, then id). */
export function compareGroups(a: BackupGroup, b: BackupGroup): number {
  return compareNamespaces(a.ns, b.ns) || cmp(a.type, b.type) || cmp(a.id, b.id);
}

/** By group, then time (oldest first). */
export function compareSnapshots(a: BackupDir, b: BackupDir): number {
  return compareGroups(a.group, b.group) || a.time - b.time;
}

/** Sorted copy, oldest first by default. */
export function sortSnapshots<T extends BackupDir | { dir: BackupDir }>(list: readonly T[], order: 'asc' | 'desc' = 'asc'): T[] {
  const dirOf = (x: T): BackupDir => (x instanceof BackupDir ? x : (x as { dir: BackupDir }).dir);
  const sign = order === 'asc' ? 1 : -1;
  return [...list].sort((a, b) => sign * compareSnapshots(dirOf(a), dirOf(b)));
}
