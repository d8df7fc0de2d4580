// Builds a BERT-style WordPiece tokenizer.json from a corpus, in the format the Hugging Face tokenizers
// library reads and writes (BertNormalizer, BertPreTokenizer, WordPiece model, `[CLS] $A [SEP]`
// TemplateProcessing, WordPiece decoder). Nothing can be downloaded here, so tests, the tokenizer
// benchmark and the text demo build their vocabulary from the text they train on (WordNet glosses).
//
// The vocabulary is built by counting, not by the WordPiece likelihood training of the original: the
// special tokens, every character seen (alone and as a ##continuation), the most frequent whole words,
// then the most frequent word endings as ##subwords. Greedy longest-match WordPiece then splits any
// word made of known characters, which is all a test or a small demo model needs.

import { writeFile } from 'node:fs/promises';

/** Special tokens, in id order: [PAD] is 0 so zero-filled id tensors are padding. */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

export interface WordPieceVocabOptions {
  /** Total number of tokens, special tokens included; default 4000. */
  vocabSize?: number;
  /** Lowercase and strip accents, as uncased BERT does; default true. */
  lowercase?: boolean;
  /** A character must occur this often to get its own token; rarer ones become [UNK]. Default 2. */
  minCharFrequency?: number;
  /** Share of the non-character budget given to whole words (the rest to ##endings); default 0.75. */
  wordShare?: number;
}

export interface BertTokenizerJsonOptions {
  /** BertNormalizer's lowercase (and, following it, strip_accents); default true. */
  lowercase?: boolean;
  /** WordPiece max_input_chars_per_word: longer words become [UNK]; default 100. */
  maxInputCharsPerWord?: number;
}

const CJK = /[\u4E00-\u9FFF\u3400-\u4DBF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\uF900-\uFAFF\u{2F800}-\u{2FA1F}]/u;
// BertPreTokenizer: split on whitespace, and isolate every punctuation character (Unicode P*, and the
// ASCII symbols BERT counts as punctuation).
const WORDS = /[!-/:-@[-`{-~]|\p{P}|[^\s!-/:-@[-`{-~\p{P}]+/gu;

/** Approximates BertNormalizer + BertPreTokenizer (close enough to count words for a vocabulary). */
export function bertWords(text: string, lowercase = true): string[] {
  let t = text.replace(/[\u0000\uFFFD\p{Cc}\p{Cf}]/gu, (c) => (/\s/.test(c) ? ' ' : ''));
  t = [...t].map((c) => (CJK.test(c) ? ` ${c} ` : c)).join('');
  if (lowercase) t = t.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
  return t.match(WORDS) ?? [];
}

function topByCount(counts: Map<string, number>, n: number, skip: Set<string>): string[] {
  const out: string[] = [];
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [token] of sorted) {
    if (out.length >= n) break;
    if (!skip.has(token)) out.push(token);
  }
  return out;
}

/** A WordPiece vocabulary (token strings in id order) counted from `texts`. Deterministic. */
export function buildWordPieceVocab(texts: Iterable<string>, options: WordPieceVocabOptions = {}): string[] {
  const vocabSize = options.vocabSize ?? 4000;
  const lowercase = options.lowercase ?? true;
  const minChar = options.minCharFrequency ?? 2;
  const wordShare = options.wordShare ?? 0.75;
  if (!Number.isInteger(vocabSize) || vocabSize < SPECIAL_TOKENS.length + 1) {
    throw new Error(`vocabSize must be an integer above ${SPECIAL_TOKENS.length} (got ${vocabSize})`);
  }
  const words = new Map<string, number>();
  const chars = new Map<string, number>();
  for (const text of texts) {
    for (const w of bertWords(text, lowercase)) {
      words.set(w, (words.get(w) ?? 0) + 1);
      for (const c of w) chars.set(c, (chars.get(c) ?? 0) + 1);
    }
  }
  const vocab: string[] = [...SPECIAL_TOKENS];
  const have = new Set<string>(vocab);
  const add = (t: string): void => {
    if (vocab.length < vocabSize && !have.has(t)) {
      vocab.push(t);
      have.add(t);
    }
  };
  const keptChars = topByCount(chars, Infinity, have).filter((c) => chars.get(c)! >= minChar);
  const charBudget = Math.floor((vocabSize - vocab.length) / 2);
  for (const c of keptChars.slice(0, charBudget)) add(c);
  for (const c of keptChars.slice(0, charBudget)) if (!CJK.test(c) && !/\p{P}/u.test(c)) add(`##${c}`);

  const rest = vocabSize - vocab.length;
  const wholeWords = topByCount(words, Math.floor(rest * wordShare), have);
  for (const w of wholeWords) add(w);
  // Endings of the words left out, weighted by how often those words occur.
  const endings = new Map<string, number>();
  for (const [w, n] of words) {
    if (have.has(w) || w.length < 4) continue;
    const cs = [...w];
    for (let len = 2; len <= Math.min(6, cs.length - 2); len++) {
      const e = `##${cs.slice(cs.length - len).join('')}`;
      endings.set(e, (endings.get(e) ?? 0) + n);
    }
  }
  for (const e of topByCount(endings, vocabSize - vocab.length, have)) add(e);
  // Stems of the left-out words fill whatever budget remains.
  if (vocab.length < vocabSize) {
    const stems = new Map<string, number>();
    for (const [w, n] of words) {
      if (have.has(w) || w.length < 5) continue;
      const cs = [...w];
      for (let len = 3; len <= Math.min(7, cs.length - 1); len++) {
        const s = cs.slice(0, len).join('');
        stems.set(s, (stems.get(s) ?? 0) + n);
      }
    }
    for (const s of topByCount(stems, vocabSize - vocab.length, have)) add(s);
  }
  return vocab;
}

/** The tokenizer.json object of a BERT WordPiece tokenizer over `vocab` (special tokens must be in it). */
export function bertTokenizerJson(vocab: readonly string[], options: BertTokenizerJsonOptions = {}): Record<string, unknown> {
  const lowercase = options.lowercase ?? true;
  const ids = new Map<string, number>();
  vocab.forEach((t, i) => {
    if (ids.has(t)) throw new Error(`vocabulary: token ${JSON.stringify(t)} appears twice (ids ${ids.get(t)} and ${i})`);
    ids.set(t, i);
  });
  for (const t of SPECIAL_TOKENS) if (!ids.has(t)) throw new Error(`vocabulary: missing special token ${t}`);
  const special = (t: string) => ({ id: ids.get(t)!, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const st = (t: string, typeId: number) => ({ SpecialToken: { id: t, type_id: typeId } });
  const seq = (s: 'A' | 'B', typeId: number) => ({ Sequence: { id: s, type_id: typeId } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [st('[CLS]', 0), seq('A', 0), st('[SEP]', 0)],
      pair: [st('[CLS]', 0), seq('A', 0), st('[SEP]', 0), seq('B', 1), st('[SEP]', 1)],
      special_tokens: Object.fromEntries(
        ['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [ids.get(t)!], tokens: [t] }]),
      ),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: options.maxInputCharsPerWord ?? 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
}

/**
 * Counts a WordPiece vocabulary from `texts` and writes a BERT tokenizer.json to `file`. Resolves to the
 * vocabulary (token strings in id order).
 */
export async function writeBertTokenizer(
  file: string,
  texts: Iterable<string>,
  options: WordPieceVocabOptions & BertTokenizerJsonOptions = {},
): Promise<string[]> {
  const vocab = buildWordPieceVocab(texts, options);
  await writeFile(file, JSON.stringify(bertTokenizerJson(vocab, options)));
  return vocab;
}
