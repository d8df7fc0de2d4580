// Builds an XLM-RoBERTa style tokenizer.json (SentencePiece Unigram, as the text tower of open_clip's
// xlm-roberta-base-ViT-B-32 uses) from a corpus, for tests and tiny random-init models: nothing can be
// downloaded here.
//
// Layout of the hub's FacebookAI/xlm-roberta-base tokenizer.json, with one simplification:
//   normalizer      XLM-R's is Precompiled (SentencePiece's nmt_nfkc charsmap, a binary blob: NFKC plus
//                   SentencePiece's own mappings of control and space characters). Here it is
//                   Sequence[NFKC, Replace {Regex "\\s+"} -> " ", Strip both sides], which is what that
//                   charsmap with SentencePiece's remove_extra_whitespaces amounts to for ordinary text.
//   pre_tokenizer   Metaspace {replacement "▁", add_prefix_space true} (the hub file's legacy key) and
//                   prepend_scheme "always", split true (the keys newer tokenizers versions write).
//   model           Unigram {unk_id 3, vocab [["<s>",0],["<pad>",0],["</s>",0],["<unk>",0], pieces...,
//                   ["<mask>",0]]}: the fairseq ids (<s> 0, <pad> 1, </s> 2, <unk> 3), <mask> last.
//   post_processor  TemplateProcessing single "<s> $A </s>", pair "<s> $A </s> </s> $B </s>".
//   added_tokens    <s>, <pad>, </s>, <unk>, <mask> (mask last, lstrip true), all special.
//   decoder         Metaspace, as the pre_tokenizer.
//
// buildUnigramPieces is a counting stand-in for SentencePiece's EM training: the most frequent whole
// words (with the "▁" word-start marker) and the single characters, scored with log-probabilities from
// counts. Characters are counted only in the words left out of the vocabulary (as a trained unigram model
// would see them), so a word in the vocabulary comes out as one piece and other words as characters.

import { writeFileAtomic } from '../../lib/atomicFile.js';

/** Special tokens in id order; <mask> comes after the pieces, as the last id. */
export const XLMR_SPECIAL_TOKENS = ['<s>', '<pad>', '</s>', '<unk>'] as const;
export const XLMR_MASK = '<mask>';
/** SentencePiece's word-start marker (U+2581). */
export const METASPACE = '\u2581';

export interface UnigramPieceOptions {
  /** Total vocabulary size, the 5 special tokens included; default 4000. */
  vocabSize?: number;
  /** A character must occur this often to get its own piece (rarer ones become <unk>); default 1. */
  minCharFrequency?: number;
}

/** The tokenizer.json normalizer, in JS: NFKC, whitespace runs to one space, trimmed. */
export function xlmrNormalize(text: string): string {
  return text.normalize('NFKC').replace(/\s+/gu, ' ').trim();
}

function byCountThenText(a: [string, number], b: [string, number]): number {
  return b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

/**
 * Unigram pieces ([piece, log-probability score], most probable first) counted from `texts`: whole
 * words as "▁word" and single characters (including "▁"). Deterministic.
 */
export function buildUnigramPieces(texts: Iterable<string>, options: UnigramPieceOptions = {}): Array<[string, number]> {
  const vocabSize = options.vocabSize ?? 4000;
  const minChar = options.minCharFrequency ?? 1;
  const reserved = XLMR_SPECIAL_TOKENS.length + 1;
  if (!Number.isInteger(vocabSize) || vocabSize < reserved + 1) {
    throw new Error(`vocabSize must be an integer above ${reserved} (the special tokens) (got ${vocabSize})`);
  }
  if (!Number.isInteger(minChar) || minChar < 1) throw new Error(`minCharFrequency must be a positive integer (got ${minChar})`);
  const words = new Map<string, number>();
  for (const text of texts) {
    if (typeof text !== 'string') throw new Error(`buildUnigramPieces: expected strings, got ${text === null ? 'null' : typeof text}`);
    const t = xlmrNormalize(text);
    if (t === '') continue;
    for (const w of t.split(' ')) words.set(METASPACE + w, (words.get(METASPACE + w) ?? 0) + 1);
  }
  const budget = vocabSize - reserved;
  const specials = new Set<string>([...XLMR_SPECIAL_TOKENS, XLMR_MASK]);

  // Characters first (at most half the budget, so whole words always get room), then whole words.
  const chars = new Map<string, number>();
  for (const [w, n] of words) for (const c of w) chars.set(c, (chars.get(c) ?? 0) + n);
  const keptChars = [...chars].filter(([, n]) => n >= minChar).sort(byCountThenText).slice(0, Math.max(1, Math.floor(budget / 2))).map(([c]) => c);
  const charSet = new Set(keptChars);
  const keptWords = [...words]
    .filter(([w]) => !charSet.has(w) && !specials.has(w))
    .sort(byCountThenText)
    .slice(0, budget - keptChars.length);
  const wordSet = new Set(keptWords.map(([w]) => w));

  // Character counts from the words left out, plus one (every kept character stays possible).
  const charCounts = new Map<string, number>(keptChars.map((c) => [c, 1]));
  for (const [w, n] of words) {
    if (wordSet.has(w)) continue;
    for (const c of w) if (charSet.has(c)) charCounts.set(c, charCounts.get(c)! + n);
  }
  const counted: Array<[string, number]> = [...keptWords, ...charCounts];
  const total = counted.reduce((s, [, n]) => s + n, 0);
  return counted.sort(byCountThenText).map(([p, n]) => [p, Math.log(n / total)]);
}

/** The tokenizer.json object of an XLM-RoBERTa Unigram tokenizer over `pieces` ([piece, score], no special tokens). */
export function xlmRobertaTokenizerJson(pieces: ReadonlyArray<readonly [string, number]>): Record<string, unknown> {
  const seen = new Set<string>([...XLMR_SPECIAL_TOKENS, XLMR_MASK]);
  pieces.forEach(([p, score], i) => {
    if (typeof p !== 'string' || p === '') throw new Error(`pieces[${i}]: a piece must be a non-empty string (got ${JSON.stringify(p)})`);
    if (typeof score !== 'number' || !Number.isFinite(score)) throw new Error(`pieces[${i}]: the score of ${JSON.stringify(p)} must be a finite number (got ${score})`);
    if (seen.has(p)) {
      throw new Error(`pieces[${i}]: ${JSON.stringify(p)} is ${specialsHave(p) ? 'a special token (they are added for you)' : 'listed twice'}`);
    }
    seen.add(p);
  });
  const maskId = XLMR_SPECIAL_TOKENS.length + pieces.length;
  const added = (id: number, content: string, lstrip = false) => ({ id, content, single_word: false, lstrip, rstrip: false, normalized: false, special: true });
  const metaspace = { replacement: METASPACE, add_prefix_space: true, prepend_scheme: 'always', split: true };
  const st = (id: string) => ({ SpecialToken: { id, type_id: 0 } });
  const seq = (id: 'A' | 'B') => ({ Sequence: { id, type_id: 0 } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...XLMR_SPECIAL_TOKENS.map((t, i) => added(i, t)), added(maskId, XLMR_MASK, true)],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFKC' },
        { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
        { type: 'Strip', strip_left: true, strip_right: true },
      ],
    },
    pre_tokenizer: { type: 'Metaspace', ...metaspace },
    post_processor: {
      type: 'TemplateProcessing',
      single: [st('<s>'), seq('A'), st('</s>')],
      pair: [st('<s>'), seq('A'), st('</s>'), st('</s>'), seq('B'), st('</s>')],
      special_tokens: {
        '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] },
        '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] },
      },
    },
    decoder: { type: 'Metaspace', ...metaspace },
    model: {
      type: 'Unigram',
      unk_id: 3,
      vocab: [...XLMR_SPECIAL_TOKENS.map((t) => [t, 0]), ...pieces.map(([p, s]) => [p, s]), [XLMR_MASK, 0]],
      byte_fallback: false,
    },
  };
}

function specialsHave(p: string): boolean {
  return (XLMR_SPECIAL_TOKENS as readonly string[]).includes(p) || p === XLMR_MASK;
}

/** Counts pieces from `texts` and writes an XLM-R tokenizer.json to `file` (atomically). Resolves to the pieces. */
export async function writeXlmRobertaTokenizer(file: string, texts: Iterable<string>, options: UnigramPieceOptions = {}): Promise<Array<[string, number]>> {
  const pieces = buildUnigramPieces(texts, options);
  await writeFileAtomic(file, JSON.stringify(xlmRobertaTokenizerJson(pieces)));
  return pieces;
}
