/**
 * Datastore fields between PBS's API and datastore.json: API values are
 * checked with a 400 naming the parameter; `maintenance-mode` is PBS's
 * property string (`type=read-only`, `type=offline`, or the bare type) and
 * is stored as its type; PBS's `tuning` (`sync-level=…`) maps onto
 * Bulwark's `sync-level`. Replies render both back the way PBS does.
 */
import { validateStoreName, type DatastoreConfig, type MaintenanceMode, type SyncLevel } from '../../config/datastore-config.ts';
import { parseSchedule } from '../../config/schedule.ts';
import { bulwarkError, isBulwarkError } from '../../errors.ts';

export const DATASTORE_DELETABLE = ['comment', 'gc-schedule', 'maintenance-mode', 'sync-level', 'tuning'] as const;

const MODES: readonly string[] = ['read-only', 'offline'];
const SYNC_LEVELS: readonly string[] = ['none', 'filesystem', 'file'];

const invalid = (param: string, reason: string): never => {
  throw bulwarkError('BULWARK_INVALID_ARGUMENT', param, reason);
};

/** `key=value,key=value`, with PBS's default key for a bare value. */
function propertyString(param: string, text: string, defaultKey?: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? defaultKey : part.slice(0, eq).trim();
    if (key === undefined) invalid(param, `${JSON.stringify(part)} is not key=value`);
    if (out.has(key!)) invalid(param, `${key} given twice`);
    out.set(key!, (eq < 0 ? part : part.slice(eq + 1)).trim());
  }
  return out;
}

export function parseMaintenanceMode(text: string): MaintenanceMode {
  const props = propertyString('maintenance-mode', text, 'type');
  for (const key of props.keys()) {
    if (key === 'message') invalid('maintenance-mode', 'a maintenance message is not supported by this server; give only the type');
    else if (key !== 'type') invalid('maintenance-mode', `unknown property ${JSON.stringify(key)}`);
  }
  const type = props.get('type');
  if (type === 'delete') invalid('maintenance-mode', "type 'delete' is set only by the server while it deletes a datastore");
  if (type === undefined || !MODES.includes(type)) invalid('maintenance-mode', `type must be read-only or offline, got ${JSON.stringify(type ?? '')}`);
  return type as MaintenanceMode;
}

function syncLevel(param: string, v: string): SyncLevel {
  return SYNC_LEVELS.includes(v) ? (v as SyncLevel) : invalid(param, `sync-level must be none, filesystem or file, got ${JSON.stringify(v)}`);
}

function parseTuning(text: string): SyncLevel | undefined {
  const props = propertyString('tuning', text);
  for (const key of props.keys()) {
    if (key !== 'sync-level') invalid('tuning', `${JSON.stringify(key)} is not supported (only sync-level)`);
  }
  const level = props.get('sync-level');
  return level === undefined ? undefined : syncLevel('tuning', level);
}

type Settings = Partial<Pick<DatastoreConfig, 'comment' | 'gc-schedule' | 'maintenance-mode' | 'sync-level'>>;

export const storeFields = {
  name(v: unknown): string {
    if (typeof v !== 'string' || v === '') return invalid('name', 'parameter is missing');
    try {
      return validateStoreName(v);
    } catch (err) {
      return invalid('name', (err as Error).message);
    }
  },

  /** The settable fields of `fields` (typed API input), checked. */
  settings(fields: Readonly<Record<string, unknown>>): Settings {
    const out: { -readonly [K in keyof Settings]: Settings[K] } = {};
    const comment = fields.comment;
    if (typeof comment === 'string') {
      if (/\p{Cc}/u.test(comment)) invalid('comment', 'must be a single line without control characters');
      out.comment = comment;
    }
    const gc = fields['gc-schedule'];
    if (typeof gc === 'string') {
      try {
        out['gc-schedule'] = parseSchedule(gc).text;
      } catch (err) {
        if (!isBulwarkError(err, 'BULWARK_BAD_SCHEDULE')) throw err;
        invalid('gc-schedule', err.message);
      }
    }
    if (typeof fields['maintenance-mode'] === 'string') out['maintenance-mode'] = parseMaintenanceMode(fields['maintenance-mode']);
    const tuned = typeof fields.tuning === 'string' ? parseTuning(fields.tuning) : undefined;
    const direct = typeof fields['sync-level'] === 'string' ? syncLevel('sync-level', fields['sync-level']) : undefined;
    if (tuned !== undefined && direct !== undefined && tuned !== direct) invalid('tuning', 'disagrees with sync-level');
    const level = direct ?? tuned;
    if (level !== undefined) out['sync-level'] = level;
    return out;
  },
};

/** A stored entry as PBS's API shows it. */
export function renderDatastore(cfg: DatastoreConfig): Record<string, unknown> {
  const { 'maintenance-mode': mode, ...rest } = cfg;
  return {
    ...rest,
    ...(mode !== undefined && { 'maintenance-mode': `type=${mode}` }),
    ...(cfg['sync-level'] !== undefined && { tuning: `sync-level=${cfg['sync-level']}` }),
  };
}
