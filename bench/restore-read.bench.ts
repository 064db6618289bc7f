/**
 * Restore throughput against the raw read speed of the store, on one
 * snapshot of a real tree (default /usr/share, or BENCH_TREE).
 *
 * Raw store read: every chunk of the snapshot's two archive indexes
 * (metadata and payload stream), read from the chunk store and decoded as
 * a restore must (CRC, lz4, SHA-256 against the digest), in this process, on
 * one thread: the most a restore could go without writing a file. Restore:
 * the bundled CLI (scripts/build-client.ts; the tsx CLI if the build fails)
 * against a real server on loopback TLS, into a fresh directory, and again
 * into the restored tree (every file skipped as unchanged). Both rows count
 * the same bytes, the decoded size of the two streams, so the ratio is
 * restore speed / raw read speed (goal for the full restore: ≥ 0.7). A
 * third row puts the restore beside `cp -a` of the source tree onto the
 * same file system: the cost of creating the files alone, which on a slow
 * or busy disk is most of a restore.
 *
 * Everything is read from the page cache (the backup just wrote it). Runs
 * alternate raw read and restore, three rounds, and report medians: the
 * machine is shared, and alternating spreads the noise over both sides.
 *
 * `npx tsx bench/restore-read.bench.ts`; bench/run.ts calls run().
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeChunk } from '../datastore/blob.ts';
import { DynamicIndexReader } from '../datastore/dynamic-index.ts';
import { CHUNK_DIR_NAME } from '../datastore/fs-chunk-backend.ts';
import { buildClient, runBuiltClient } from '../scripts/build-client.ts';
import { client, clientEnv } from '../test/helpers/client-process.ts';
import { startServer } from '../test/helpers/server-process.ts';
import { benchResult, printResults, type BenchResult } from './result.ts';

const TREE = process.env.BENCH_TREE ?? '/usr/share';
const ROUNDS = 3;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Reads and decodes every chunk of the indexes, each distinct chunk once; returns the decoded bytes. */
function rawStoreRead(store: string, indexes: readonly DynamicIndexReader[]): number {
  let bytes = 0;
  for (const index of indexes) {
    let previous = '';
    for (let i = 0; i < index.count(); i++) {
      const digest = Buffer.from(index.digest(i));
      const hex = digest.toString('hex');
      if (hex !== previous) bytes += decodeChunk(readFileSync(join(store, CHUNK_DIR_NAME, hex.slice(0, 4), hex)), digest).length;
      previous = hex;
    }
  }
  return bytes;
}

function timed<T>(fn: () => T): { ms: number; value: T } {
  const t = performance.now();
  const value = fn();
  return { ms: performance.now() - t, value };
}

async function timedAsync(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

export async function run(): Promise<BenchResult[]> {
  const work = mkdtempSync(join(tmpdir(), 'bulwark-bench-restore-'));
  let cli: (args: string[], env: NodeJS.ProcessEnv) => Promise<string> = client;
  let which = 'tsx CLI';
  try {
    await buildClient({ quiet: true });
    cli = runBuiltClient;
    which = 'bundled CLI';
  } catch (err) {
    process.stderr.write(`restore-read: client bundle not built (${(err as Error).message}); timing the tsx CLI\n`);
  }
  const server = await startServer({ dataDir: join(work, 'data'), env: { BULWARK_ADMIN_PASSWORD: 'bench' } });
  try {
    const env = clientEnv(server, 'bench');
    const time = Math.floor(Date.now() / 1000) - 3600;
    await cli(['backup', `root.bxar:${TREE}`, '--backup-id', 'bench', '--backup-time', String(time)], env);
    const iso = new Date(time * 1000).toISOString().replace('.000Z', 'Z');
    const store = join(work, 'data', 'store1');
    const snapDir = join(store, 'host', 'bench', iso);
    const indexes = ['root.mbxar.didx', 'root.pbxar.didx'].map((n) => DynamicIndexReader.open(join(snapDir, n)));
    const bytes = indexes.reduce((n, ix) => n + ix.totalSize(), 0);
    const out = join(work, 'out');
    const restore = () => cli(['restore', `host/bench/${iso}`, 'root.bxar', out], env);
    const copyOut = join(work, 'copy');
    const raw: number[] = [];
    const fresh: number[] = [];
    const again: number[] = [];
    const copy: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      rmSync(out, { recursive: true, force: true });
      raw.push(timed(() => rawStoreRead(store, indexes)).ms);
      fresh.push(await timedAsync(restore));
      again.push(await timedAsync(restore));
      rmSync(copyOut, { recursive: true, force: true });
      copy.push(timed(() => execFileSync('cp', ['-a', TREE, copyOut])).ms);
    }
    const files = execFileSync('find', [out, '-type', 'f'], { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n').length - 1;
    const rawMs = median(raw);
    const s = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join('/');
    const note = `${TREE}: ${(bytes / 1e6).toFixed(0)} MB decoded, ${files} files; ${which}; s per round, raw ${s(raw)}`;
    return [
      benchResult('full restore, fresh target', bytes, median(fresh), 'raw store read + decode', bytes, rawMs, `${note}, restore ${s(fresh)}`),
      benchResult('restore into identical tree', bytes, median(again), 'raw store read + decode', bytes, rawMs, `${note}, restore ${s(again)}`),
      benchResult('full restore, fresh target', bytes, median(fresh), 'cp -a of the tree', bytes, median(copy), `same target file system; cp ${s(copy)}`),
    ];
  } finally {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) printResults(await run());
