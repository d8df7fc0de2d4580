// Text-image training data for CLIP models (task text-to-image): a CSV file (as the Python finetuner's
// CSV for CLIP: a header row, then one matching caption and image per row) or in-memory pairs. Both go
// through the same validation, so fit() can rely on: at least 2 pairs, every text non-empty, every image a
// valid ImageInput, and at least 2 different texts.
//
// Pairs with the identical text (after trimming) share a group: in a batch they are positives of each
// other, not negatives (several photos captioned "a photo of a dress" must not be pushed apart).
//
// Columns: by header name (text/caption/query/sentence/... for the text, image/path/file/filename/
// image_path/... for the image), else the first column is the text and the second the image; a header of
// other than 2 columns needs both textColumn and imageColumn. Rows in error messages are 1-based lines of
// the file, header included, as in csv.ts.
//
// Image files: parseTextImageCsv checks what it can without touching the disk (plus one existence check
// for an image cell that has no image extension, to tell a file name from a swapped caption);
// readTextImageCsv then checks that every image file exists, and reports the first missing one with its
// row (one stat per row: about 50 ms for 60,000 rows on a local disk). Files that exist but do not decode
// are reported when loaded (lib/data/images.ts).

import { access } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { describeHeader, parseCsvRecords, readCsvText } from './csvRecords.js';
import { imageInputProblem, type ImageInput } from './images.js';

export interface TextImagePair<I = ImageInput> {
  text: string;
  image: I;
  /** Where the pair came from ("file.csv row 7"), named when its image fails to load. */
  source?: string;
}

export interface TextImageData<I = ImageInput> {
  pairs: Array<TextImagePair<I>>;
  /** Group id of each pair: pairs with the identical text share one, numbered in order of first appearance. */
  groups: Int32Array;
  /** Number of distinct texts. */
  groupCount: number;
}

export interface ReadTextImageCsvOptions {
  /** Header name of the text column; default: a column named text/caption/query/sentence/..., else the first. */
  textColumn?: string;
  /** Header name of the image column; default: a column named image/path/file/filename/image_path/..., else the second. */
  imageColumn?: string;
  /** Field delimiter; default ','. */
  delimiter?: string;
}

/** In-memory pairs: parallel arrays, or one { text, image } object per pair. */
export type TextImageInput =
  | { texts: readonly string[]; images: readonly ImageInput[] }
  | ReadonlyArray<{ text: string; image: ImageInput }>;

const TEXT_NAMES = ['text', 'texts', 'caption', 'captions', 'query', 'sentence', 'description', 'title', 'prompt'];
const IMAGE_NAMES = ['image', 'images', 'image_path', 'image_file', 'path', 'file', 'filename', 'img', 'content'];
const SHAPE = 'a header row, then text,image rows';

/** File extensions that mark a cell as an image file name. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.bmp', '.avif'] as const;
const IMAGE_FILE = new RegExp(`\\.(${IMAGE_EXTENSIONS.map((e) => e.slice(1)).join('|')})$`, 'i');

/** Whether `value` looks like an image file name (ends in .jpg, .png, ...). */
export function looksLikeImagePath(value: string): boolean {
  return IMAGE_FILE.test(value.trim());
}

function quote(value: string, max = 60): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max - 3)}...` : value);
}

function finish<I>(pairs: Array<TextImagePair<I>>, source: string): TextImageData<I> {
  if (pairs.length < 2) {
    throw new Error(`${source}: ${pairs.length === 0 ? 'no' : 'only 1'} text-image pair; contrastive training needs at least 2 (each pair's text is contrasted with the other pairs' images)`);
  }
  const ids = new Map<string, number>();
  const groups = Int32Array.from(pairs, (p) => {
    let g = ids.get(p.text);
    if (g === undefined) ids.set(p.text, (g = ids.size));
    return g;
  });
  if (ids.size < 2) {
    throw new Error(`${source}: all ${pairs.length} pairs have the same text ${quote(pairs[0]!.text)}; contrastive training needs at least 2 different texts`);
  }
  return { pairs, groups, groupCount: ids.size };
}

function pickColumns(header: string[], options: ReadTextImageCsvOptions, at: string, file: string): { text: number; image: number } {
  const named = (wanted: string, option: string): number => {
    const i = header.indexOf(wanted);
    if (i < 0) throw new Error(`${file}: no column named "${wanted}" (option \`${option}\`); the header is ${describeHeader(header)}`);
    return i;
  };
  const lower = header.map((h) => h.toLowerCase());
  if (options.textColumn === undefined || options.imageColumn === undefined) {
    if (header.length !== 2) {
      throw new Error(
        `${at}: the header has ${header.length} column${header.length === 1 ? '' : 's'} (${describeHeader(header)}); a text-image CSV expects 2 columns (text, image), ` +
          'one matching caption and image per row (or name the two columns with the options textColumn and imageColumn)',
      );
    }
  }
  let text = options.textColumn !== undefined ? named(options.textColumn, 'textColumn') : lower.findIndex((h) => TEXT_NAMES.includes(h));
  let image = options.imageColumn !== undefined ? named(options.imageColumn, 'imageColumn') : lower.findIndex((h) => IMAGE_NAMES.includes(h));
  // Only reached with 2 columns when an option is missing: the other column is the other one.
  if (text < 0) text = image >= 0 ? 1 - image : 0;
  if (image < 0) image = 1 - text;
  if (text === image) throw new Error(`${file}: the text and image columns are both "${header[text]}"`);
  return { text, image };
}

interface ParsedCsv {
  data: TextImageData<string>;
  /** 1-based file line of each pair. */
  lines: number[];
}

function parse(text: string, file: string, options: ReadTextImageCsvOptions): ParsedCsv {
  const records = parseCsvRecords(text, file, options.delimiter, 'text,image');
  const header = records[0]!.record.map((h) => h.trim());
  const headerAt = `${file} row ${records[0]!.info.lines}`;
  const cols = pickColumns(header, options, headerAt, file);
  const dataLike = header.find((h) => looksLikeImagePath(h));
  if (dataLike !== undefined) {
    throw new Error(`${headerAt}: the first row holds ${quote(dataLike)}, an image file name, where the header is expected; the file needs ${SHAPE} (e.g. text,image)`);
  }
  if (records.length === 1) throw new Error(`${file}: the file has a header row but no data rows; expected text,image rows`);

  const base = dirname(resolve(file));
  const pairs: Array<TextImagePair<string>> = [];
  const lines: number[] = [];
  const [textName, imageName] = [header[cols.text], header[cols.image]];
  for (const { record, info } of records.slice(1)) {
    const at = `${file} row ${info.lines}`;
    if (record.length !== header.length) {
      const hint = record.length > header.length ? '; quote a caption that contains the delimiter ("a dress, red")' : '';
      throw new Error(
        `${at}: has ${record.length} column${record.length === 1 ? '' : 's'}; a text-image CSV expects ${header.length === 2 ? '2 columns (text, image)' : `${header.length} columns as in its header`} per row, ` +
          `one matching caption and image${hint}`,
      );
    }
    const caption = record[cols.text]!.trim();
    const image = record[cols.image]!.trim();
    if (caption === '') throw new Error(`${at}: empty text (column "${textName}")`);
    if (image === '') throw new Error(`${at}: missing image path (column "${imageName}")`);
    if (looksLikeImagePath(caption)) {
      throw new Error(
        `${at}: the text column ("${textName}") holds an image path (${quote(caption)}) where a caption is expected` +
          `${looksLikeImagePath(image) ? '' : ` and the image column ("${imageName}") holds ${quote(image)}`}; are the columns swapped? ` +
          'Name them with the options textColumn and imageColumn',
      );
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(image)) {
      throw new Error(`${at}: ${image} is a URL; only local image files are supported, download the images first`);
    }
    const path = isAbsolute(image) ? image : resolve(base, image);
    if (!looksLikeImagePath(image) && !existsSync(path)) {
      throw new Error(
        `${at}: the image column ("${imageName}") holds ${quote(image)}, which is neither an image file name (${IMAGE_EXTENSIONS.join(', ')}) ` +
          `nor an existing file (looked for ${path}); are the columns swapped?`,
      );
    }
    pairs.push({ text: caption, image: path, source: at });
    lines.push(info.lines);
  }
  return { data: finish(pairs, file), lines };
}

/**
 * The parsing half of readTextImageCsv, for CSV text already in memory; `file` names it in errors and
 * anchors relative image paths. Does not check that image files with an image extension exist.
 */
export function parseTextImageCsv(text: string, file: string, options: ReadTextImageCsvOptions = {}): TextImageData<string> {
  return parse(text, file, options).data;
}

/**
 * Reads a text-image CSV: a header row, then one matching (text, image path) pair per row. Relative image
 * paths are resolved against the CSV's directory. Throws an Error naming the file and the 1-based row of
 * the first problem: a row that is not a pair, an empty text or image cell, an image path in the text
 * column, a caption in the image column, a missing image file; or fewer than 2 pairs or 2 texts.
 */
export async function readTextImageCsv(file: string, options: ReadTextImageCsvOptions = {}): Promise<TextImageData<string>> {
  const text = await readCsvText(file);
  const { data, lines } = parse(text, file, options);
  const missing: number[] = [];
  const chunk = 256;
  for (let start = 0; start < data.pairs.length; start += chunk) {
    const end = Math.min(data.pairs.length, start + chunk);
    const found = await Promise.all(
      data.pairs.slice(start, end).map((p) => access(p.image).then(() => true, () => false)),
    );
    found.forEach((ok, k) => {
      if (!ok) missing.push(start + k);
    });
  }
  if (missing.length > 0) {
    const first = missing[0]!;
    const more = missing.length > 1 ? ` (${missing.length} of the ${data.pairs.length} image files are missing; the first is shown)` : '';
    throw new Error(`${file} row ${lines[first]}: image file not found: ${data.pairs[first]!.image}${more}`);
  }
  return data;
}

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

function checkText(value: unknown, at: string): string {
  if (value === undefined || value === null) throw new Error(`${at}: missing text`);
  if (typeof value !== 'string') throw new Error(`${at}: text must be a string (got ${describe(value)})`);
  const t = value.trim();
  if (t === '') throw new Error(`${at}: empty text`);
  return t;
}

function checkImage(value: unknown, at: string): ImageInput {
  if (value === undefined || value === null) throw new Error(`${at}: missing image`);
  const problem = imageInputProblem(value);
  if (problem) throw new Error(`${at}: ${problem}`);
  return value as ImageInput;
}

/**
 * Validates in-memory text-image pairs ({ texts, images } parallel arrays, or [{ text, image }]; an image
 * is a path, an encoded-image Buffer or raw pixels) and returns them in the same form as
 * readTextImageCsv. Errors name the entry (`data.texts[3]`, `data[3]`). Image paths are not checked on
 * disk here; a text that looks like an image path beside an image path without an image extension is
 * reported as swapped.
 */
export function normalizeTextImageData(input: TextImageInput, options: string | { source?: string } = {}): TextImageData<ImageInput> {
  const source = typeof options === 'string' ? options : (options.source ?? 'data');
  const swapped = (text: string, image: ImageInput, at: string): void => {
    if (looksLikeImagePath(text) && typeof image === 'string' && !looksLikeImagePath(image)) {
      throw new Error(`${at}: the text ${quote(text)} looks like an image path and the image ${quote(image)} does not; are text and image swapped?`);
    }
  };
  if (Array.isArray(input)) {
    const items = input as readonly unknown[];
    return finish(
      items.map((entry, i) => {
        const at = `${source}[${i}]`;
        if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Error(`${at}: expected { text, image }, got ${describe(entry)}`);
        const e = entry as Record<string, unknown>;
        const text = checkText(e.text, at);
        const image = checkImage(e.image, at);
        swapped(text, image, at);
        return { text, image };
      }),
      source,
    );
  }
  if (typeof input !== 'object' || input === null) {
    throw new TypeError(`${source} must be { texts, images } or an array of { text, image } (got ${describe(input)})`);
  }
  const { texts, images } = input as { texts?: unknown; images?: unknown };
  if (!Array.isArray(texts)) throw new TypeError(`${source}.texts must be an array of strings (got ${describe(texts)})`);
  if (!Array.isArray(images)) throw new TypeError(`${source}.images must be an array of images (got ${describe(images)})`);
  if (texts.length !== images.length) {
    throw new Error(`${source}: texts has ${texts.length} entries but images has ${images.length}; each text is paired with the image at the same index`);
  }
  return finish(
    texts.map((t, i) => {
      const text = checkText(t, `${source}.texts[${i}]`);
      const image = checkImage(images[i], `${source}.images[${i}]`);
      swapped(text, image, `${source}[${i}]`);
      return { text, image };
    }),
    source,
  );
}

/** One entry point for fit(): a CSV path or in-memory pairs, validated; `option` names it in errors. */
export async function readTextImageData(input: string | TextImageInput, option: string, options: ReadTextImageCsvOptions = {}): Promise<TextImageData<ImageInput>> {
  if (typeof input === 'string') return readTextImageCsv(input, options);
  if (Array.isArray(input) || (typeof input === 'object' && input !== null)) return normalizeTextImageData(input, { source: option });
  throw new TypeError(`option '${option}' must be a CSV file path, { texts, images } or an array of { text, image } (${SHAPE} in the CSV)`);
}
