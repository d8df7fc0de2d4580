// CSV parsing shared by the image and text readers: records with the file line each ends on, so
// errors can name the row; column counts are left to the callers, which know what each row should hold.
import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';

export interface CsvRecord {
  record: string[];
  info: { lines: number };
}

export function parseCsvRecords(text: string, file: string, delimiter: string | undefined, expected: string): CsvRecord[] {
  let records: CsvRecord[];
  try {
    records = parse(text, {
      bom: true,
      delimiter: delimiter ?? ',',
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as CsvRecord[]; // csv-parse's types do not model `info: true`
  } catch (err) {
    const e = err as Error & { lines?: number };
    throw new Error(`${file}${e.lines ? ` row ${e.lines}` : ''}: not valid CSV: ${e.message}`, { cause: err });
  }
  if (records.length === 0) throw new Error(`${file}: the file is empty; expected a header row, then ${expected} rows`);
  return records;
}

// Throws on the first byte that is not UTF-8 instead of decoding it to U+FFFD; keeps a leading BOM,
// which csv-parse removes.
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The CSV file's text, or an Error naming the file. Bytes that are not valid UTF-8 (a file saved as
 * Latin-1 or Windows-1252, say) are an Error naming the row: decoding them with replacement characters
 * would silently merge distinct labels ("café" and "cafè" both become "caf\uFFFD").
 */
export async function readCsvText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`Cannot read CSV ${file}: ${code === 'ENOENT' ? 'file not found' : (err as Error).message}`, { cause: err });
  }
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    // Not UTF-8: find where, to name the row.
  }
  const bad = Math.max(0, firstInvalidUtf8(bytes));
  const row = countNewlines(bytes, bad) + 1;
  const lineStart = bytes.lastIndexOf(0x0a, bad - 1) + 1;
  throw new Error(
    `${file} row ${row}: byte 0x${bytes[bad]!.toString(16).padStart(2, '0')} at column ${bad - lineStart + 1} is not valid UTF-8; ` +
      'save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)',
  );
}

/** Byte offset of the first byte that does not start or continue a valid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) { i++; continue; }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) { need = 1; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; min = 0x800; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; min = 0x10000; }
    else return i;
    let code = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      code = (code << 6) | (c & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (code < min || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return i;
    i += need + 1;
  }
  return -1;
}

function countNewlines(bytes: Uint8Array, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) if (bytes[i] === 0x0a) n++;
  return n;
}

/**
 * A header for an error message: at most a few names, each cut short, so a million-column header gives
 * a one-line error rather than megabytes of text.
 */
export function describeHeader(header: readonly string[], most = 8): string {
  const cut = (name: string) => (name.length > 40 ? `${name.slice(0, 37)}...` : name);
  const shown = header.slice(0, most).map(cut).join(', ');
  return header.length > most ? `${shown}, ... (${header.length} columns)` : shown;
}
