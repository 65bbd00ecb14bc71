/** Markdown tables for the bench's output. */

/** A markdown table with padded columns. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** 12345.6 -> "12,346". */
export function num(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Dollars with three significant digits: 0.0123 -> "$0.0123". */
export function money(dollars: number): string {
  return `$${dollars.toPrecision(3)}`;
}
