// Text training data for text-to-text models, from a CSV file (a header row, then one record per row) or
// an in-memory array, in one of four kinds:
//   labelled  text,label            texts of the same label are positives of each other
//   pairs     query,document        every row a positive pair; rows sharing a query are one group (as the
//                                   Python finetuner parses it); with a third column named negative (or
//                                   kind 'pairs' given), query,positive,negative with a hard negative
//   scored    text1,text2,score     a similarity score in [0, 1] per pair
//   margins   query,positive,negative,margin
//                                   a teacher's margin score(query, positive) - score(query, negative)
//                                   per triple (distillation with MarginMSELoss); any real number
// The kind follows from the column count and the header unless given. CSV and arrays go through the same
// validation. Rows in error messages are 1-based lines of the file, header included, as in csv.ts.

import { describeHeader, parseCsvRecords, readCsvText } from './csvRecords.js';

export type TextDataKind = 'labelled' | 'pairs' | 'scored' | 'margins';

export interface LabelledText {
  text: string;
  label: string;
}

export interface TextPair {
  query: string;
  document: string;
  /** A hard negative: a document that must rank below `document` for `query`. */
  negative?: string;
}

export interface ScoredPair {
  a: string;
  b: string;
  /** Similarity in [0, 1]. */
  score: number;
}

/** A triple with the teacher's margin score(query, positive) - score(query, negative). */
export interface MarginTriple {
  query: string;
  positive: string;
  negative: string;
  margin: number;
}

export interface LabelledTextData {
  kind: 'labelled';
  items: LabelledText[];
  /** Distinct labels, sorted (numerically when every label is an integer). */
  classes: string[];
  /** For each item, the index of its label in `classes`. */
  labelIds: Int32Array;
}

export interface TextPairData {
  kind: 'pairs';
  pairs: TextPair[];
  /** Group id of each pair: pairs with the same query share one, numbered in order of first appearance. */
  groups: Int32Array;
  /** Number of distinct queries. */
  groupCount: number;
}

export interface ScoredPairData {
  kind: 'scored';
  pairs: ScoredPair[];
}

export interface MarginData {
  kind: 'margins';
  triples: MarginTriple[];
}

export type TextData = LabelledTextData | TextPairData | ScoredPairData | MarginData;

export interface ReadTextCsvOptions {
  /** What the rows are; default 'auto': from the column count and header names. */
  kind?: 'auto' | TextDataKind;
  /** Field delimiter; default ','. */
  delimiter?: string;
}

/** In-memory text data: objects in the shapes of the result items, or tuples [text1, text2(, score)]. */
export type TextDataInput =
  | ReadonlyArray<{ text: string; label: string | number }>
  | ReadonlyArray<TextPair>
  | ReadonlyArray<ScoredPair>
  | ReadonlyArray<MarginTriple>
  | ReadonlyArray<readonly [string, string] | readonly [string, string, number | string] | readonly [string, string, string, number | string]>;

const KINDS = ['auto', 'labelled', 'pairs', 'scored', 'margins'] as const;
const LABEL_NAMES = ['label', 'labels', 'class', 'category', 'target', 'tag'];
const NEGATIVE_NAMES = ['negative', 'negatives', 'hard_negative', 'hard negative', 'neg', 'negative_document'];
const SCORE_NAMES = ['score', 'similarity', 'label', 'relevance', 'sim'];
const SHAPES = 'text,label (labelled), query,document (pairs), query,positive,negative (pairs with a hard negative) text1,text2,score (scored) or query,positive,negative,margin (margins)';

function checkKind(kind: unknown): 'auto' | TextDataKind {
  if (!KINDS.includes(kind as (typeof KINDS)[number])) throw new Error(`option \`kind\` must be one of ${KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  return kind as 'auto' | TextDataKind;
}

function sortClasses(labels: Iterable<string>): string[] {
  const classes = [...new Set(labels)];
  if (classes.every((c) => /^-?\d+$/.test(c))) return classes.sort((a, b) => Number(a) - Number(b));
  return classes.sort();
}

function finishLabelled(items: LabelledText[], source: string): LabelledTextData {
  const classes = sortClasses(items.map((it) => it.label));
  if (classes.length < 2) {
    throw new Error(`${source}: the labels need at least 2 classes to learn from, found only ${JSON.stringify(classes[0])} in ${items.length} item(s)`);
  }
  const id = new Map(classes.map((c, i) => [c, i]));
  return { kind: 'labelled', items, classes, labelIds: Int32Array.from(items, (it) => id.get(it.label)!) };
}

function finishPairs(pairs: TextPair[]): TextPairData {
  const ids = new Map<string, number>();
  const groups = Int32Array.from(pairs, (p) => {
    let g = ids.get(p.query);
    if (g === undefined) ids.set(p.query, (g = ids.size));
    return g;
  });
  return { kind: 'pairs', pairs, groups, groupCount: ids.size };
}

/** Parses a score cell or value; returns an error message, or the number. */
function parseScore(value: unknown): number | string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return `score must be a finite number in [0, 1] (got ${value})`;
  } else if (typeof value === 'string') {
    const t = value.trim();
    if (t === '') return 'missing score';
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return `score ${JSON.stringify(value)} is not a number`;
    value = Number(t);
  } else {
    return `score must be a number in [0, 1] (got ${value === null ? 'null' : typeof value})`;
  }
  const n = value as number;
  if (n < 0 || n > 1) return `score ${n} is outside [0, 1]`;
  return n;
}

/** Parses a teacher margin (any finite number); returns an error message, or the number. */
function parseMargin(value: unknown): number | string {
  if (typeof value === 'number') return Number.isFinite(value) ? value : `margin must be a finite number (got ${value})`;
  if (typeof value !== 'string') return `margin must be a number (got ${value === null ? 'null' : typeof value})`;
  const t = value.trim();
  if (t === '') return 'missing margin';
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) || !Number.isFinite(Number(t))) return `margin ${JSON.stringify(value)} is not a number`;
  return Number(t);
}

/** Decides the kind of a CSV from its header; throws naming the file and row 1 when it cannot be. */
function csvKind(header: string[], kind: 'auto' | TextDataKind, at: string): { kind: TextDataKind; negative: boolean } {
  const names = header.map((h) => h.trim().toLowerCase());
  const n = header.length;
  const columns = `${n} column${n === 1 ? '' : 's'} (${describeHeader(header)})`;
  if (n < 2 || n > 4) {
    throw new Error(`${at}: the header has ${columns}; a text CSV has 2 to 4 columns: ${SHAPES}`);
  }
  if (kind === 'margins' || (kind === 'auto' && n === 4)) {
    if (n !== 4) throw new Error(`${at}: kind 'margins' needs 4 columns (query,positive,negative,margin), the header has ${columns}`);
    return { kind: 'margins', negative: true };
  }
  if (kind === 'pairs' && n === 4) throw new Error(`${at}: kind 'pairs' needs 2 or 3 columns (query,document[,negative]), the header has ${columns}`);
  if (kind === 'labelled') {
    if (n !== 2) throw new Error(`${at}: kind 'labelled' needs 2 columns (text,label), the header has ${columns}`);
    return { kind, negative: false };
  }
  if (kind === 'scored') {
    if (n !== 3) throw new Error(`${at}: kind 'scored' needs 3 columns (text1,text2,score), the header has ${columns}`);
    return { kind, negative: false };
  }
  if (kind === 'pairs') return { kind, negative: n === 3 };
  if (n === 2) return { kind: names.some((h) => LABEL_NAMES.includes(h)) ? 'labelled' : 'pairs', negative: false };
  return NEGATIVE_NAMES.includes(names[2]!) ? { kind: 'pairs', negative: true } : { kind: 'scored', negative: false };
}

/**
 * Reads text training data from a CSV with a header row. Throws an Error naming the file and the 1-based
 * row of the first problem: a header of 1 or 4+ columns, a row whose column count differs from the
 * header's, an empty text or label, a non-numeric or out-of-range score, fewer than 2 classes.
 */
export async function readTextCsv(file: string, options: ReadTextCsvOptions = {}): Promise<TextData> {
  checkKind(options.kind ?? 'auto');
  const text = await readCsvText(file);
  return parseTextCsv(text, file, options);
}

/** The parsing half of readTextCsv, for CSV text already in memory; `file` names it in errors. */
export function parseTextCsv(text: string, file: string, options: ReadTextCsvOptions = {}): TextData {
  const wanted = checkKind(options.kind ?? 'auto');
  const records = parseCsvRecords(text, file, options.delimiter, SHAPES);
  const header = records[0]!.record.map((h) => h.trim());
  const { kind, negative } = csvKind(header, wanted, `${file} row ${records[0]!.info.lines}`);
  if (records.length === 1) throw new Error(`${file}: the file has a header row but no data rows`);

  const labelCol = kind === 'labelled' ? Math.max(0, header.findIndex((h) => LABEL_NAMES.includes(h.toLowerCase()))) : -1;
  const labelledCols = labelCol === 0 ? [1, 0] : [0, 1];
  const rows: string[][] = [];
  for (const { record, info } of records.slice(1)) {
    const at = `${file} row ${info.lines}`;
    if (record.length !== header.length) {
      throw new Error(`${at}: has ${record.length} column(s), expected ${header.length} as in the header (${describeHeader(header)})`);
    }
    const cells = record.map((c) => c.trim());
    const textCols = kind === 'labelled' ? [labelledCols[0]!] : kind === 'scored' ? [0, 1] : negative ? [0, 1, 2] : [0, 1];
    if (kind === 'margins') {
      const margin = parseMargin(cells[3]);
      if (typeof margin === 'string') throw new Error(`${at}: ${margin} (column "${header[3]}")`);
    }
    for (const c of textCols) {
      if (cells[c] === '') throw new Error(`${at}: empty text in column "${header[c]}"`);
    }
    if (kind === 'labelled' && cells[labelledCols[1]!] === '') throw new Error(`${at}: missing label (column "${header[labelledCols[1]!]}")`);
    if (kind === 'scored') {
      const score = parseScore(cells[2]);
      if (typeof score === 'string') throw new Error(`${at}: ${score} (column "${header[2]}")`);
    }
    rows.push(cells);
  }
  if (kind === 'labelled') {
    return finishLabelled(rows.map((r) => ({ text: r[labelledCols[0]!]!, label: r[labelledCols[1]!]! })), file);
  }
  if (kind === 'scored') return { kind, pairs: rows.map((r) => ({ a: r[0]!, b: r[1]!, score: Number(r[2]) })) };
  if (kind === 'margins') return { kind, triples: rows.map((r) => ({ query: r[0]!, positive: r[1]!, negative: r[2]!, margin: Number(r[3]) })) };
  return finishPairs(rows.map((r) => (negative ? { query: r[0]!, document: r[1]!, negative: r[2]! } : { query: r[0]!, document: r[1]! })));
}

function itemKind(entry: unknown): TextDataKind | undefined {
  if (Array.isArray(entry)) {
    if (entry.length === 4) return 'margins';
    return entry.length === 3 && typeof entry[2] !== 'string' ? 'scored' : entry.length === 3 ? undefined : 'pairs';
  }
  if (typeof entry !== 'object' || entry === null) return undefined;
  if ('margin' in entry) return 'margins';
  if ('label' in entry) return 'labelled';
  if ('score' in entry) return 'scored';
  if ('query' in entry || 'document' in entry) return 'pairs';
  return undefined;
}

function textField(value: unknown, at: string, name: string): string {
  if (value === undefined || value === null) throw new Error(`${at}: missing ${name}`);
  if (typeof value !== 'string') throw new Error(`${at}: ${name} must be a string (got ${typeof value})`);
  const t = value.trim();
  if (t === '') throw new Error(`${at}: empty text in ${name}`);
  return t;
}

/**
 * Validates in-memory text data and returns it in the same form as readTextCsv. Items are objects
 * { text, label }, { query, document, negative? } or { a, b, score }, or tuples [query, document] and
 * [a, b, score]; with kind 'auto' the first item decides. Errors name the item as `data[i]`.
 */
export function normalizeTextData(data: TextDataInput, kind: 'auto' | TextDataKind = 'auto', options: { source?: string } = {}): TextData {
  const source = options.source ?? 'data';
  const wanted = checkKind(kind);
  if (!Array.isArray(data)) throw new Error(`${source} must be an array of { text, label }, { query, document }, { a, b, score } or { query, positive, negative, margin } items`);
  if (data.length === 0) throw new Error(`${source} is empty; expected items of ${SHAPES}`);
  const entries = data as readonly unknown[];
  const detected = wanted === 'auto' ? itemKind(entries[0]) : wanted;
  if (detected === undefined) {
    throw new Error(`${source}[0]: cannot tell the kind of data; expected { text, label }, { query, document }, { a, b, score } or { query, positive, negative, margin } (or pass a kind)`);
  }
  const items = entries.map((entry, i) => {
    const at = `${source}[${i}]`;
    if (Array.isArray(entry)) {
      const n = entry.length;
      const want = detected === 'scored' ? 3 : detected === 'pairs' ? [2, 3] : detected === 'margins' ? 4 : 2;
      if (Array.isArray(want) ? !want.includes(n) : n !== want) {
        throw new Error(`${at}: a ${detected} tuple has ${Array.isArray(want) ? want.join(' or ') : want} elements, got ${n}`);
      }
      if (detected === 'labelled') return { text: entry[0], label: entry[1] };
      if (detected === 'scored') return { a: entry[0], b: entry[1], score: entry[2] };
      if (detected === 'margins') return { query: entry[0], positive: entry[1], negative: entry[2], margin: entry[3] };
      return n === 3 ? { query: entry[0], document: entry[1], negative: entry[2] } : { query: entry[0], document: entry[1] };
    }
    if (typeof entry !== 'object' || entry === null) throw new Error(`${at}: expected an object or a tuple, got ${entry === null ? 'null' : typeof entry}`);
    const k = itemKind(entry);
    if (k !== undefined && k !== detected) throw new Error(`${at}: a ${k} item among ${detected} items; all items must be of one kind`);
    return entry as Record<string, unknown>;
  }) as Array<Record<string, unknown>>;

  if (detected === 'labelled') {
    const out = items.map((it, i): LabelledText => {
      const at = `${source}[${i}]`;
      const text = textField(it.text, at, 'text');
      const label = it.label;
      if (label === undefined || label === null) throw new Error(`${at}: missing label`);
      if (typeof label === 'number' && !Number.isFinite(label)) throw new Error(`${at}: label must be a finite number or a string (got ${label})`);
      if (typeof label !== 'number' && typeof label !== 'string') throw new Error(`${at}: label must be a string or a number (got ${typeof label})`);
      const l = String(label).trim();
      if (l === '') throw new Error(`${at}: missing label (empty string)`);
      return { text, label: l };
    });
    return finishLabelled(out, source);
  }
  if (detected === 'margins') {
    return {
      kind: 'margins',
      triples: items.map((it, i) => {
        const at = `${source}[${i}]`;
        const triple = { query: textField(it.query, at, 'query'), positive: textField(it.positive, at, 'positive'), negative: textField(it.negative, at, 'negative') };
        if (it.margin === undefined) throw new Error(`${at}: missing margin`);
        const margin = parseMargin(it.margin);
        if (typeof margin === 'string') throw new Error(`${at}: ${margin}`);
        return { ...triple, margin };
      }),
    };
  }
  if (detected === 'scored') {
    return {
      kind: 'scored',
      pairs: items.map((it, i) => {
        const at = `${source}[${i}]`;
        const a = textField(it.a, at, 'a');
        const b = textField(it.b, at, 'b');
        if (it.score === undefined) throw new Error(`${at}: missing score`);
        const score = parseScore(it.score);
        if (typeof score === 'string') throw new Error(`${at}: ${score}`);
        return { a, b, score };
      }),
    };
  }
  return finishPairs(
    items.map((it, i) => {
      const at = `${source}[${i}]`;
      const pair: TextPair = { query: textField(it.query, at, 'query'), document: textField(it.document, at, 'document') };
      if (it.negative !== undefined) pair.negative = textField(it.negative, at, 'negative');
      return pair;
    }),
  );
}

/** One entry point for fit(): a CSV path or an array, validated; `option` names it in errors. */
export async function readTextData(input: string | TextDataInput, option: string, kind: 'auto' | TextDataKind = 'auto'): Promise<TextData> {
  if (typeof input === 'string') return readTextCsv(input, { kind });
  if (Array.isArray(input)) return normalizeTextData(input, kind, { source: option });
  throw new TypeError(`option '${option}' must be a CSV file path or an array of ${SHAPES}`);
}
