/**
 * Loads uWebSockets.js. The npm build silently falls back to a slow
 * JavaScript shim when its native binary does not load (wrong Node ABI,
 * glibc too old); a backup server on the shim would be an order of magnitude
 * slower, so we load the binary ourselves and refuse the shim unless
 * BULWARK_ALLOW_UWS_FALLBACK=1 says otherwise.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Uws from '@trufflesuite/uws-js-unofficial';
import { bulwarkError } from '../errors.ts';

export type UwsModule = typeof Uws;
export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, WebSocket } from '@trufflesuite/uws-js-unofficial';

export interface LoadedUws {
  readonly uws: UwsModule;
  /** 'native' or 'fallback' (the ws-based shim). */
  readonly implementation: 'native' | 'fallback';
  readonly binary: string;
}

const require = createRequire(import.meta.url);
let loaded: LoadedUws | undefined;

export function loadUws(env: NodeJS.ProcessEnv = process.env): LoadedUws {
  if (loaded) return loaded;
  const pkgDir = dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
  const binary = join(pkgDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  try {
    loaded = { uws: require(binary) as UwsModule, implementation: 'native', binary };
  } catch (err) {
    if (env.BULWARK_ALLOW_UWS_FALLBACK !== '1') {
      throw bulwarkError(
        'BULWARK_NATIVE_MISSING',
        `uWebSockets.js (${binary})`,
        `${(err as Error).message.split('\n')[0]}; use Node.js 20 on glibc >= 2.31, or set BULWARK_ALLOW_UWS_FALLBACK=1 to accept the slow fallback`,
        { cause: err },
      );
    }
    const previous = process.env.UWS_USE_FALLBACK;
    process.env.UWS_USE_FALLBACK = '1';
    try {
      loaded = { uws: require('@trufflesuite/uws-js-unofficial') as UwsModule, implementation: 'fallback', binary };
    } finally {
      if (previous === undefined) delete process.env.UWS_USE_FALLBACK;
      else process.env.UWS_USE_FALLBACK = previous;
    }
  }
  return loaded;
}
