// Text tokenization for text-to-text models: a model's tokenizer.json (the Hugging Face tokenizers
// format) read with `@huggingface/tokenizers`, truncated to the model's maximum length and padded to the
// longest sequence of each batch, as flat Int32Array tensors (the native side widens them to int64).
//
// Choice of library, measured by scripts/bench-tokenizers.mjs (node 20.20, 2 shared CPUs, AMD EPYC) on
// BERT WordPiece tokenizer.json files of 6,000 tokens built from WordNet glosses (examples/tokenizers/wordpiece.ts),
// uncased and cased:
//   exactness: ids of `@huggingface/tokenizers` 0.2.0 (pure JS) and `tokenizers` 0.23.2 (napi-rs binding
//     of the Rust library, the reference) agree on all 4,036 texts of each tokenizer (4,000 glosses plus
//     accents, combining marks, Chinese/Japanese/Korean, emoji and ZWJ sequences, control and zero-width
//     characters, a 150-character word, literal [CLS]/[SEP] text, 40- and 300-gloss texts, and all of
//     those upper-cased), and again with truncation to 32 tokens (Rust's truncation against ours here).
//     test/tokenizer.test.ts repeats the comparison where `tokenizers` is installed.
//   speed, texts/s encoding 10,000 glosses, best of 3 or 5, range over 4 runs (uncased and cased):
//     @huggingface/tokenizers encode(), one text at a time, synchronous       47,967 - 49,887
//     TextTokenizer.encodeBatch, 256 texts a batch (JS + truncate + pad)       45,376 - 47,817
//     tokenizers encodeBatch(all 10,000), async on Rust threads                36,510 - 77,748
//     tokenizers encodeBatch(256 at a time) + getIds/getAttentionMask/...     26,279 - 53,538
//     tokenizers encode(), one text at a time                                  15,742 - 26,002
// The pure JS library is exact here, as fast and far steadier at the batch sizes we encode (each Rust
// call pays for crossing N-API and one JS object per encoding; only one huge batch on idle cores gains
// from its threads), 650 kB with no dependencies, where `tokenizers` installs 64 MB of prebuilt binaries
// for 13 platforms (linux-x64 among them, no download at install). `@huggingface/transformers`
// tokenizes with this same JS library and pulls onnxruntime.
// The JS library has no truncation or padding: both are done here, truncating the text's tokens and
// keeping the template's special tokens ([CLS] ... [SEP]) as the Rust library does.

import { readJsonFile } from '../jsonFile.js';
import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Tokenizer as HfTokenizerClass } from '@huggingface/tokenizers';

// The package's .d.ts files import each other without extensions, which NodeNext resolution does not
// follow, so its types come out as `any`: this is the part of its API used here, typed by hand.
interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean; return_token_type_ids?: boolean }): { ids: number[]; token_type_ids?: number[] };
  decode(ids: number[], options?: { skip_special_tokens?: boolean }): string;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
  id_to_token(id: number): string | undefined;
  token_to_id(token: string): number | undefined;
}
const HfTokenizerCtor = HfTokenizerClass as unknown as new (tokenizerJson: object, config: object) => HfTokenizer;

/** Default maximum length when neither the option, tokenizer.json nor tokenizer_config.json gives one. */
export const DEFAULT_MAX_LENGTH = 512;

export interface TextTokenizerOptions {
  /** Tokens per text, special tokens included; longer texts are truncated. Default: tokenizer.json's
   * truncation.max_length, else tokenizer_config.json's model_max_length, else 512. */
  maxLength?: number;
}

export interface EncodeBatchOptions {
  /** Overrides the tokenizer's maxLength for this call. */
  maxLength?: number;
  /** Names the input in error messages (`texts[3]`); default 'texts'. */
  source?: string;
  /** Added to indices in error messages, when `texts` is a slice of a longer input. Default 0. */
  offset?: number;
}

/** Token ids of each text, truncated, special tokens included, not padded. */
export interface TokenizedTexts {
  ids: Int32Array[];
  typeIds: Int32Array[];
  /** 1 for each text that was longer than maxLength and was truncated. */
  truncatedMask: Uint8Array;
  /** How many texts were truncated. */
  truncated: number;
}

/** A padded batch: flat row-major rows x length tensors, padded to the longest text of the batch. */
export interface EncodedBatch {
  inputIds: Int32Array;
  /** 1 for a real token, 0 for padding. */
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
  rows: number;
  /** Padded length: the longest row's token count (at most maxLength). */
  length: number;
  /** Token count of each row before padding. */
  lengths: Int32Array;
  /** How many texts of the batch were truncated to maxLength. */
  truncated: number;
}

type TokenizerJson = Record<string, unknown> & {
  model?: { type?: unknown; vocab?: unknown };
  truncation?: { max_length?: unknown } | null;
  padding?: { pad_id?: unknown } | null;
  added_tokens?: Array<{ id?: unknown; content?: unknown }>;
};

function checkMaxLength(value: unknown, what: string, minimum: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum) {
    throw new Error(`${what} must be an integer of at least ${minimum} (the special tokens plus one) (got ${String(value)})`);
  }
  return value;
}

async function readJson(file: string, what: string): Promise<unknown> {
  return readJsonFile(file, what, `Cannot read ${what} ${file}: file not found`);
}

export class TextTokenizer {
  /** The tokenizer.json it was read from (or the name given to fromJson). */
  readonly file: string;
  /** Default truncation length, special tokens included. */
  readonly maxLength: number;
  /** Tokens in the vocabulary, added tokens included. */
  readonly vocabSize: number;
  /** Largest token id the tokenizer can produce: the model's embedding table needs more rows than this. */
  readonly maxTokenId: number;
  readonly padTokenId: number;
  /** Special tokens the post-processor puts before and after the text ([CLS] and [SEP] for BERT). */
  readonly specialPrefix: number;
  readonly specialSuffix: number;
  readonly #tokenizer: HfTokenizer;

  private constructor(tokenizer: HfTokenizer, json: TokenizerJson, config: Record<string, unknown>, file: string, maxLength: number | undefined) {
    this.#tokenizer = tokenizer;
    this.file = file;
    const vocab = tokenizer.get_vocab(true);
    this.vocabSize = vocab.size;
    let maxId = -1;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.maxTokenId = maxId;

    const padId = json.padding?.pad_id;
    const padToken = ['[PAD]', '<pad>', '<|pad|>', '[pad]'].find((t) => vocab.has(t));
    this.padTokenId = typeof padId === 'number' ? padId : padToken !== undefined ? vocab.get(padToken)! : 0;

    // Where the template puts its special tokens, from a probe text: with and without them.
    const probe = 'a';
    const bare = tokenizer.encode(probe, { add_special_tokens: false }).ids;
    const full = tokenizer.encode(probe).ids;
    let prefix = -1;
    for (let p = 0; p + bare.length <= full.length && prefix < 0; p++) {
      if (bare.every((id, k) => full[p + k] === id)) prefix = p;
    }
    if (prefix < 0) throw new Error(`${file}: cannot tell where the post-processor puts its special tokens (probe ${JSON.stringify(probe)})`);
    this.specialPrefix = prefix;
    this.specialSuffix = full.length - bare.length - prefix;

    const fromJson = json.truncation?.max_length;
    const fromConfig = config.model_max_length;
    const chosen =
      maxLength ??
      (typeof fromJson === 'number' ? fromJson : typeof fromConfig === 'number' && fromConfig < 1e6 ? fromConfig : DEFAULT_MAX_LENGTH);
    this.maxLength = checkMaxLength(chosen, maxLength !== undefined ? 'option `maxLength`' : `${file}: max_length`, this.specialPrefix + this.specialSuffix + 1);
  }

  /**
   * Reads a tokenizer.json (or the tokenizer.json of a model directory), with tokenizer_config.json
   * beside it when there is one. Errors name the file.
   */
  static async fromFile(file: string, options: TextTokenizerOptions = {}): Promise<TextTokenizer> {
    let path = file;
    try {
      if ((await stat(file)).isDirectory()) path = join(file, 'tokenizer.json');
    } catch {
      // Reported below by readJson, naming the file.
    }
    const json = await readJson(path, 'tokenizer.json');
    let config: Record<string, unknown> = {};
    const configPath = join(dirname(path), 'tokenizer_config.json');
    if (basename(path) !== 'tokenizer_config.json') {
      const exists = await stat(configPath).then((s) => s.isFile(), () => false);
      if (exists) {
        const c = await readJson(configPath, 'tokenizer_config.json');
        if (typeof c === 'object' && c !== null && !Array.isArray(c)) config = c as Record<string, unknown>;
      }
    }
    return TextTokenizer.fromJson(json, { ...options, file: path, config });
  }

  /** Builds a tokenizer from a parsed tokenizer.json object; `file` names it in errors. */
  static fromJson(json: unknown, options: TextTokenizerOptions & { file?: string; config?: Record<string, unknown> } = {}): TextTokenizer {
    const file = options.file ?? 'tokenizer.json';
    if (options.maxLength !== undefined) checkMaxLength(options.maxLength, 'option `maxLength`', 1);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new Error(`${file}: not a tokenizer.json: expected a JSON object, got ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json}`);
    }
    const t = json as TokenizerJson;
    if (typeof t.model !== 'object' || t.model === null || typeof t.model.type !== 'string') {
      throw new Error(`${file}: not a tokenizer.json: no "model" section with a "type" (a Hugging Face tokenizers file has one; vocab.txt or tokenizer_config.json alone are not enough)`);
    }
    // The JS library expects these keys to exist (null when unused).
    const complete = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...t };
    let tokenizer: HfTokenizer;
    try {
      tokenizer = new HfTokenizerCtor(complete, options.config ?? {});
    } catch (err) {
      throw new Error(`${file}: cannot load this tokenizer.json: ${(err as Error).message}`, { cause: err });
    }
    return new TextTokenizer(tokenizer, t, options.config ?? {}, file, options.maxLength);
  }

  /** Token ids of each text, truncated to maxLength (special tokens kept), not padded. */
  encode(texts: readonly string[], options: EncodeBatchOptions = {}): TokenizedTexts {
    const source = options.source ?? 'texts';
    const offset = options.offset ?? 0;
    if (!Array.isArray(texts)) throw new Error(`${source} must be an array of strings (got ${typeof texts})`);
    const maxLength = options.maxLength === undefined ? this.maxLength : checkMaxLength(options.maxLength, 'option `maxLength`', this.specialPrefix + this.specialSuffix + 1);
    const keep = maxLength - this.specialPrefix - this.specialSuffix;
    const ids: Int32Array[] = new Array(texts.length);
    const typeIds: Int32Array[] = new Array(texts.length);
    const truncatedMask = new Uint8Array(texts.length);
    let truncated = 0;
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i];
      if (typeof text !== 'string') throw new Error(`${source}[${i + offset}]: expected a string, got ${text === null ? 'null' : typeof text}`);
      if (text.trim() === '') throw new Error(`${source}[${i + offset}]: empty text (${text === '' ? 'an empty string' : 'only whitespace'}); every text needs something to embed`);
      const e = this.#tokenizer.encode(text, { return_token_type_ids: true });
      let row = Int32Array.from(e.ids);
      let types = e.token_type_ids ? Int32Array.from(e.token_type_ids) : new Int32Array(row.length);
      if (row.length > maxLength) {
        truncated++;
        truncatedMask[i] = 1;
        const end = row.length - this.specialSuffix;
        const cut = (a: Int32Array) => {
          const out = new Int32Array(maxLength);
          out.set(a.subarray(0, this.specialPrefix + keep));
          out.set(a.subarray(end), this.specialPrefix + keep);
          return out;
        };
        row = cut(row);
        types = cut(types);
      }
      ids[i] = row;
      typeIds[i] = types;
    }
    return { ids, typeIds, truncatedMask, truncated };
  }

  /**
   * Pads tokenized texts (all of them, or the rows at `indices`, in that order) into one batch, padded to
   * its longest row.
   */
  collate(tokenized: TokenizedTexts, indices?: readonly number[]): EncodedBatch {
    const pick = indices ?? tokenized.ids.map((_, i) => i);
    const rows = pick.length;
    const lengths = new Int32Array(rows);
    let length = 0;
    pick.forEach((src, r) => {
      const row = tokenized.ids[src];
      if (row === undefined) throw new Error(`collate: index ${src} is outside the ${tokenized.ids.length} tokenized texts`);
      lengths[r] = row.length;
      if (row.length > length) length = row.length;
    });
    const inputIds = new Int32Array(rows * length).fill(this.padTokenId);
    const attentionMask = new Int32Array(rows * length);
    const tokenTypeIds = new Int32Array(rows * length);
    pick.forEach((src, r) => {
      const off = r * length;
      inputIds.set(tokenized.ids[src]!, off);
      tokenTypeIds.set(tokenized.typeIds[src]!, off);
      attentionMask.fill(1, off, off + lengths[r]!);
    });
    let truncated = 0;
    for (const src of pick) truncated += tokenized.truncatedMask[src]!;
    return { inputIds, attentionMask, tokenTypeIds, rows, length, lengths, truncated };
  }

  /** Tokenizes, truncates and pads texts into one batch (rows in the order given). */
  encodeBatch(texts: readonly string[], options: EncodeBatchOptions = {}): EncodedBatch {
    return this.collate(this.encode(texts, options));
  }

  /** Token strings of one id sequence (for messages and tests). */
  tokens(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id) => this.#tokenizer.id_to_token(id) ?? `<${id}>`);
  }

  /** The id of a token string, or undefined when it is not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.#tokenizer.token_to_id(token);
  }

  /** Decodes ids back to text, special tokens skipped. */
  decode(ids: ArrayLike<number>): string {
    return this.#tokenizer.decode(Array.from(ids), { skip_special_tokens: true });
  }
}

/**
 * Throws when the tokenizer can produce ids outside the model's embedding table (`modelVocabSize` rows),
 * which would index out of range in the embedding lookup. `file` names the model in the message.
 */
export function checkVocabularyFits(tokenizer: TextTokenizer, modelVocabSize: number, file: string): void {
  if (!Number.isInteger(modelVocabSize) || modelVocabSize < 1) {
    throw new Error(`${file}: the model's vocabulary size must be a positive integer (got ${modelVocabSize})`);
  }
  if (tokenizer.maxTokenId >= modelVocabSize) {
    throw new Error(
      `${tokenizer.file} does not fit the model ${file}: the tokenizer's vocabulary has ${tokenizer.vocabSize} tokens with ids ` +
        `up to ${tokenizer.maxTokenId}, but the model's embedding table has only ${modelVocabSize} rows (ids 0 to ${modelVocabSize - 1}); ` +
        `use the tokenizer.json that came with the model`,
    );
  }
}
