/**
 * One row of benchmark output. Throughput is MB/s (10^6 bytes per second)
 * of the raw (decoded) data, and every row carries a baseline measured in the
 * same run over the same bytes, so results from different machines compare
 * by ratio rather than by absolute speed.
 */
export interface BenchResult {
  name: string;
  mbPerSec: number;
  baselineName: string;
  baselineMbPerSec: number;
  /** mbPerSec / baselineMbPerSec. */
  ratio: number;
  note?: string;
}

export function benchResult(name: string, bytes: number, ms: number, baselineName: string, baselineBytes: number, baselineMs: number, note?: string): BenchResult {
  const mbPerSec = bytes / 1e6 / (ms / 1000);
  const baselineMbPerSec = baselineBytes / 1e6 / (baselineMs / 1000);
  return { name, mbPerSec, baselineName, baselineMbPerSec, ratio: mbPerSec / baselineMbPerSec, ...(note === undefined ? {} : { note }) };
}

/** Prints rows the way bench/run.ts does, for benches run on their own. */
export function printResults(rows: readonly BenchResult[]): void {
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(2));
  console.table(
    rows.map((r) => ({
      benchmark: r.name,
      'MB/s': fmt(r.mbPerSec),
      baseline: r.baselineName,
      'baseline MB/s': fmt(r.baselineMbPerSec),
      ratio: r.ratio.toFixed(2),
      note: r.note ?? '',
    })),
  );
}
