/**
 * The config store actor (@xstate/store): the server's view of its
 * configuration files. Writers update the files through config/ (atomic,
 * digest-checked) and then send `reloaded` so every actor reading the store
 * sees the same, current configuration.
 */
import { fromStore } from '@xstate/store';
import type { DatastoreConfigMap } from './datastore-config.ts';

export interface ConfigSnapshot {
  readonly datastores: DatastoreConfigMap;
  readonly datastoresDigest: string;
}

export const configStoreLogic = fromStore({
  context: (input: ConfigSnapshot) => input,
  on: {
    datastoresReloaded: (context, event: { datastores: DatastoreConfigMap; digest: string }) => ({
      ...context,
      datastores: event.datastores,
      datastoresDigest: event.digest,
    }),
  },
});
