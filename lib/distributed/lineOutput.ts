// A worker's output, line by line with its rank in front, so the lines of N workers that share one
// terminal or log stay readable. Whole lines only: a line is written once its newline arrives (or at the
// end of the stream), so two workers never interleave within a line.
import type { Readable, Writable } from 'node:stream';

/**
 * Copies `source` to `target`, each line prefixed with `prefix`; resolves when `source` has ended (a
 * last line without a newline gets one). A carriage return also ends a line: a progress bar redrawn in
 * place becomes one line per redraw instead of one endless line.
 */
export function copyPrefixedLines(source: Readable, target: Writable, prefix: string): Promise<void> {
  let pending = '';
  source.setEncoding('utf8');
  source.on('data', (chunk: string) => {
    const text = pending + chunk;
    const end = Math.max(text.lastIndexOf('\n'), text.lastIndexOf('\r'));
    if (end < 0) {
      pending = text;
      return;
    }
    pending = text.slice(end + 1);
    const lines = text.slice(0, end).split(/\r\n|\r|\n/).filter((line, i, all) => line !== '' || i < all.length - 1);
    if (lines.length > 0) target.write(lines.map((line) => `${prefix}${line}\n`).join(''));
  });
  return new Promise((resolve) => {
    const finish = () => {
      if (pending !== '') target.write(`${prefix}${pending}\n`);
      pending = '';
      resolve();
    };
    source.once('end', finish);
    // A stream destroyed without 'end' (the worker died mid-write) still flushes what it had.
    source.once('close', finish);
  });
}
