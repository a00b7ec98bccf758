/** Plain-text tables for the terminal: columns padded to their widest cell, two spaces apart. */

interface TableOptions {
  /** Columns whose cells are right-aligned (numbers). */
  rightAligned?: readonly number[];
  /** Text before each line. */
  indent?: string;
}

export function textTable(
  rows: readonly (readonly string[])[],
  { rightAligned = [], indent = '' }: TableOptions = {},
): string[] {
  const columns = Math.max(0, ...rows.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  );
  return rows.map((row) =>
    (
      indent +
      row
        .map((cell, column) =>
          rightAligned.includes(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column]),
        )
        .join('  ')
    ).trimEnd(),
  );
}
