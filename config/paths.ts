/** Where the server keeps its own files under the data directory. */
import { join } from 'node:path';

export interface ConfigPaths {
  readonly dataDir: string;
  readonly etcDir: string;
  readonly datastoreConfig: string;
  readonly userConfig: string;
  readonly shadow: string;
  readonly aclConfig: string;
  readonly tlsKey: string;
  readonly tlsCert: string;
  readonly tokenShadow: string;
  readonly authKey: string;
  readonly csrfKey: string;
  /** Second factors (TOTP, recovery codes), PBS's tfa.json. */
  readonly tfaConfig: string;
  /** Task logs and their RocksDB index. */
  readonly tasksDir: string;
  /** Job state (last runs, GC status), RocksDB. */
  readonly jobStateDb: string;
  readonly pruneJobs: string;
  readonly verifyJobs: string;
  readonly syncJobs: string;
  readonly remoteConfig: string;
  /** Remote passwords, apart from remote.json so listing remotes never reads secrets. */
  readonly remoteShadow: string;
  readonly trafficControl: string;
}

export function configPaths(dataDir: string): ConfigPaths {
  const etcDir = join(dataDir, 'etc');
  return {
    dataDir,
    etcDir,
    datastoreConfig: join(etcDir, 'datastore.json'),
    userConfig: join(etcDir, 'user.json'),
    shadow: join(etcDir, 'shadow.json'),
    aclConfig: join(etcDir, 'acl.json'),
    tlsKey: join(etcDir, 'proxy.key'),
    tlsCert: join(etcDir, 'proxy.pem'),
    tokenShadow: join(etcDir, 'token.shadow'),
    authKey: join(etcDir, 'authkey.key'),
    csrfKey: join(etcDir, 'csrf.key'),
    tfaConfig: join(etcDir, 'tfa.json'),
    tasksDir: join(dataDir, 'log', 'tasks'),
    jobStateDb: join(dataDir, 'state', 'jobs.rocksdb'),
    pruneJobs: join(etcDir, 'prune.json'),
    verifyJobs: join(etcDir, 'verification.json'),
    syncJobs: join(etcDir, 'sync.json'),
    remoteConfig: join(etcDir, 'remote.json'),
    remoteShadow: join(etcDir, 'remote.shadow'),
    trafficControl: join(etcDir, 'traffic-control.json'),
  };
}
