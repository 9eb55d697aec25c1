// Tables as every renderer writes them: markdown for report.md, HTML for report.html, and the cell
// formats they share.

/** Milliseconds to three significant figures at most: 123, 12.3, 1.23. */
export const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** A figure, or – when there is none. */
export const opt = (v: number | null | undefined, f: (x: number) => string) => (v === null || v === undefined ? '–' : f(v));

/** A markdown table; the first `left` columns are left-aligned (names), the rest right-aligned (figures). */
export function markdownTable(header: string[], rows: string[][], left = 2): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i < left ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** An HTML table of text cells (escaped); `rowAttrs(i)` adds attributes to row i (e.g. data-strategy). */
export function htmlTable(cls: string, header: string[], rows: string[][], rowAttrs: (i: number) => string = () => ''): string {
  return `<table class="${esc(cls)}"><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>` +
    `${rows.map((row, i) => `<tr${rowAttrs(i)}>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</table>`;
}
