/**
 * The progress line on a terminal, redrawn at most ten times a second on
 * stderr: for a backup bytes, files, MB/s and how much was deduplicated,
 * for a restore bytes, entries, MB/s and the files skipped as unchanged.
 * Silent when stderr is not a terminal.
 */
import { humanBytes } from './output.ts';

export interface ProgressSample {
  readonly archive: string;
  readonly bytes: number;
  readonly files: number;
  readonly uploadedBytes: number;
  readonly reusedChunks: number;
  readonly chunks: number;
}

export interface RestoreSample {
  readonly entries: number;
  readonly bytes: number;
  readonly unchanged: number;
}

/** Shortest time between two redraws, in ms. */
const REDRAW_MS = 100;

const rate = (bytes: number, secs: number) => `${(bytes / 1e6 / secs).toFixed(1)} MB/s`;

export function backupLine(p: ProgressSample, secs: number): string {
  const dedup = p.chunks > 0 ? ((p.reusedChunks / p.chunks) * 100).toFixed(0) : '0';
  return `${p.archive}: ${humanBytes(p.bytes)}, ${p.files} files, ${rate(p.bytes, secs)}, sent ${humanBytes(p.uploadedBytes)}, ${dedup} % of chunks reused`;
}

export function restoreLine(archive: string, s: RestoreSample, secs: number): string {
  return `${archive}: ${humanBytes(s.bytes)}, ${s.entries} entries, ${rate(s.bytes, secs)}, ${s.unchanged} unchanged files skipped`;
}

/**
 * `update(sample)` redraws the line that `line` makes of the sample (and
 * the seconds since the start) when a redraw is due; `done()` ends it.
 */
export function progressPrinter<S>(line: (sample: S, secs: number) => string, stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now) {
  const start = now();
  let last = -Infinity;
  let shown = false;
  return {
    update(sample: S): void {
      if (!stream.isTTY) return;
      const t = now();
      if (t - last < REDRAW_MS) return;
      last = t;
      const text = line(sample, Math.max(0.001, (t - start) / 1000));
      // A terminal of unknown size (a pty nobody sized) says 0 columns.
      const width = Math.min(stream.columns || 120, 120) - 1;
      stream.write(`\r${text.slice(0, width).padEnd(width)}`);
      shown = true;
    },
    done(): void {
      if (shown) stream.write('\n');
    },
  };
}
