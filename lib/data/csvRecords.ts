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

/** The CSV file's text, or an Error naming the file. */
export async function readCsvText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`Cannot read CSV ${file}: ${code === 'ENOENT' ? 'file not found' : (err as Error).message}`, { cause: err });
  }
}
