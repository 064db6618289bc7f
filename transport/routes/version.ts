/** GET /api2/json/version — PBS's shape: version, release, repoid. Needs no login, as in PBS. */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { apiRoute } from '../http-api.ts';
import type { TemplatedApp } from '../uws.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const [major = '0', minor = '0', patch = '0'] = pkg.version.split('.');

export const VERSION_INFO = {
  version: `${major}.${minor}`,
  release: patch,
  repoid: 'bulwark',
} as const;

export function versionRoutes(app: TemplatedApp, log: Logger): void {
  apiRoute(app, log, 'get', '/version', () => VERSION_INFO);
}
