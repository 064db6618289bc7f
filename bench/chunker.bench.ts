/**
 * Content-defined chunking throughput: the dynamic chunker over 256 MiB of
 * random data in 1 MiB buffers (as the payload stream feeds it), with the
 * native addon's scan and with the JavaScript one, against single-core
 * SHA-256 of the same bytes in memory (every byte is hashed too, in the
 * encode workers: the chunker on the main thread should keep up with it).
 * Best of three passes each.
 *
 * `npx tsx bench/chunker.bench.ts`; bench/run.ts calls run().
 */
import { createHash, randomFillSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { DynamicChunker } from '../client/chunker/dynamic-chunker.ts';
import { nativeLoadError } from '../native/index.ts';
import { benchResult, printResults, type BenchResult } from './result.ts';

const BYTES = 256 * 1024 * 1024;
const PIECE = 1024 * 1024;

function best(fn: () => void): number {
  let ms = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    fn();
    ms = Math.min(ms, performance.now() - t);
  }
  return ms;
}

export async function run(): Promise<BenchResult[]> {
  const data = randomFillSync(Buffer.allocUnsafe(BYTES));
  const sha = best(() => createHash('sha256').update(data).digest());
  const chunk = (native: boolean) => () => {
    const c = new DynamicChunker({ native });
    for (let o = 0; o < data.length; o += PIECE) c.push(data.subarray(o, o + PIECE));
    c.finish();
  };
  const rows = [benchResult('dynamic chunker, JavaScript scan', BYTES, best(chunk(false)), 'SHA-256, 1 core', BYTES, sha, '4 MiB average chunks, 1 MiB input buffers')];
  if (nativeLoadError() === undefined) {
    rows.unshift(benchResult('dynamic chunker, native scan', BYTES, best(chunk(true)), 'SHA-256, 1 core', BYTES, sha, '4 MiB average chunks, 1 MiB input buffers'));
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) printResults(await run());
