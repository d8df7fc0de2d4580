import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captionFor } from '../examples/data/fashionCaptions.js';
import { CLIP_END, CLIP_START, clipTokenizerJson, clipVocab, clipWords, trainClipBpe, writeClipTokenizer } from '../examples/tokenizers/clipBpe.js';
import { TextTokenizer } from '../lib/text/tokenizer.js';
import { buildUnigramPieces, METASPACE, writeXlmRobertaTokenizer, xlmRobertaTokenizerJson } from '../examples/tokenizers/unigram.js';
import { random } from './helpers/fixtures.js';

let dir: string;
let clip: TextTokenizer;
let xlmr: TextTokenizer;
const rand = random(7);
const captions = Array.from({ length: 400 }, (_, i) => captionFor(i % 10, rand));
const WORDS_TEXT = 'the quick brown fox jumps over the lazy dog while a photo of a red dress hangs on the wall';
const corpus = [...captions, WORDS_TEXT, WORDS_TEXT];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetuner-clip-tokenizer-test-'));
  // Large enough that training stops only when every corpus word is one token.
  await writeClipTokenizer(join(dir, 'clip.json'), corpus, { vocabSize: 3000, minFrequency: 1 });
  clip = await TextTokenizer.fromFile(join(dir, 'clip.json'), { maxLength: 77 });
  await writeXlmRobertaTokenizer(join(dir, 'xlmr.json'), corpus, { vocabSize: 400 });
  xlmr = await TextTokenizer.fromFile(join(dir, 'xlmr.json'), { maxLength: 77 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ids = (t: TextTokenizer, text: string): number[] => Array.from(t.encode([text]).ids[0]!);

describe('CLIP byte-level BPE', () => {
  it('learns the merges and ids of a small corpus (hand-computed)', () => {
    // Words: "ab" x3 = [a, b</w>], "abc" x1 = [a, b, c</w>]. Pair counts: (a b</w>) 3, (a b) 1, (b c</w>) 1:
    // merge "a b</w>"; then (a b) and (b c</w>) tie at 1 and "a b" sorts first; then (ab c</w>).
    const model = trainClipBpe(['ab ab ab', 'abc'], { vocabSize: 517, minFrequency: 1 });
    expect(model.merges).toEqual([['a', 'b</w>'], ['a', 'b'], ['ab', 'c</w>']]);
    // bytes_to_unicode order: bytes 33-126 are ids 0-93 (a = 97 -> 64, c -> 66, 7 = 55 -> 22), 161-172 ids
    // 94-105 (0xA9 -> 102), 174-255 ids 106-187 (0xC3 -> 127), then bytes 0-32 as U+0100... (space = U+0120).
    // +256 for the same symbol with </w>; merges from 512; the two specials last.
    expect(model.vocab.length).toBe(517);
    expect(model.vocab.slice(0, 1)).toEqual(['!']);
    expect(model.vocab[64]).toBe('a');
    expect(model.vocab[188]).toBe('\u0100');
    expect(model.vocab[220]).toBe('\u0120');
    expect(model.vocab.slice(512)).toEqual(['ab</w>', 'ab', 'abc</w>', CLIP_START, CLIP_END]);

    const t = TextTokenizer.fromJson(clipTokenizerJson(model), { maxLength: 77 });
    // "AB abc ca a7 é": ab</w> | ab c</w> -> abc</w> | c a</w> (no merge) | a</w> 7</w> | é = bytes C3 A9.
    expect(ids(t, 'AB abc ca a7 é')).toEqual([515, 512, 514, 66, 320, 320, 278, 127, 358, 516]);
    expect(t.padTokenId).toBe(0);
    expect(t.maxTokenId).toBe(516);
  });

  it('writes the layout of the hub CLIP tokenizer.json', async () => {
    const json = JSON.parse(await readFile(join(dir, 'clip.json'), 'utf8'));
    const n = Object.keys(json.model.vocab).length;
    expect(json.normalizer).toEqual({
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    });
    expect(json.pre_tokenizer.pretokenizers[0]).toEqual({
      type: 'Split',
      pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
      behavior: 'Removed',
      invert: true,
    });
    expect(json.pre_tokenizer.pretokenizers[1]).toMatchObject({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true });
    expect(json.post_processor).toEqual({
      type: 'RobertaProcessing', sep: [CLIP_END, n - 1], cls: [CLIP_START, n - 2], trim_offsets: false, add_prefix_space: false,
    });
    expect(json.model).toMatchObject({ type: 'BPE', dropout: null, unk_token: CLIP_END, continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false });
    expect(json.added_tokens.map((a: { id: number; content: string; special: boolean }) => [a.id, a.content, a.special])).toEqual([
      [n - 2, CLIP_START, true],
      [n - 1, CLIP_END, true],
    ]);
    expect(json.decoder.type).toBe('ByteLevel');
  });

  it('lowercases and puts <|startoftext|> first and <|endoftext|> (the largest id) last', () => {
    const a = ids(clip, 'A Black and White PHOTO of a Dress');
    expect(a).toEqual(ids(clip, 'a black and white photo of a dress'));
    expect(a[0]).toBe(clip.tokenToId(CLIP_START));
    expect(a.at(-1)).toBe(clip.tokenToId(CLIP_END));
    expect(clip.tokenToId(CLIP_END)).toBe(clip.maxTokenId);
    expect(clip.tokenToId(CLIP_START)).toBe(clip.maxTokenId - 1);
    expect(clip.padTokenId).toBe(0);
    expect([clip.specialPrefix, clip.specialSuffix]).toEqual([1, 1]);
  });

  it('makes every word of the corpus a single token', () => {
    const words = new Set(corpus.flatMap(clipWords));
    expect(words.size).toBeGreaterThan(30);
    for (const w of words) expect(clip.tokens(ids(clip, w))).toEqual([CLIP_START, `${w}</w>`, CLIP_END]);
  });

  it('round-trips non-ASCII text (accents, CJK, emoji) through decode', () => {
    for (const text of ['café naïve façade', '東京 の 写真', 'a dress 🙂 👗', 'ñandú über 7']) {
      const row = ids(clip, text);
      expect(clip.decode(row)).toBe(text);
    }
    // NFC: a decomposed é is the same token sequence as the composed one.
    expect(ids(clip, 'cafe\u0301')).toEqual(ids(clip, 'café'));
  });

  it('truncates a long text to exactly 77 tokens, keeping <|endoftext|> last', () => {
    const long = Array.from({ length: 120 }, (_, i) => captions[i % captions.length]).join(' ');
    const { ids: rows, truncated } = clip.encode([long]);
    expect(truncated).toBe(1);
    expect(rows[0]!.length).toBe(77);
    expect(rows[0]![0]).toBe(clip.tokenToId(CLIP_START));
    expect(rows[0]![76]).toBe(clip.tokenToId(CLIP_END));
  });

  it('rejects a vocabulary smaller than the byte tokens and merges of unknown tokens', () => {
    expect(() => trainClipBpe(['a'], { vocabSize: 100 })).toThrow(/at least 514/);
    expect(() => clipVocab([['ab', 'c']])).toThrow(/merge "ab c"/);
  });
});

describe('XLM-RoBERTa Unigram', () => {
  it('encodes <s> ... </s> with hand-made pieces (hand-computed Viterbi)', () => {
    const t = TextTokenizer.fromJson(
      xlmRobertaTokenizerJson([[`${METASPACE}a`, -1], [`${METASPACE}b`, -2], ['a', -3], ['b', -3], [METASPACE, -4]]),
      { maxLength: 77 },
    );
    // ids: <s> 0, <pad> 1, </s> 2, <unk> 3, ▁a 4, ▁b 5, a 6, b 7, ▁ 8, <mask> 9.
    // "a b ab" -> "▁a▁b▁ab"; "▁ab" is ▁a + b (-4) rather than ▁ + a + b (-10).
    expect(ids(t, 'a b ab')).toEqual([0, 4, 5, 4, 7, 2]);
    expect(t.padTokenId).toBe(1);
    expect(t.tokenToId('<mask>')).toBe(9);
    expect(t.maxTokenId).toBe(9);
    // "c" is unknown: ▁ then <unk>.
    expect(ids(t, 'c')).toEqual([0, 8, 3, 2]);
  });

  it('reads the built tokenizer: <s> first, </s> last, pad 1, unknown characters -> <unk>', () => {
    expect(xlmr.padTokenId).toBe(1);
    expect([xlmr.specialPrefix, xlmr.specialSuffix]).toEqual([1, 1]);
    // Every word and character of the small corpus fits in 400: the vocabulary is smaller, <mask> last.
    expect(xlmr.vocabSize).toBeLessThan(400);
    expect(xlmr.tokenToId('<mask>')).toBe(xlmr.vocabSize - 1);
    const row = ids(xlmr, 'a photo of a dress');
    expect(xlmr.tokens(row)).toEqual(['<s>', '▁a', '▁photo', '▁of', '▁a', '▁dress', '</s>']);
    const unknown = ids(xlmr, 'dress 東京');
    expect(unknown[0]).toBe(0);
    expect(unknown.at(-1)).toBe(2);
    expect(unknown).toContain(3);
    expect(xlmr.tokens(unknown)).toContain('<unk>');
  });

  it('truncation keeps </s> last', () => {
    const long = captions.slice(0, 60).join(' ');
    const row = xlmr.encode([long], { maxLength: 16 }).ids[0]!;
    expect(row.length).toBe(16);
    expect(row[0]).toBe(0);
    expect(row[15]).toBe(2);
  });

  it('checks pieces', () => {
    expect(() => xlmRobertaTokenizerJson([['<pad>', -1]])).toThrow(/special token/);
    expect(() => xlmRobertaTokenizerJson([['x', -1], ['x', -2]])).toThrow(/listed twice/);
    expect(() => xlmRobertaTokenizerJson([['x', Number.NaN]])).toThrow(/finite/);
    expect(buildUnigramPieces(['b a a'], { vocabSize: 20 }).map(([p]) => p).sort()).toEqual(['a', 'b', '▁', '▁a', '▁b']);
    // The budget: at most half to characters (the most frequent: ▁ 3, a 2), the rest to whole words.
    expect(buildUnigramPieces(['b a a'], { vocabSize: 10 }).map(([p]) => p).sort()).toEqual(['a', '▁', '▁a', '▁b']);
    expect(() => buildUnigramPieces(['a'], { vocabSize: 5 })).toThrow(/vocabSize/);
  });
});

// The Rust `tokenizers` binding is the reference implementation; it is not a dependency (64 MB), so this
// runs where it is installed, as in test/tokenizer.test.ts.
const hasRust = (() => {
  try {
    createRequire(import.meta.url).resolve('tokenizers');
    return true;
  } catch {
    return false;
  }
})();
it.skipIf(!hasRust)('gives the same ids as the Rust tokenizers library (CLIP and XLM-R, truncated to 77)', async () => {
  const rust = (await import('tokenizers' as string)) as {
    Tokenizer: { fromFile(f: string): { encodeBatch(t: string[]): Promise<Array<{ getIds(): number[] }>>; setTruncation(n: number): void } };
  };
  const texts = captions.slice(0, 200).concat([
    'Café au lait, naïve résumé — Ångström’s “façade”!',
    '我爱自然语言处理 and 日本語 한국어',
    'emoji 🙂 family 👨‍👩‍👧 flag 🇫🇷',
    "It's DON'T we'll I'd 123 4.5 a<|endoftext|>b",
    '  leading and\ttrailing  ',
    captions.slice(0, 40).join(' '),
  ]);
  for (const [file, ours] of [[join(dir, 'clip.json'), clip], [join(dir, 'xlmr.json'), xlmr]] as const) {
    const r = rust.Tokenizer.fromFile(file);
    r.setTruncation(77);
    const expected = (await r.encodeBatch(texts)).map((e) => e.getIds());
    expect(ours.encode(texts).ids.map((a) => Array.from(a))).toEqual(expected);
  }
});

it('writes atomically: no temporary file is left beside the tokenizer', async () => {
  const sub = await mkdtemp(join(dir, 'atomic-'));
  await writeFile(join(sub, 'tokenizer.json'), 'old');
  await writeClipTokenizer(join(sub, 'tokenizer.json'), ['a b'], { vocabSize: 520 });
  const { readdir } = await import('node:fs/promises');
  expect(await readdir(sub)).toEqual(['tokenizer.json']);
  expect(JSON.parse(await readFile(join(sub, 'tokenizer.json'), 'utf8')).model.type).toBe('BPE');
});
