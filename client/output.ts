/**
 * Listings as PBS's client prints them: a table on a terminal, or JSON with
 * PBS's field names (`--output-format text|json|json-pretty`).
 */
import { bulwarkError } from '../errors.ts';

export type OutputFormat = 'text' | 'json' | 'json-pretty';

export function parseOutputFormat(text: string | undefined): OutputFormat {
  const value = text ?? 'text';
  if (value !== 'text' && value !== 'json' && value !== 'json-pretty') {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', '--output-format', `${JSON.stringify(value)} (use text, json or json-pretty)`);
  }
  return value;
}

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string;
  readonly align?: 'left' | 'right';
}

export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: readonly string[]) =>
    values.map((v, i) => (columns[i]!.align === 'right' ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return [line(columns.map((c) => c.header)), rule, ...cells.map(line)].join('\n') + '\n';
}

export function render<T>(format: OutputFormat, rows: readonly T[], columns: readonly Column<T>[], json: (row: T) => unknown = (r) => r): string {
  if (format === 'json') return `${JSON.stringify(rows.map(json))}\n`;
  if (format === 'json-pretty') return `${JSON.stringify(rows.map(json), null, 2)}\n`;
  return renderTable(rows, columns);
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}
