/**
 * datastore.json: the configured stores, keyed by name, with PBS's field
 * names (`path`, `comment`, `maintenance-mode`, `sync-level`, `gc-schedule`).
 */
import { isAbsolute } from 'node:path';
import { bulwarkError } from '../errors.ts';
import { expectObject, expectString, readConfigFile, rethrowAsConfigError, updateConfigFile, type Loaded } from './config-file.ts';
import { parseSchedule } from './schedule.ts';

export type MaintenanceMode = 'read-only' | 'offline';
export type SyncLevel = 'none' | 'filesystem' | 'file';

export interface DatastoreConfig {
  readonly name: string;
  readonly path: string;
  readonly comment?: string;
  readonly 'maintenance-mode'?: MaintenanceMode;
  readonly 'sync-level'?: SyncLevel;
  /** When garbage collection runs (calendar event or cron); absent means never by itself. */
  readonly 'gc-schedule'?: string;
}

export type DatastoreConfigMap = Readonly<Record<string, DatastoreConfig>>;

const STORE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/;
const MAINTENANCE = new Set(['read-only', 'offline']);
const SYNC_LEVELS = new Set(['none', 'filesystem', 'file']);

export function validateStoreName(name: string): string {
  if (!STORE_NAME.test(name)) {
    throw bulwarkError('BULWARK_INVALID_NAME', 'datastore name', JSON.stringify(name), 'use 1-32 of A-Z a-z 0-9 _ . - (not starting with . or -)');
  }
  return name;
}

export function parseDatastoreConfig(raw: unknown, file: string): DatastoreConfigMap {
  const top = expectObject(raw, file, 'datastore config');
  const out: Record<string, DatastoreConfig> = {};
  for (const [name, value] of Object.entries(top)) {
    const what = `datastore ${name}`;
    const entry = expectObject(value, file, what);
    try {
      validateStoreName(name);
    } catch {
      throw bulwarkError('BULWARK_CONFIG_INVALID', file, `${JSON.stringify(name)} is not a valid datastore name`);
    }
    const path = expectString(entry, 'path', file, what)!;
    if (!isAbsolute(path)) throw bulwarkError('BULWARK_CONFIG_INVALID', file, `${what}.path must be absolute`);
    const mode = expectString(entry, 'maintenance-mode', file, what, true);
    if (mode !== undefined && !MAINTENANCE.has(mode)) {
      throw bulwarkError('BULWARK_CONFIG_INVALID', file, `${what}.maintenance-mode must be read-only or offline`);
    }
    const sync = expectString(entry, 'sync-level', file, what, true);
    if (sync !== undefined && !SYNC_LEVELS.has(sync)) {
      throw bulwarkError('BULWARK_CONFIG_INVALID', file, `${what}.sync-level must be none, filesystem or file`);
    }
    const comment = expectString(entry, 'comment', file, what, true);
    const gcSchedule = expectString(entry, 'gc-schedule', file, what, true);
    if (gcSchedule !== undefined) {
      try {
        parseSchedule(gcSchedule);
      } catch (err) {
        rethrowAsConfigError(err, file, `${what}.gc-schedule`);
      }
    }
    out[name] = {
      name,
      path,
      ...(comment !== undefined && { comment }),
      ...(mode !== undefined && { 'maintenance-mode': mode as MaintenanceMode }),
      ...(sync !== undefined && { 'sync-level': sync as SyncLevel }),
      ...(gcSchedule !== undefined && { 'gc-schedule': gcSchedule }),
    };
  }
  return out;
}

export function loadDatastoreConfig(file: string): Loaded<DatastoreConfigMap> {
  return readConfigFile(file, parseDatastoreConfig, () => ({}));
}

export function saveDatastoreEntry(file: string, entry: DatastoreConfig, expectedDigest?: string): Loaded<DatastoreConfigMap> {
  validateStoreName(entry.name);
  if (entry['gc-schedule'] !== undefined) parseSchedule(entry['gc-schedule']); // BULWARK_BAD_SCHEDULE, as for API input
  return updateConfigFile(file, parseDatastoreConfig, () => ({}), (cur) => ({ ...cur, [entry.name]: entry }), expectedDigest);
}
