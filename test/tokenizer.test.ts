import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWordnetPairs } from '../examples/data/wordnet.js';
import { lengthSortedBatches, restoreOrder, scatterRows } from '../lib/text/batching.js';
import { checkVocabularyFits, DEFAULT_MAX_LENGTH, TextTokenizer } from '../lib/text/tokenizer.js';
import { bertTokenizerJson, bertWords, buildWordPieceVocab, SPECIAL_TOKENS, writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';

// A hand-made vocabulary, so the expected ids can be worked out by hand.
const VOCAB = [
  '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', // 0-4
  'the', 'dog', 'cat', 'run', '##s', '##ning', '.', ',', '!', 'hello', // 5-14
  'world', 'cafe', 'a', '##b', 'big', 'The', 'Dog', '中', "'", 'don', 't', // 15-25
];
const [PAD, UNK, CLS, SEP] = [0, 1, 2, 3];

let dir: string;
let uncased: TextTokenizer;
let cased: TextTokenizer;
let uncasedFile: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetuner-tokenizer-test-'));
  uncasedFile = join(dir, 'uncased.json');
  await writeFile(uncasedFile, JSON.stringify(bertTokenizerJson(VOCAB, { lowercase: true })));
  await writeFile(join(dir, 'cased.json'), JSON.stringify(bertTokenizerJson(VOCAB, { lowercase: false })));
  uncased = await TextTokenizer.fromFile(uncasedFile);
  cased = await TextTokenizer.fromFile(join(dir, 'cased.json'), { maxLength: 64 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function rowsOf(batch: { inputIds: Int32Array; rows: number; length: number }): number[][] {
  return Array.from({ length: batch.rows }, (_, r) => Array.from(batch.inputIds.subarray(r * batch.length, (r + 1) * batch.length)));
}

describe('TextTokenizer', () => {
  it('reads vocabulary size, pad id, special-token layout and default max length', () => {
    expect(uncased.vocabSize).toBe(VOCAB.length);
    expect(uncased.maxTokenId).toBe(VOCAB.length - 1);
    expect(uncased.padTokenId).toBe(PAD);
    expect(uncased.specialPrefix).toBe(1);
    expect(uncased.specialSuffix).toBe(1);
    expect(uncased.maxLength).toBe(DEFAULT_MAX_LENGTH);
    expect(cased.maxLength).toBe(64);
  });

  it('puts [CLS] first and [SEP] last, with WordPiece subwords (hand-computed ids, uncased)', () => {
    const b = uncased.encodeBatch(['The Dog runs.', 'Running', 'Café!', '中文', "don't", 'hello 🙂', 'abb']);
    const rows = rowsOf(b).map((r) => r.filter((_, k) => k < 8));
    const lengths = Array.from(b.lengths);
    const ids = rows.map((r, i) => r.slice(0, lengths[i]));
    expect(ids).toEqual([
      [CLS, 5, 6, 8, 9, 11, SEP],
      [CLS, 8, 10, SEP],
      [CLS, 16, 13, SEP], // lowercased and accent stripped: cafe !
      [CLS, 22, UNK, SEP], // each Chinese character is a word
      [CLS, 24, 23, 25, SEP],
      [CLS, 14, UNK, SEP],
      [CLS, 17, 18, 18, SEP],
    ]);
    expect(uncased.tokens(ids[0]!)).toEqual(['[CLS]', 'the', 'dog', 'run', '##s', '.', '[SEP]']);
  });

  it('keeps case and accents when the tokenizer is cased', () => {
    const b = cased.encodeBatch(['The Dog runs.', 'Running', 'Café!']);
    const rows = rowsOf(b).map((r, i) => r.slice(0, b.lengths[i]));
    expect(rows).toEqual([
      [CLS, 20, 21, 8, 9, 11, SEP],
      [CLS, UNK, SEP],
      [CLS, UNK, 13, SEP],
    ]);
  });

  it('pads to the longest text of the batch, not to maxLength, with flat row-major Int32Arrays', () => {
    const b = uncased.encodeBatch(['hello', 'the big dog runs']);
    expect(b.rows).toBe(2);
    expect(b.length).toBe(7);
    expect(b.inputIds).toBeInstanceOf(Int32Array);
    expect(b.inputIds.length).toBe(14);
    expect(rowsOf(b)).toEqual([
      [CLS, 14, SEP, PAD, PAD, PAD, PAD],
      [CLS, 5, 19, 6, 8, 9, SEP],
    ]);
    expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(b.tokenTypeIds)).toEqual(new Array(14).fill(0));
    expect(Array.from(b.lengths)).toEqual([3, 7]);
    expect(b.truncated).toBe(0);
  });

  it('truncates to maxLength keeping [SEP] last, and counts the truncated texts', () => {
    const b = uncased.encodeBatch(['the big dog runs', 'hello', 'the cat'], { maxLength: 4 });
    expect(b.length).toBe(4);
    expect(rowsOf(b)).toEqual([
      [CLS, 5, 19, SEP],
      [CLS, 14, SEP, PAD],
      [CLS, 5, 7, SEP],
    ]);
    expect(b.truncated).toBe(1);
    const t = uncased.encode(['the big dog runs', 'hello'], { maxLength: 3 });
    expect(Array.from(t.truncatedMask)).toEqual([1, 0]);
    expect(() => uncased.encodeBatch(['hello'], { maxLength: 2 })).toThrow(/option `maxLength` must be an integer of at least 3/);
  });

  it('uses the truncation max_length of tokenizer.json as the default', async () => {
    const file = join(dir, 'with-truncation.json');
    await writeFile(file, JSON.stringify({ ...bertTokenizerJson(VOCAB), truncation: { max_length: 5, strategy: 'LongestFirst', stride: 0 } }));
    const t = await TextTokenizer.fromFile(file);
    expect(t.maxLength).toBe(5);
    expect(t.encodeBatch(['the big dog runs']).length).toBe(5);
  });

  it('collates any subset of tokenized texts in the order given', () => {
    const tok = uncased.encode(['hello', 'the big dog runs', 'the cat'], { maxLength: 5 });
    const b = uncased.collate(tok, [2, 0]);
    expect(b.rows).toBe(2);
    expect(rowsOf(b)).toEqual([
      [CLS, 5, 7, SEP],
      [CLS, 14, SEP, PAD],
    ]);
    expect(b.truncated).toBe(0);
    expect(uncased.collate(tok, [1]).truncated).toBe(1);
  });

  it('rejects empty, whitespace-only and non-string texts, naming the index', () => {
    expect(() => uncased.encodeBatch(['hello', ''])).toThrow(/texts\[1\]: empty text \(an empty string\)/);
    expect(() => uncased.encodeBatch([' \t\n'], { source: 'queries' })).toThrow(/queries\[0\]: empty text \(only whitespace\)/);
    expect(() => uncased.encodeBatch(['a', 'b', 3 as unknown as string])).toThrow(/texts\[2\]: expected a string, got number/);
    expect(() => uncased.encodeBatch('hello' as unknown as string[])).toThrow(/texts must be an array/);
  });

  it('errors on a missing tokenizer.json, naming the file', async () => {
    const missing = join(dir, 'nope', 'tokenizer.json');
    await expect(TextTokenizer.fromFile(missing)).rejects.toThrow(`Cannot read tokenizer.json ${missing}: file not found`);
    const modelDir = join(dir, 'model-without-tokenizer');
    await mkdir(modelDir);
    await expect(TextTokenizer.fromFile(modelDir)).rejects.toThrow(`Cannot read tokenizer.json ${join(modelDir, 'tokenizer.json')}: file not found`);
  });

  it('reads tokenizer.json from a model directory', async () => {
    const modelDir = join(dir, 'model');
    await mkdir(modelDir);
    await writeFile(join(modelDir, 'tokenizer.json'), JSON.stringify(bertTokenizerJson(VOCAB)));
    await writeFile(join(modelDir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 128 }));
    const t = await TextTokenizer.fromFile(modelDir);
    expect(t.file).toBe(join(modelDir, 'tokenizer.json'));
    expect(t.maxLength).toBe(128);
  });

  it('errors on a file that is not a tokenizer.json', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"vocab": {"a": 0}}');
    await expect(TextTokenizer.fromFile(bad)).rejects.toThrow(`${bad}: not a tokenizer.json: no "model" section`);
    await writeFile(bad, 'not json at all');
    await expect(TextTokenizer.fromFile(bad)).rejects.toThrow(`${bad}: not a tokenizer.json: invalid JSON`);
    await writeFile(bad, '[1, 2]');
    await expect(TextTokenizer.fromFile(bad)).rejects.toThrow(`${bad}: not a tokenizer.json: expected a JSON object, got an array`);
  });

  it('checks that the vocabulary fits the model embedding table', () => {
    expect(() => checkVocabularyFits(uncased, VOCAB.length, 'models/bert/model.pt')).not.toThrow();
    expect(() => checkVocabularyFits(uncased, 20, 'models/bert/model.pt')).toThrow(
      `${uncasedFile} does not fit the model models/bert/model.pt: the tokenizer's vocabulary has 26 tokens with ids up to 25, ` +
        "but the model's embedding table has only 20 rows",
    );
  });
});

describe('WordPiece vocabulary from WordNet', () => {
  let glosses: string[];
  beforeAll(async () => {
    glosses = (await readWordnetPairs({ pos: ['noun', 'verb'], seed: 3, limit: 3000 })).map((p) => p.query);
  });

  it('builds a deterministic vocabulary with the special tokens first', () => {
    const vocab = buildWordPieceVocab(glosses, { vocabSize: 2000 });
    expect(vocab.length).toBe(2000);
    expect(vocab.slice(0, 5)).toEqual([...SPECIAL_TOKENS]);
    expect(new Set(vocab).size).toBe(vocab.length);
    expect(vocab.some((t) => t.startsWith('##') && t.length > 3)).toBe(true);
    expect(buildWordPieceVocab(glosses, { vocabSize: 2000 })).toEqual(vocab);
    expect(bertWords('Café, naïve 中文!')).toEqual(['cafe', ',', 'naive', '中', '文', '!']);
  });

  it('tokenizes glosses with few unknown tokens', async () => {
    const file = join(dir, 'wordnet.json');
    await writeBertTokenizer(file, glosses, { vocabSize: 3000 });
    const t = await TextTokenizer.fromFile(file, { maxLength: 32 });
    const b = t.encodeBatch(glosses.slice(0, 500));
    let unk = 0;
    for (let k = 0; k < b.inputIds.length; k++) if (b.attentionMask[k] && b.inputIds[k] === UNK) unk++;
    const real = b.attentionMask.reduce((s, m) => s + m, 0);
    expect(unk / real).toBeLessThan(0.01);
    expect(b.length).toBe(32);
    expect(b.truncated).toBeGreaterThan(0);
    expect(t.decode(b.inputIds.subarray(0, b.lengths[0]))).toBe(t.decode(t.encode([glosses[0]!]).ids[0]!));
  });

  // The Rust `tokenizers` binding is the reference implementation; it is not a dependency (64 MB), so
  // this runs where it is installed (npm install --no-save tokenizers), as scripts/bench-tokenizers.mjs does.
  const hasRust = (() => {
    try {
      createRequire(import.meta.url).resolve('tokenizers');
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!hasRust)('gives the same ids as the Rust tokenizers library, cased and uncased, truncated or not', async () => {
    const rust = (await import('tokenizers' as string)) as {
      Tokenizer: {
        fromFile(f: string): {
          encodeBatch(t: string[]): Promise<Array<{ getIds(): number[] }>>;
          setTruncation(n: number): void;
        };
      };
    };
    const texts = glosses.slice(0, 1000).concat([
      'Café au lait, naïve résumé — Ångström’s “façade”!',
      '我爱自然语言处理 and 日本語 한국어',
      'emoji 🙂 family 👨‍👩‍👧 flag 🇫🇷',
      'tabs\tand\nnewlines  control\u0007 zero\u200bwidth',
      glosses.slice(0, 30).join(' '),
    ]);
    for (const lowercase of [true, false]) {
      const file = join(dir, `rust-${lowercase}.json`);
      await writeBertTokenizer(file, glosses, { vocabSize: 3000, lowercase });
      const ours = await TextTokenizer.fromFile(file, { maxLength: 48 });
      const r = rust.Tokenizer.fromFile(file);
      r.setTruncation(48);
      const expected = (await r.encodeBatch(texts)).map((e) => e.getIds());
      expect(ours.encode(texts).ids.map((a) => Array.from(a))).toEqual(expected);
    }
  });
});

describe('length-sorted batching', () => {
  it('sorts indices by length, longest first, ties in input order, and chunks them', () => {
    expect(lengthSortedBatches([3, 9, 5, 9, 1], 2)).toEqual([[1, 3], [2, 0], [4]]);
    expect(lengthSortedBatches([3, 9, 5, 9, 1], 3, 'ascending')).toEqual([[4, 0, 2], [1, 3]]);
    expect(lengthSortedBatches([], 4)).toEqual([]);
    expect(() => lengthSortedBatches([1], 0)).toThrow(/batchSize/);
  });

  it('restores the caller order after encoding in length-sorted batches', () => {
    const texts = ['the big dog runs', 'hello', 'the cat', 'a', 'hello world', 'the dog runs .'];
    const tok = uncased.encode(texts);
    const batches = lengthSortedBatches(tok.ids.map((r) => r.length), 4);
    // Each batch's "embedding" is [first real token, length] per row.
    const dim = 2;
    const out = new Float32Array(texts.length * dim);
    const perBatch: number[][] = [];
    for (const idx of batches) {
      const b = uncased.collate(tok, idx);
      expect(b.length).toBe(Math.max(...idx.map((i) => tok.ids[i]!.length)));
      const emb = new Float32Array(b.rows * dim);
      for (let r = 0; r < b.rows; r++) emb.set([b.inputIds[r * b.length + 1]!, b.lengths[r]!], r * dim);
      scatterRows(out, emb, idx, dim);
      perBatch.push(Array.from(b.lengths));
    }
    const direct = uncased.encodeBatch(texts);
    for (let i = 0; i < texts.length; i++) {
      expect([out[i * dim], out[i * dim + 1]]).toEqual([direct.inputIds[i * direct.length + 1], direct.lengths[i]]);
    }
    expect(restoreOrder(perBatch, batches)).toEqual(Array.from(direct.lengths));
    expect(() => scatterRows(out, new Float32Array(3), [0], dim)).toThrow(/expected 1 rows x 2/);
    expect(() => restoreOrder([[1]], [[0, 1]])).toThrow(/batch 0 has 1 results for 2 inputs/);
  });
});
