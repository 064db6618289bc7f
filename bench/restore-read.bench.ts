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
 * or busy disk is most of a restore. The same rows follow for a tree of
 * two 256 MiB files, where creating files costs nothing and the data path
 * (fetch, decode, write) is all there is.
 *
 * The fresh restore's note also gives the CPU seconds the client and the
 * server spent on it (bench/cpu-time.ts): with both on this machine, that
 * sum over the core count is the shortest wall time the work allows, so
 * the note says which ratio the machine could show at best.
 *
 * Everything is read from the page cache (the backup just wrote it). Runs
 * alternate raw read and restore (three rounds for the tree, five for the
 * large files) and report medians: the machine is shared, and alternating
 * spreads the noise over both sides.
 *
 * For the large files the same is measured once more with the store's
 * chunk files dropped from the page cache before each run (as a restore
 * from a store on disk finds them): posix_fadvise(DONTNEED) through
 * `dd iflag=nocache`, which needs no root and leaves the rest of the
 * system's cache alone; fincore(1) checks that it worked. The raw read is
 * then timed both ways: one thread reading and decoding chunk after chunk,
 * and eight reads in flight with the decode in order (a disk serves
 * parallel reads faster); the ratio is taken against the parallel one,
 * the other is in the note.
 * Before each timed write (restore, `cp -a`) the data written so far is
 * flushed, untimed, so no run pays for the previous one's writeback.
 *
 * `npx tsx bench/restore-read.bench.ts`; bench/run.ts calls run().
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeChunk } from '../datastore/blob.ts';
import { DynamicIndexReader } from '../datastore/dynamic-index.ts';
import { CHUNK_DIR_NAME } from '../datastore/fs-chunk-backend.ts';
import { buildClient, runBuiltClient } from '../scripts/build-client.ts';
import { client, clientEnv } from '../test/helpers/client-process.ts';
import { startServer } from '../test/helpers/server-process.ts';
import { cores, type CpuSample, cpuSample, cpuSince } from './cpu-time.ts';
import { benchResult, printResults, type BenchResult } from './result.ts';

const TREE = process.env.BENCH_TREE ?? '/usr/share';
/** Rounds per tree: the large files' rounds take seconds, so they get more, for steadier medians. */
const TREE_ROUNDS = 3;
const LARGE_ROUNDS = 5;
const COLD_ROUNDS = 3;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Times in ms as seconds per round, `1.20/1.18/…`. */
const perRound = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join('/');

/** The chunks a restore of the indexes fetches, in order (a chunk repeated back to back once). */
function chunkList(store: string, indexes: readonly DynamicIndexReader[]): { digest: Buffer; path: string }[] {
  const chunks: { digest: Buffer; path: string }[] = [];
  for (const index of indexes) {
    let previous = '';
    for (let i = 0; i < index.count(); i++) {
      const digest = Buffer.from(index.digest(i));
      const hex = digest.toString('hex');
      if (hex !== previous) chunks.push({ digest, path: join(store, CHUNK_DIR_NAME, hex.slice(0, 4), hex) });
      previous = hex;
    }
  }
  return chunks;
}

/** Reads and decodes every chunk, one after the other; returns the decoded bytes. */
function rawStoreRead(chunks: readonly { digest: Buffer; path: string }[]): number {
  let bytes = 0;
  for (const c of chunks) bytes += decodeChunk(readFileSync(c.path), c.digest).length;
  return bytes;
}

/** The same with `depth` reads in flight, decoded in order on this thread. */
async function rawStoreReadParallel(chunks: readonly { digest: Buffer; path: string }[], depth = 8): Promise<number> {
  let bytes = 0;
  const reads = chunks.slice(0, depth).map((c) => readFile(c.path));
  for (let i = 0; i < chunks.length; i++) {
    const blob = await reads[i]!;
    if (i + depth < chunks.length) reads.push(readFile(chunks[i + depth]!.path));
    bytes += decodeChunk(blob, chunks[i]!.digest).length;
  }
  return bytes;
}

/** Drops the files' pages from the page cache (clean pages only: settle() first). */
function evict(paths: readonly string[]): void {
  for (const path of paths) execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
}

/** Share of the files' bytes in the page cache (fincore), to show that evict() worked. */
function cachedShare(paths: readonly string[]): number {
  const out = execFileSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES,SIZE', ...paths], { encoding: 'utf8' });
  let res = 0;
  let size = 0;
  for (const line of out.trim().split('\n')) {
    const [r, s] = line.trim().split(/\s+/).map(Number);
    res += Math.min(r!, s!); // RES counts whole pages: a file's partly filled last page would count past its size
    size += s!;
  }
  return size > 0 ? res / size : 0;
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

type Cli = (args: string[], env: NodeJS.ProcessEnv) => Promise<string>;

/** Flushes dirty pages (and the deletes before) so the next timed run starts with a clean page cache. */
const settle = () => execFileSync('sync');

/** Backs up `tree` once, then alternates raw store reads and restores; returns the rows for it. */
async function measure(tree: string, label: string, work: string, cli: Cli, which: string, withCopy: boolean, rounds: number, coldRounds = 0): Promise<BenchResult[]> {
  const server = await startServer({ dataDir: join(work, 'data'), env: { BULWARK_ADMIN_PASSWORD: 'bench' } });
  try {
    // A login session's runtime dir: tickets and the pinned certificate are kept between runs, as for a user.
    const env = clientEnv(server, 'bench', { XDG_RUNTIME_DIR: join(work, 'run') });
    const time = Math.floor(Date.now() / 1000) - 3600;
    await cli(['backup', `root.bxar:${tree}`, '--backup-id', 'bench', '--backup-time', String(time)], env);
    const iso = new Date(time * 1000).toISOString().replace('.000Z', 'Z');
    const store = join(work, 'data', 'store1');
    const snapDir = join(store, 'host', 'bench', iso);
    const indexes = ['root.mbxar.didx', 'root.pbxar.didx'].map((n) => DynamicIndexReader.open(join(snapDir, n)));
    const bytes = indexes.reduce((n, ix) => n + ix.totalSize(), 0);
    const chunks = chunkList(store, indexes);
    const out = join(work, 'out');
    const restore = () => cli(['restore', `host/bench/${iso}`, 'root.bxar', out], env);
    const copyOut = join(work, 'copy');
    const raw: number[] = [];
    const fresh: number[] = [];
    const again: number[] = [];
    const cpu: CpuSample[] = [];
    const copy: number[] = [];
    for (let round = 0; round < rounds; round++) {
      rmSync(out, { recursive: true, force: true });
      settle();
      raw.push(timed(() => rawStoreRead(chunks)).ms);
      const before = cpuSample(server.child.pid!);
      fresh.push(await timedAsync(restore));
      const spent = cpuSince(before, cpuSample(server.child.pid!));
      if (spent) cpu.push(spent);
      settle();
      again.push(await timedAsync(restore));
      if (withCopy) {
        rmSync(copyOut, { recursive: true, force: true });
        settle();
        copy.push(timed(() => execFileSync('cp', ['-a', tree, copyOut])).ms);
      }
    }
    const files = execFileSync('find', [out, '-type', 'f'], { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n').length - 1;
    const rawMs = median(raw);
      const note = `${label}: ${(bytes / 1e6).toFixed(0)} MB decoded, ${files} files; ${which}; s per round, raw ${perRound(raw)}`;
    const rows = [
      benchResult(`full restore, fresh target (${label})`, bytes, median(fresh), 'raw store read + decode', bytes, rawMs, `${note}, restore ${perRound(fresh)}${cpuNote(cpu, rawMs)}`),
      benchResult(`restore into identical tree (${label})`, bytes, median(again), 'raw store read + decode', bytes, rawMs, `${note}, restore ${perRound(again)}`),
    ];
    if (withCopy) rows.push(benchResult(`full restore, fresh target (${label})`, bytes, median(fresh), 'cp -a of the tree', bytes, median(copy), `same target file system; cp ${perRound(copy)}`));
    if (coldRounds > 0) rows.push(await measureCold(chunks, bytes, label, restore, out, coldRounds));
    return rows;
  } finally {
    await server.stop();
    rmSync(join(work, 'data'), { recursive: true, force: true });
    rmSync(join(work, 'out'), { recursive: true, force: true });
    rmSync(join(work, 'copy'), { recursive: true, force: true });
  }
}

/** Raw reads and fresh restores with the store's chunk files out of the page cache (see the top). */
async function measureCold(chunks: readonly { digest: Buffer; path: string }[], bytes: number, label: string, restore: () => Promise<unknown>, out: string, rounds: number): Promise<BenchResult> {
  const paths = [...new Set(chunks.map((c) => c.path))];
  const seq: number[] = [];
  const par: number[] = [];
  const fresh: number[] = [];
  const cached: number[] = [];
  const cold = () => {
    settle();
    evict(paths);
    cached.push(cachedShare(paths));
  };
  for (let round = 0; round < rounds; round++) {
    rmSync(out, { recursive: true, force: true });
    cold();
    seq.push(timed(() => rawStoreRead(chunks)).ms);
    cold();
    par.push(await timedAsync(() => rawStoreReadParallel(chunks)));
    cold();
    fresh.push(await timedAsync(restore));
  }
  const left = Math.max(...cached);
  return benchResult(
    `full restore, fresh target, store not cached (${label})`, bytes, median(fresh), 'raw store read + decode, 8 reads in flight, not cached', bytes, median(par),
    `s per round: restore ${perRound(fresh)}, raw parallel ${perRound(par)}, raw one by one ${perRound(seq)} (restore / one-by-one raw ${(median(seq) / median(fresh)).toFixed(2)}); at most ${(left * 100).toFixed(1)} % of the chunk bytes were cached at a start`,
  );
}

/**
 * Client and server share this machine's cores: their CPU seconds per
 * restore over the core count is the shortest wall time the work allows,
 * and raw read time over that the best ratio this machine can show.
 */
function cpuNote(cpu: readonly CpuSample[], rawMs: number): string {
  if (cpu.length === 0) return '';
  const client = median(cpu.map((c) => c.client));
  const server = median(cpu.map((c) => c.server));
  const floor = (client + server) / cores;
  const steal = cpu.map((c) => c.steal.toFixed(2)).join('/');
  return `; CPU per restore (medians) client ${client.toFixed(2)} s + server ${server.toFixed(2)} s: at least ${floor.toFixed(2)} s on ${cores} cores, ratio at most ${(rawMs / 1000 / floor).toFixed(2)}; hypervisor steal ${steal} s`;
}

/**
 * A tree of a few large files (the data path without the cost of creating
 * many files): pages half random, half zeros, so lz4 halves them as it does
 * typical data and no page is a hole.
 */
function makeLargeFiles(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const page = 4096;
  for (let f = 0; f < LARGE_FILES; f++) {
    const buf = Buffer.alloc(LARGE_FILE_BYTES);
    for (let o = 0; o < buf.length; o += page) randomFillSync(buf, o, page / 2);
    writeFileSync(join(dir, `large-${f}.bin`), buf);
  }
}

const LARGE_FILES = 2;
const LARGE_FILE_BYTES = 256 * 1024 * 1024;

export async function run(): Promise<BenchResult[]> {
  const work = mkdtempSync(join(tmpdir(), 'bulwark-bench-restore-'));
  let cli: Cli = client;
  let which = 'tsx CLI';
  try {
    await buildClient({ quiet: true });
    cli = runBuiltClient;
    which = 'bundled CLI';
  } catch (err) {
    process.stderr.write(`restore-read: client bundle not built (${(err as Error).message}); timing the tsx CLI\n`);
  }
  try {
    const rows = await measure(TREE, TREE, work, cli, which, true, TREE_ROUNDS);
    const large = join(work, 'large');
    makeLargeFiles(large);
    rows.push(...(await measure(large, `${LARGE_FILES} files of ${LARGE_FILE_BYTES / 1024 / 1024} MiB`, work, cli, which, false, LARGE_ROUNDS, COLD_ROUNDS)));
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) printResults(await run());
