/** Finds the text that describes an experiment: a Python module docstring or a leading comment block. */

const PYTHON_STRING_START = /^[rRuU]?("""|'''|"|')/;
const COMMENT_LINE = /^\s*(#|\/\/)\s?(.*)$/;

/** The module docstring of a Python file, or undefined when it has none. */
export function pythonDocstring(source: string): string | undefined {
  const lines = source.split(/\r?\n/);
  let index = 0;
  while (index < lines.length && (lines[index].trim() === '' || lines[index].trimStart().startsWith('#'))) index++;
  const rest = lines.slice(index).join('\n').trimStart();
  const opener = PYTHON_STRING_START.exec(rest);
  if (!opener) return undefined;
  const quote = opener[1];
  const bodyStart = opener[0].length;
  const end = rest.indexOf(quote, bodyStart);
  if (end < 0) return undefined;
  return rest.slice(bodyStart, end);
}

/** The comment block at the top of a script, after any shebang, with comment markers removed. */
export function leadingCommentBlock(source: string): string | undefined {
  const lines = source.split(/\r?\n/);
  let index = lines[0]?.startsWith('#!') ? 1 : 0;
  while (index < lines.length && lines[index].trim() === '') index++;
  const block: string[] = [];
  for (; index < lines.length; index++) {
    const match = COMMENT_LINE.exec(lines[index]);
    if (!match) break;
    block.push(match[2]);
  }
  return block.length ? block.join('\n') : undefined;
}

export function describingText(source: string, isPython: boolean): string {
  return (isPython ? pythonDocstring(source) : undefined) ?? leadingCommentBlock(source) ?? '';
}

/** Up to the first blank line: in most docstrings, the title. */
export function summaryOf(text: string): string {
  return text.trim().split(/\n\s*\n/)[0] ?? '';
}
