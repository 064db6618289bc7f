/**
 * `npm run bench`: runs every bench/*.bench.ts in turn (alone, so they do
 * not compete for the two cores) and prints one table. Each module exports
 * `run(): Promise<BenchResult[]>`; throughput is MB/s (10^6 bytes/s) with a
 * baseline measured in the same run.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { printResults, type BenchResult } from './result.ts';

const dir = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const rows: BenchResult[] = [];
for (const file of files) {
  process.stderr.write(`running ${file} …\n`);
  const mod = (await import(new URL(file, import.meta.url).href)) as { run: () => Promise<BenchResult[]> };
  rows.push(...(await mod.run()));
}

printResults(rows);
