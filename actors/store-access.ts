/**
 * Whether a datastore may be used for something right now, from its
 * actor's state tags (machines/datastore.machine.ts): `writable` for
 * backups, prune and GC, `readable` for restores and verify. The refusal
 * names the maintenance mode so the user knows what to change.
 */
import { bulwarkError } from '../errors.ts';
import { datastoreSystemId } from '../machines/datastores.machine.ts';

/** The part of an actor system this needs (`system.get`). */
export interface ActorLookup {
  get(systemId: string): { getSnapshot(): unknown } | undefined;
}

export type StoreAccess = 'writable' | 'readable';

const MODE_TEXT: Readonly<Record<string, string>> = {
  readOnly: 'in read-only maintenance mode',
  offline: 'in offline maintenance mode',
  opening: 'still opening',
};

const USE_TEXT: Readonly<Record<StoreAccess, string>> = {
  writable: 'writes are',
  readable: 'reading is',
};

/** The store's path if its actor carries `need`; BULWARK_DATASTORE_UNAVAILABLE (503) or BULWARK_NOT_FOUND otherwise. */
export function resolveStore(system: ActorLookup, store: string, need: StoreAccess, what = USE_TEXT[need]): string {
  const ref = system.get(datastoreSystemId(store));
  if (!ref) throw bulwarkError('BULWARK_NOT_FOUND', `datastore ${store}`);
  const snap = ref.getSnapshot() as { value: string; context: { path: string; error?: { message: string } }; hasTag(t: string): boolean };
  if (!snap.hasTag(need)) {
    const state = MODE_TEXT[snap.value] ?? `unavailable (${snap.context.error?.message ?? snap.value})`;
    throw bulwarkError('BULWARK_DATASTORE_UNAVAILABLE', store, `${state}: ${what} not possible`);
  }
  return snap.context.path;
}
