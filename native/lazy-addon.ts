/**
 * A package with a native part, loaded the first time it is needed rather than
 * when the module that uses it is imported: a CLI run pays for an addon's
 * load (tens of milliseconds for some) only if it uses it. A package that
 * cannot be loaded is BULWARK_NATIVE_MISSING, naming it, at that first use.
 */
import { createRequire } from 'node:module';
import { bulwarkError } from '../errors.ts';

const require = createRequire(import.meta.url);

export function lazyAddon<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => {
    if (loaded === undefined) {
      try {
        loaded = require(name) as T;
      } catch (err) {
        throw bulwarkError('BULWARK_NATIVE_MISSING', name, (err as Error).message, { cause: err });
      }
    }
    return loaded;
  };
}
