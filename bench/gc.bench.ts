/**
 * Garbage collection of a big store: BENCH_GC_CHUNKS small chunks (default
 * 1,000,000) and one dynamic index per 100 chunks (10,000 at 1M,
 * BENCH_GC_INDEXES to change), 200 digests each. The first 90 % of the chunks
 * are each referenced at least once (the first 900 k references cover them in
 * order, the rest are drawn at random from them, so indexes overlap the way
 * successive backups do); the last 10 % are garbage. Goals from the issue:
 * mark + sweep of 1M chunks under 60 s, peak RSS under 300 MB.
 *
 * Building takes minutes (1M file creations), so the built store is cached in
 * the temp dir under a name holding the parameters. Before each run, outside
 * the timing, every chunk gets an atime 10 days old and the garbage removed
 * by the previous run is written again, then `sync` writes those inode
 * updates back so the GC does not pay for them. The GC runs in a child process with
 * SAFETY_FULL, so its maxRSS is the GC's own peak, not the builder's.
 * Caches are warm (the store was just prepared), as on a busy server.
 *
 * Baselines, measured in the same run over the same files: for mark, reading
 * and SHA-256-ing every index (the part no GC can skip); for sweep, a bare
 * readdir + lstat of every prefix dir. Throughput is MB/s of index files
 * (mark) and of chunk files (sweep, total).
 *
 * `npx tsx bench/gc.bench.ts` prints the table; bench/run.ts calls run().
 */
import { execFileSync, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { encodeBlob } from '../datastore/blob.ts';
import { createDatastore } from '../datastore/create.ts';
import { DynamicIndexWriter } from '../datastore/dynamic-index.ts';
import { runGarbageCollection } from '../datastore/gc.ts';
import type { GcStatus } from '../datastore/gc-stats.ts';
import { walkIndexFiles } from '../datastore/gc-mark.ts';
import { formatBackupTime } from '../datastore/names.ts';
import { SAFETY_FULL } from '../datastore/safety.ts';
import { benchResult, printResults, type BenchResult } from './result.ts';

const CHUNKS = Number(process.env.BENCH_GC_CHUNKS ?? 1_000_000);
const INDEXES = Number(process.env.BENCH_GC_INDEXES ?? Math.max(1, Math.round(CHUNKS / 100)));
const REFS_PER_INDEX = 200;
const REFERENCED = Math.floor(CHUNKS * 0.9);
const GROUPS = 100;
const GOAL_SECONDS = 60;
const GOAL_RSS_MB = 300;
const DAY = 24 * 3600 * 1000;
const CHILD_FLAG = '--gc-bench-child';

// ── the store ──────────────────────────────────────────────────────────────

/** Chunk i: 16 bytes of data, stored as a plain blob under its real digest. */
function chunk(i: number): { hex: string; blob: Buffer } {
  const data = Buffer.alloc(16);
  data.write('gc-bench', 0);
  data.writeUInt32LE(i, 12);
  return { hex: createHash('sha256').update(data).digest('hex'), blob: encodeBlob(data) };
}

const chunkPath = (store: string, hex: string) => join(store, '.chunks', hex.slice(0, 4), hex);

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function buildStore(store: string): void {
  const t0 = performance.now();
  rmSync(store, { recursive: true, force: true });
  createDatastore(store);
  const digests = Buffer.allocUnsafe(REFERENCED * 32);
  for (let i = 0; i < CHUNKS; i++) {
    const c = chunk(i);
    writeFileSync(chunkPath(store, c.hex), c.blob);
    if (i < REFERENCED) digests.write(c.hex, i * 32, 'hex');
    if (i % 100_000 === 99_999) process.stderr.write(`  gc bench: wrote ${i + 1} chunks (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  const rand = mulberry32(42);
  const base = 1_700_000_000;
  let p = 0;
  for (let k = 0; k < INDEXES; k++) {
    const g = k % GROUPS;
    const nsParts = g % 2 === 0 ? [] : ['ns', 'bench'];
    const dir = join(store, ...nsParts, 'host', `g${g}`, formatBackupTime(base + Math.floor(k / GROUPS) * 3600));
    mkdirSync(dir, { recursive: true });
    const w = DynamicIndexWriter.create(join(dir, 'root.pxar.didx'), { fsync: false });
    for (let j = 0; j < REFS_PER_INDEX; j++, p++) {
      const i = p < REFERENCED ? p : Math.floor(rand() * REFERENCED);
      w.append((j + 1) * 4 * 1024 * 1024, digests.subarray(i * 32, i * 32 + 32));
    }
    w.close();
    writeFileSync(join(dir, 'index.json.blob'), 'bench manifest');
  }
  if (p < REFERENCED) throw new Error(`${INDEXES}×${REFS_PER_INDEX} references cannot cover ${REFERENCED} chunks`);
  writeFileSync(join(store, '.bench-complete'), '');
  process.stderr.write(`  gc bench: built ${store} in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

/** Every chunk 10 days old again; garbage a previous run removed is written back. */
function prepareStore(store: string): { chunkBytes: number } {
  const old = (Date.now() - 10 * DAY) / 1000;
  let chunkBytes = 0;
  for (let i = 0; i < CHUNKS; i++) {
    const c = chunk(i);
    const path = chunkPath(store, c.hex);
    try {
      utimesSync(path, old, old);
    } catch {
      writeFileSync(path, c.blob);
      utimesSync(path, old, old);
    }
    chunkBytes += c.blob.length;
  }
  return { chunkBytes };
}

// ── baselines ──────────────────────────────────────────────────────────────

function indexBaseline(store: string): { bytes: number; ms: number } {
  const t0 = performance.now();
  let bytes = 0;
  for (const path of walkIndexFiles(store)) {
    const buf = readFileSync(path);
    createHash('sha256').update(buf.subarray(4096)).digest();
    bytes += buf.length;
  }
  return { bytes, ms: performance.now() - t0 };
}

function walkBaseline(store: string): number {
  const t0 = performance.now();
  const root = join(store, '.chunks');
  for (const prefix of readdirSync(root)) {
    const dir = join(root, prefix);
    for (const name of readdirSync(dir)) lstatSync(join(dir, name));
  }
  return performance.now() - t0;
}

// ── the timed GC, in a child process ───────────────────────────────────────

interface ChildReport {
  status: GcStatus;
  markMs: number;
  sweepMs: number;
  maxRssMb: number;
  markLine: string;
}

async function child(store: string): Promise<void> {
  const times: Record<string, number> = {};
  let markLine = '';
  const status = await runGarbageCollection(store, {
    safety: SAFETY_FULL,
    onPhase: (phase) => { times[phase] = performance.now(); },
    log: (line) => { if (line.startsWith('marked ') && line.includes('chunks')) markLine = line; },
  });
  const end = performance.now();
  const report: ChildReport = {
    status,
    markMs: times.sweep! - times.mark!,
    sweepMs: end - times.sweep!,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    markLine,
  };
  process.send!(report);
}

function runChild(store: string): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const proc = fork(fileURLToPath(import.meta.url), [CHILD_FLAG, store], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let report: ChildReport | undefined;
    proc.on('message', (m) => { report = m as ChildReport; });
    proc.on('error', reject);
    proc.on('exit', (code) => (report && code === 0 ? resolve(report) : reject(new Error(`gc bench child exited with ${code}`))));
  });
}

export async function run(): Promise<BenchResult[]> {
  const store = join(tmpdir(), `bulwark-gc-bench-c${CHUNKS}-i${INDEXES}-r${REFS_PER_INDEX}-v1`);
  if (!existsSync(join(store, '.bench-complete'))) buildStore(store);
  let t0 = performance.now();
  const { chunkBytes } = prepareStore(store);
  // Write back the 1M inode updates now, so the GC is not charged for the preparation's writeback.
  execFileSync('sync');
  process.stderr.write(`  gc bench: prepared ${CHUNKS} chunks in ${((performance.now() - t0) / 1000).toFixed(1)} s (untimed, synced)\n`);
  const idx = indexBaseline(store);
  const walkMs = walkBaseline(store);

  t0 = performance.now();
  const r = await runChild(store);
  const wallMs = performance.now() - t0;
  const s = r.status;
  const garbage = CHUNKS - REFERENCED;
  if (s.removedChunks !== garbage || s.diskChunks !== REFERENCED || s.indexFileCount !== INDEXES || s.missingChunks !== 0 || s.pendingChunks !== 0) {
    throw new Error(`gc bench: wrong result ${JSON.stringify(s)}`);
  }

  const secs = (s.durationMs / 1000).toFixed(1);
  const perSec = (n: number, ms: number) => `${Math.round(n / (ms / 1000) / 1000)} k/s`;
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const timeOk = s.durationMs < GOAL_SECONDS * 1000;
  const rssOk = r.maxRssMb < GOAL_RSS_MB;
  const summary = `GC of ${CHUNKS} chunks / ${INDEXES} indexes: ${secs} s (goal < ${GOAL_SECONDS} s: ${verdict(timeOk)}), ` +
    `peak RSS ${r.maxRssMb.toFixed(0)} MB (goal < ${GOAL_RSS_MB} MB: ${verdict(rssOk)})`;
  process.stderr.write(`  gc bench: ${summary}; child wall time ${(wallMs / 1000).toFixed(1)} s\n  gc bench: ${r.markLine}\n`);
  return [
    benchResult(`gc mark, ${INDEXES} indexes × ${REFS_PER_INDEX} refs`, idx.bytes, r.markMs, 'read + SHA-256 of the indexes', idx.bytes, idx.ms,
      `${(r.markMs / 1000).toFixed(1)} s, ${perSec(INDEXES * REFS_PER_INDEX, r.markMs)} refs; ${r.markLine.replace(/^marked /, 'touched ')}`),
    benchResult(`gc sweep, ${CHUNKS} chunk files`, chunkBytes, r.sweepMs, 'readdir + lstat of every chunk', chunkBytes, walkMs,
      `${(r.sweepMs / 1000).toFixed(1)} s, ${perSec(CHUNKS, r.sweepMs)} files, ${s.removedChunks} removed`),
    benchResult(`gc mark + sweep, ${CHUNKS} chunks`, chunkBytes, s.durationMs, 'index + walk baselines', chunkBytes, idx.ms + walkMs,
      `${secs} s of ${GOAL_SECONDS} s goal ${verdict(timeOk)}; peak RSS ${r.maxRssMb.toFixed(0)} of ${GOAL_RSS_MB} MB ${verdict(rssOk)}`),
  ];
}

if (process.argv[2] === CHILD_FLAG) {
  await child(process.argv[3]!);
} else if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printResults(await run());
}
