// Labelled training data: a CSV file (as the Python finetuner's labelled CSV: a header row, then one image
// and its label per row) or an in-memory array of { image, label }. Both go through the same validation
// so fit() can rely on: at least one item, every label non-empty, at least 2 classes.
//
// Rows in error messages are 1-based lines of the file, header included, so "row 3" is the third line
// an editor shows (for a quoted field spanning lines, the line the record ends on).

import { dirname, isAbsolute, resolve } from 'node:path';
import { describeHeader, parseCsvRecords, readCsvText } from './csvRecords.js';
import { imageInputProblem, type ImageInput } from './images.js';

export interface LabelledItem<I = ImageInput> {
  image: I;
  label: string;
  /** Where the item came from ("file.csv row 7", "data[3]"), named when its image fails to load. */
  source?: string;
}

export interface LabelledData<I = ImageInput> {
  items: Array<LabelledItem<I>>;
  /** Distinct labels, sorted (numerically when every label is an integer). */
  classes: string[];
  /** For each item, the index of its label in `classes` (what the native train step takes). */
  labelIds: Int32Array;
}

export interface ReadCsvOptions {
  /** Header name of the image column; default: a column named image/path/file/filename, else the first. */
  imageColumn?: string;
  /** Header name of the label column; default: a column named label/class/category, else the last. */
  labelColumn?: string;
  /** Field delimiter; default ','. */
  delimiter?: string;
}

const IMAGE_NAMES = ['image', 'images', 'image_path', 'path', 'file', 'filename', 'content'];
const LABEL_NAMES = ['label', 'labels', 'class', 'category', 'target', 'tag'];

function pickColumn(header: string[], wanted: string | undefined, guesses: string[], fallback: number, file: string, option: string): number {
  if (wanted !== undefined) {
    const i = header.indexOf(wanted);
    if (i < 0) throw new Error(`${file}: no column named "${wanted}" (option \`${option}\`); the header is ${describeHeader(header)}`);
    return i;
  }
  const i = header.findIndex((h) => guesses.includes(h.trim().toLowerCase()));
  return i >= 0 ? i : fallback;
}

function sortClasses(labels: Iterable<string>): string[] {
  const classes = [...new Set(labels)];
  // Integer labels ("0".."9") sort as numbers, so "10" does not come before "2".
  if (classes.every((c) => /^-?\d+$/.test(c))) return classes.sort((a, b) => Number(a) - Number(b));
  return classes.sort();
}

function finish<I>(items: Array<LabelledItem<I>>, source: string): LabelledData<I> {
  const classes = sortClasses(items.map((it) => it.label));
  if (classes.length < 2) {
    throw new Error(
      `${source}: the labels need at least 2 classes to learn from, found only ${JSON.stringify(classes[0])} ` +
        `in ${items.length} item(s)`,
    );
  }
  const id = new Map(classes.map((c, i) => [c, i]));
  return { items, classes, labelIds: Int32Array.from(items, (it) => id.get(it.label)!) };
}

/**
 * Reads a labelled CSV: a header row, then rows of image path and label. Relative image paths are
 * resolved against the CSV's directory. Throws an Error naming the file and the 1-based row of the first
 * problem: missing image or label, wrong column count, empty file, fewer than 2 classes.
 */
export async function readLabelledCsv(file: string, options: ReadCsvOptions = {}): Promise<LabelledData<string>> {
  const text = await readCsvText(file);
  return parseLabelledCsv(text, file, options);
}

/** The parsing half of readLabelledCsv, for CSV text already in memory. `file` names it in errors and anchors relative paths. */
export function parseLabelledCsv(text: string, file: string, options: ReadCsvOptions = {}): LabelledData<string> {
  const records = parseCsvRecords(text, file, options.delimiter, 'image,label');
  const header = records[0]!.record.map((h) => h.trim());
  if (header.length < 2) {
    throw new Error(`${file} row ${records[0]!.info.lines}: the header has ${header.length} column; expected an image column and a label column`);
  }
  if (records.length === 1) throw new Error(`${file}: the file has a header row but no data rows`);
  const imageCol = pickColumn(header, options.imageColumn, IMAGE_NAMES, 0, file, 'imageColumn');
  const labelCol = pickColumn(header, options.labelColumn, LABEL_NAMES, header.length - 1, file, 'labelColumn');
  if (imageCol === labelCol) throw new Error(`${file}: the image and label columns are both "${header[imageCol]}"`);

  const base = dirname(resolve(file));
  const items: Array<LabelledItem<string>> = [];
  for (const { record, info } of records.slice(1)) {
    const at = `${file} row ${info.lines}`;
    if (record.length !== header.length) {
      throw new Error(`${at}: has ${record.length} column(s), expected ${header.length} as in the header (${describeHeader(header)})`);
    }
    const image = record[imageCol]!.trim();
    const label = record[labelCol]!.trim();
    if (image === '') throw new Error(`${at}: missing image path (column "${header[imageCol]}")`);
    if (label === '') throw new Error(`${at}: missing label (column "${header[labelCol]}")`);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(image)) {
      throw new Error(`${at}: ${image} is a URL; only local image files are supported, download the images first`);
    }
    items.push({ image: isAbsolute(image) ? image : resolve(base, image), label, source: at });
  }
  return finish(items, file);
}

export interface NormalizeOptions {
  /** Names the data in error messages; default 'data'. */
  source?: string;
}

/**
 * Validates in-memory labelled data ({ image, label } with image a path, an encoded-image Buffer or raw
 * pixels, label a string or a number) and returns it in the same form as readLabelledCsv. Errors name
 * the item as `data[i]`.
 */
export function normalizeLabelledData(
  data: ReadonlyArray<{ image: ImageInput; label: string | number }>,
  options: NormalizeOptions = {},
): LabelledData<ImageInput> {
  const source = options.source ?? 'data';
  if (!Array.isArray(data)) throw new Error(`${source} must be an array of { image, label }`);
  if (data.length === 0) throw new Error(`${source} is empty; expected { image, label } items`);
  const items = data.map((entry, i): LabelledItem => {
    const at = `${source}[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw new Error(`${at}: expected { image, label }, got ${entry === null ? 'null' : typeof entry}`);
    const { image, label } = entry;
    if (image === undefined) throw new Error(`${at}: missing image`);
    const problem = imageInputProblem(image);
    if (problem) throw new Error(`${at}: ${problem}`);
    if (label === undefined || label === null) throw new Error(`${at}: missing label`);
    if (typeof label === 'number' && !Number.isFinite(label)) throw new Error(`${at}: label must be a finite number or a string (got ${label})`);
    if (typeof label !== 'number' && typeof label !== 'string') throw new Error(`${at}: label must be a string or a number (got ${typeof label})`);
    const text = String(label).trim();
    if (text === '') throw new Error(`${at}: missing label (empty string)`);
    return { image, label: text, source: at };
  });
  return finish(items, source);
}
