/**
 * Archive arguments of `bulwark-client backup`: `NAME.bxar:DIR` (a file
 * tree, stored as a metadata and a payload dynamic index plus a catalog) or
 * `NAME.img:FILE_OR_BLOCKDEV` (stored as a fixed index). NAME follows PBS's
 * archive-name rules.
 */
import { bulwarkError } from '../errors.ts';

export type ArchiveSpec =
  | { readonly kind: 'tree'; readonly name: string; readonly path: string }
  | { readonly kind: 'image'; readonly name: string; readonly path: string };

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export function parseArchiveSpec(text: string): ArchiveSpec {
  const colon = text.indexOf(':');
  const label = colon > 0 ? text.slice(0, colon) : '';
  const path = colon > 0 ? text.slice(colon + 1) : '';
  const m = /^(.+)\.(bxar|img)$/.exec(label);
  if (!m || path.length === 0 || !NAME.test(m[1]!)) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive', `${JSON.stringify(text)} (expected NAME.bxar:DIR or NAME.img:FILE)`);
  }
  return m[2] === 'bxar' ? { kind: 'tree', name: m[1]!, path } : { kind: 'image', name: m[1]!, path };
}

/** Server-side file names of an archive. */
export const imageIndexName = (name: string) => `${name}.img.fidx`;
export const treeMetaIndexName = (name: string) => `${name}.mbxar.didx`;
export const treePayloadIndexName = (name: string) => `${name}.pbxar.didx`;
export const treeCatalogName = (name: string) => `${name}.bcat.blob`;

const SERVER_FILE = /^(.+?)\.(mbxar\.didx|pbxar\.didx|bcat\.blob|img\.fidx|didx|fidx|blob)$/;

/**
 * The archives of a snapshot's files as users name them in `restore`:
 * a tree's three files are `NAME.bxar`, an image `NAME.img`; anything else
 * loses its server extension (.didx, .fidx, .blob), as PBS lists them.
 * Sorted, each once.
 */
export function archiveNames(filenames: readonly string[]): string[] {
  const names = filenames.map((f) => {
    const m = SERVER_FILE.exec(f);
    if (!m) return f;
    const [, base, ext] = m;
    if (ext === 'mbxar.didx' || ext === 'pbxar.didx' || ext === 'bcat.blob') return `${base}.bxar`;
    return ext === 'img.fidx' ? `${base}.img` : base!;
  });
  return [...new Set(names)].sort();
}
