// Plain-text tables for the console (describeModels, the CLI's eval output). Pure: returns a string, so
// callers decide where it goes and tests can compare it exactly.

export type TableCell = string | number | boolean | null | undefined;

export interface TableOptions {
  /** Cells longer than this are cut with an ellipsis, so a long description cannot wrap every row. */
  maxCellWidth?: number;
}

function cellText(value: TableCell, maxWidth: number): string {
  // Newlines would break the grid; a table cell is always one line.
  const text = value === null || value === undefined ? '' : String(value).replace(/\s*\n\s*/g, ' ');
  return text.length > maxWidth ? `${text.slice(0, Math.max(0, maxWidth - 1))}…` : text;
}

/**
 * Formats `rows` as a table with a title line, a header and a rule:
 *
 * ```
 * Title
 * name     | output_dim
 * ---------+-----------
 * resnet50 |       2048
 * ```
 *
 * `columns` are the keys read from each row, in order, and are also the header. Numbers are aligned right,
 * everything else left. Trailing spaces are trimmed from each line.
 */
export function formatTable(
  title: string,
  columns: readonly string[],
  rows: ReadonlyArray<Readonly<Record<string, TableCell>>>,
  options: TableOptions = {},
): string {
  if (columns.length === 0) throw new Error('formatTable: `columns` must name at least one column');
  const maxWidth = options.maxCellWidth ?? Number.POSITIVE_INFINITY;
  const cells = rows.map((row) => columns.map((col) => cellText(row[col], maxWidth)));
  const numeric = columns.map((col) => rows.length > 0 && rows.every((row) => typeof row[col] === 'number'));
  const widths = columns.map((col, c) => Math.max(col.length, ...cells.map((line) => line[c]!.length)));

  const pad = (text: string, c: number): string =>
    numeric[c] ? text.padStart(widths[c]!) : text.padEnd(widths[c]!);
  const line = (values: string[]): string => values.map((v, c) => pad(v, c)).join(' | ').trimEnd();

  return [
    title,
    line([...columns]),
    widths.map((w) => '-'.repeat(w)).join('-+-'),
    ...cells.map(line),
  ].join('\n');
}
