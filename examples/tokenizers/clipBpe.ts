// Builds a CLIP byte-level BPE tokenizer.json from a corpus, in the layout of Hugging Face's
// openai/clip-vit-base-patch32 tokenizer.json, so that the CLIP text tower of a random-init or tiny test
// model gets a tokenizer that behaves like the real one (lowercased, `<|startoftext|> ... <|endoftext|>`,
// end-of-text the largest id, 77 tokens at most with the model's maxLength). Nothing can be downloaded
// here, so tests and the text-to-image demo learn their merges from the captions they train on.
//
// Merges are learned the way OpenAI's CLIP vocabulary was (classic word-level BPE, Sennrich et al.):
// the text is normalised (NFC, whitespace runs to one space, lowercase) and split into words with CLIP's
// regex; each word becomes its UTF-8 bytes, each byte a printable symbol through GPT-2's
// bytes_to_unicode, and the last symbol of the word carries the suffix `</w>`; then the most frequent
// adjacent pair (words weighted by their count) is merged, again and again. Ties go to the pair whose
// "left right" string sorts first, so training is deterministic.
//
// Layout, as confirmed in public sources (search tool, 2025):
//   - normalizer Sequence[NFC, Replace {Regex "\\s+"} -> " ", Lowercase], pre_tokenizer
//     Sequence[Split {Regex <CLIP's pattern with the two specials first>, behavior "Removed", invert true},
//     ByteLevel {add_prefix_space false, trim_offsets true}] and post_processor RobertaProcessing
//     {sep ["<|endoftext|>", 49407], cls ["<|startoftext|>", 49406], trim_offsets false,
//     add_prefix_space false}: byte for byte the JSON that a fixture checker of the hub's CLIP
//     tokenizer.json compares against (an OCaml adapter for TinyCLIP's copy of the OpenAI file).
//   - model BPE {dropout null, unk_token "<|endoftext|>", continuing_subword_prefix "",
//     end_of_word_suffix "</w>", fuse_unk false} and decoder ByteLevel: transformers'
//     convert_slow_tokenizer.CLIPConverter, which produced the hub file.
//   - vocab order: OpenAI's clip/simple_tokenizer.py: list(bytes_to_unicode().values()), then the same
//     256 symbols + "</w>", then ''.join(merge) for each merge, then <|startoftext|>, <|endoftext|>.
//   - Not confirmed (from memory of the hub file): `version` "1.0", truncation and padding null, the
//     merges as "left right" strings, the decoder's fields and added_tokens' flags. The hub file's ByteLevel has no
//     `use_regex` key (it predates it; the Rust library then defaults to true and re-splits each piece
//     with GPT-2's regex, which leaves CLIP's pieces - letter runs, one digit, symbol runs, 's - whole);
//     we write use_regex false, which gives the same tokens in both libraries.
// truncation is null as in the hub file (transformers takes 77 from tokenizer_config.json): pass the
// model's text.maxLength (77) to TextTokenizer. padding is null too: TextTokenizer then pads with id 0
// ("!"), as open_clip does.

import { writeFileAtomic } from '../../lib/atomicFile.js';

export const CLIP_START = '<|startoftext|>';
export const CLIP_END = '<|endoftext|>';
export const END_OF_WORD = '</w>';

/** CLIP's word pattern (open_clip / OpenAI simple_tokenizer.py), as the hub tokenizer.json writes it. */
export const CLIP_SPLIT_PATTERN = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";
const WORDS = new RegExp(CLIP_SPLIT_PATTERN, 'gu');

/** Tokens that are not merges: 256 byte symbols, the same with `</w>`, and the 2 special tokens. */
export const CLIP_BASE_TOKENS = 512 + 2;

export interface ClipBpeOptions {
  /** Target vocabulary size, the 512 byte tokens and the 2 special tokens included; default 4000.
   * Training stops earlier when no pair reaches minFrequency (or every word is one token). */
  vocabSize?: number;
  /** A pair must occur this often (words weighted by their count) to be merged; default 2. */
  minFrequency?: number;
}

export interface ClipBpeModel {
  /** Merges in rank order: each pair of symbols is joined into one token. */
  merges: Array<[string, string]>;
  /** Token strings in id order (byte symbols, byte symbols + </w>, merged tokens, the 2 specials). */
  vocab: string[];
}

/** GPT-2's bytes_to_unicode: a printable character for every byte, printable ASCII and Latin-1 as themselves. */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i]!)));
  return table;
}

/** Symbol of each byte value (index = byte). */
export const BYTE_SYMBOLS: readonly string[] = bytesToUnicode();
/** The 256 byte symbols in OpenAI's vocabulary order (printable bytes first, as bytes_to_unicode yields them). */
const BYTE_VOCAB: readonly string[] = (() => {
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  for (let b = 0; b < 256; b++) if (!order.includes(b)) order.push(b);
  return order.map((b) => BYTE_SYMBOLS[b]!);
})();

/** The tokenizer.json normalizer, in JS: NFC, whitespace runs to one space, lowercase. */
export function clipNormalize(text: string): string {
  return text.normalize('NFC').replace(/\s+/gu, ' ').toLowerCase();
}

/** CLIP's words of a text (after clipNormalize), special-token literals left out. */
export function clipWords(text: string): string[] {
  return (clipNormalize(text).match(WORDS) ?? []).filter((w) => w !== CLIP_START && w !== CLIP_END);
}

const encoder = new TextEncoder();

/** A word as byte symbols, the last one with `</w>`. */
export function clipWordSymbols(word: string): string[] {
  const symbols = Array.from(encoder.encode(word), (b) => BYTE_SYMBOLS[b]!);
  if (symbols.length > 0) symbols[symbols.length - 1] += END_OF_WORD;
  return symbols;
}

/** The vocabulary (token strings in id order) that a list of merges gives, in OpenAI's order. */
export function clipVocab(merges: ReadonlyArray<readonly [string, string]>): string[] {
  const vocab = [...BYTE_VOCAB, ...BYTE_VOCAB.map((s) => s + END_OF_WORD)];
  const have = new Set(vocab);
  for (const [a, b] of merges) {
    if (!have.has(a) || !have.has(b)) {
      throw new Error(`merge ${JSON.stringify(`${a} ${b}`)} uses a token that neither the byte symbols nor an earlier merge made`);
    }
    const t = a + b;
    // Two merges can make the same string (from different splits of a word); it gets one id.
    if (!have.has(t)) {
      vocab.push(t);
      have.add(t);
    }
  }
  vocab.push(CLIP_START, CLIP_END);
  return vocab;
}

/** Max-heap of [count, pair] entries, higher count first, then the smaller "left right" string. */
class PairHeap {
  readonly #items: Array<[number, string]> = [];
  #before(x: [number, string], y: [number, string]): boolean {
    return x[0] > y[0] || (x[0] === y[0] && x[1] < y[1]);
  }
  get size(): number {
    return this.#items.length;
  }
  push(count: number, key: string): void {
    const a = this.#items;
    a.push([count, key]);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): [number, string] | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.#before(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.#before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Learns CLIP byte-level BPE merges from `texts`. Deterministic. Stops at `vocabSize` tokens, when the
 * most frequent pair occurs fewer than `minFrequency` times, or when every word is a single token.
 */
export function trainClipBpe(texts: Iterable<string>, options: ClipBpeOptions = {}): ClipBpeModel {
  const vocabSize = options.vocabSize ?? 4000;
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isInteger(vocabSize) || vocabSize < CLIP_BASE_TOKENS) {
    throw new Error(`vocabSize must be an integer of at least ${CLIP_BASE_TOKENS} (256 byte tokens, the same with </w>, and 2 special tokens) (got ${vocabSize})`);
  }
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new Error(`minFrequency must be a positive integer (got ${minFrequency})`);

  const counts = new Map<string, number>();
  for (const text of texts) {
    if (typeof text !== 'string') throw new Error(`trainClipBpe: expected strings, got ${text === null ? 'null' : typeof text}`);
    for (const w of clipWords(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  // Sorted so that word indices, and with them the whole run, do not depend on the corpus order.
  const words = [...counts].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([w, n]) => ({ symbols: clipWordSymbols(w), count: n }));

  const pairCounts = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const add = (key: string, n: number, wi: number): void => {
    pairCounts.set(key, (pairCounts.get(key) ?? 0) + n);
    let set = pairWords.get(key);
    if (set === undefined) pairWords.set(key, (set = new Set()));
    set.add(wi);
  };
  words.forEach((w, wi) => {
    for (let i = 0; i + 1 < w.symbols.length; i++) add(`${w.symbols[i]} ${w.symbols[i + 1]}`, w.count, wi);
  });
  const heap = new PairHeap();
  for (const [key, n] of pairCounts) heap.push(n, key);

  const merges: Array<[string, string]> = [];
  const have = new Set<string>([...BYTE_VOCAB, ...BYTE_VOCAB.map((s) => s + END_OF_WORD)]);
  let size = have.size + 2;
  while (size < vocabSize) {
    const top = heap.pop();
    if (top === undefined) break;
    const [n, key] = top;
    if (pairCounts.get(key) !== n) continue; // stale entry: the count changed since it was pushed
    if (n < minFrequency) break;
    const space = key.indexOf(' ');
    const a = key.slice(0, space);
    const b = key.slice(space + 1);
    const joined = a + b;
    merges.push([a, b]);
    if (!have.has(joined)) {
      have.add(joined);
      size++;
    }
    const touched = new Set<string>();
    for (const wi of pairWords.get(key) ?? []) {
      const w = words[wi]!;
      const s = w.symbols;
      let found = false;
      for (let i = 0; i + 1 < s.length && !found; i++) found = s[i] === a && s[i + 1] === b;
      if (!found) continue; // an earlier merge in this word removed the pair
      for (let i = 0; i + 1 < s.length; i++) {
        const k = `${s[i]} ${s[i + 1]}`;
        pairCounts.set(k, pairCounts.get(k)! - w.count);
        touched.add(k);
      }
      const merged: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          merged.push(joined);
          i++;
        } else {
          merged.push(s[i]!);
        }
      }
      w.symbols = merged;
      for (let i = 0; i + 1 < merged.length; i++) {
        const k = `${merged[i]} ${merged[i + 1]}`;
        add(k, w.count, wi);
        touched.add(k);
      }
    }
    for (const k of touched) {
      const c = pairCounts.get(k)!;
      if (c > 0) heap.push(c, k);
      else {
        pairCounts.delete(k);
        pairWords.delete(k);
      }
    }
  }
  return { merges, vocab: clipVocab(merges) };
}

/**
 * The tokenizer.json object of a CLIP tokenizer with these merges, in the layout of the hub's
 * openai/clip-vit-base-patch32 tokenizer.json (see the top of this file).
 */
export function clipTokenizerJson(model: { merges: ReadonlyArray<readonly [string, string]> }): Record<string, unknown> {
  const vocab = clipVocab(model.merges);
  const startId = vocab.length - 2;
  const endId = vocab.length - 1;
  const added = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(startId, CLIP_START), added(endId, CLIP_END)],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_PATTERN }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [CLIP_END, endId], cls: [CLIP_START, startId], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: CLIP_END,
      continuing_subword_prefix: '',
      end_of_word_suffix: END_OF_WORD,
      fuse_unk: false,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      merges: model.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** Learns merges from `texts` and writes a CLIP tokenizer.json to `file` (atomically). Resolves to the model. */
export async function writeClipTokenizer(file: string, texts: Iterable<string>, options: ClipBpeOptions = {}): Promise<ClipBpeModel> {
  const model = trainClipBpe(texts, options);
  await writeFileAtomic(file, JSON.stringify(clipTokenizerJson(model)));
  return model;
}
