// EmbeddingIndex: rows of embeddings with string ids, searched exactly by cosine similarity in LibTorch,
// for a small search service without a vector database. The rows are held twice: natively, normalised,
// for searching (native/search_index.h: a search neither copies nor normalises them again), and here as
// given, for embeddings() and save(). Rows are added with their ids,
// searched by vector or by inputs encoded through a model or a batcher, and saved as a folder:
//   embeddings.npy  float32 count x dim (numpy reads it: np.load)
//   ids.json        the ids, a JSON array of count strings, row order
//   index.json      { format: 'finetuner-embedding-index', version: 1, dim, count, embeddings, ids }
// The folder is written through lib/outputDir.ts's staging, so it always holds the old index or the new
// one, complete; load checks every file against index.json and names the file and the row or id at fault.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { INDEX_EMBEDDINGS_FILE, INDEX_FILE, INDEX_FORMAT, INDEX_IDS_FILE, INDEX_VERSION } from './embeddingIndexFormat.js';
import type { Embeddings } from './encodePipeline.js';
import { insideFolder, readJsonFile, requireRegularFile } from './jsonFile.js';
import { readNpy, writeNpy } from './npy.js';
import { checkNumber, numberOr } from './numericOption.js';
import { OPTION_RANGES } from './optionRanges.js';
import { stageOutputDir, type StagedOutput } from './outputDir.js';
import { loadBinding } from './addonLoader.js';
import type { NativeSearchIndex } from './binding.js';
import { checkRows, checkSearchPrecision, type SearchPrecision } from './search.js';


export interface SearchHit {
  id: string;
  /** Cosine similarity with the query, in [-1, 1]. */
  score: number;
}

export interface IndexSearchOptions {
  /** Hits per query, best first; default 10, at most the index size. */
  k?: number;
  /** Default 'fp32'; 'bf16' scores bfloat16-rounded rows (lib/search.ts). */
  precision?: SearchPrecision;
}

export interface EncodeSearchOptions extends IndexSearchOptions {
  /** CLIP: which tower encodes the inputs; default as the encoder infers it (strings are texts). */
  kind?: 'text' | 'image';
}

/**
 * What searchWith encodes with: an EncodeBatcher (`encodeMany`) or an EmbeddingModel (`encode`, and
 * `encodeText` / `encodeImage` for CLIP). Typed by shape, so either works without importing the other.
 */
export type IndexEncoder =
  | { encodeMany(inputs: readonly any[], options?: { kind?: 'text' | 'image' }): Promise<Embeddings> }
  | {
      encode(inputs: readonly any[]): Promise<Embeddings>;
      encodeText?(texts: readonly string[]): Promise<Embeddings>;
      encodeImage?(images: readonly any[]): Promise<Embeddings>;
      readonly precision?: string;
    };

interface IndexMetadata {
  format: typeof INDEX_FORMAT;
  version: number;
  dim: number;
  count: number;
  embeddings: string;
  ids: string;
}

/** Embeddings with string ids, searched exactly by cosine similarity; saved and loaded as a folder. */
export class EmbeddingIndex {
  readonly dim: number;
  #ids: string[] = [];
  #rowOf = new Map<string, number>();
  #data: Float32Array;
  #native: NativeSearchIndex;

  constructor(dim: number) {
    this.dim = checkNumber(dim, 'dim', OPTION_RANGES.dim);
    this.#data = new Float32Array(0);
    this.#native = new (loadBinding().SearchIndex)(this.dim);
  }

  /** Rows in the index. */
  get size(): number {
    return this.#ids.length;
  }

  /** The ids, in row order. */
  get ids(): readonly string[] {
    return this.#ids;
  }

  /** The rows, size x dim floats, row-major (a copy). */
  embeddings(): Float32Array {
    return this.#data.slice(0, this.size * this.dim);
  }

  /**
   * Adds one row per id. Everything is checked before anything is added: ids must be non-empty strings,
   * new to the index and distinct; `embeddings` ids.length rows of `dim` floats without NaN or infinity.
   */
  add(ids: readonly string[], embeddings: Float32Array | Embeddings): void {
    const caller = 'EmbeddingIndex.add';
    if (!Array.isArray(ids)) throw new TypeError(`${caller}: \`ids\` must be an array of strings`);
    const data = embeddingsData(caller, 'embeddings', embeddings, this.dim);
    if (data.length !== ids.length * this.dim) {
      throw new RangeError(`${caller}: \`embeddings\` has ${data.length / this.dim} rows of ${this.dim}, but ${ids.length} ids were given`);
    }
    const fresh = new Set<string>();
    ids.forEach((id, i) => {
      if (typeof id !== 'string' || id === '') throw new TypeError(`${caller}: ids[${i}] must be a non-empty string, got ${JSON.stringify(id) ?? String(id)}`);
      if (this.#rowOf.has(id) || fresh.has(id)) throw new Error(`${caller}: ids[${i}] ${JSON.stringify(id)} is already in the index`);
      fresh.add(id);
    });
    const bad = firstNonFiniteRow(data, this.dim);
    if (bad >= 0) throw new RangeError(`${caller}: \`embeddings\` row ${bad} (id ${JSON.stringify(ids[bad])}) holds a NaN or infinite value`);
    this.#native.add(data);
    this.#reserve(this.size + ids.length);
    this.#data.set(data, this.size * this.dim);
    for (const id of ids) {
      this.#rowOf.set(id, this.#ids.length);
      this.#ids.push(id);
    }
  }

  /** The k nearest rows of each query row (Float32Array of rows x dim, or Embeddings), best first. */
  async search(queries: Float32Array | Embeddings, options: IndexSearchOptions = {}): Promise<SearchHit[][]> {
    const caller = 'EmbeddingIndex.search';
    const data = embeddingsData(caller, 'queries', queries, this.dim);
    const k = numberOr(options.k, 'k', OPTION_RANGES.k, 10);
    const precision = checkSearchPrecision(options.precision, caller);
    const rows = data.length / this.dim;
    if (this.size === 0) return Array.from({ length: rows }, () => []);
    // Rows added while the search waits may take part in it; ids only grow, so every index maps.
    const result = await this.#native.search(data, Math.min(k, 2 ** 31 - 1), { precision });
    const hits: SearchHit[][] = [];
    for (let q = 0; q < result.rows; q++) {
      const row: SearchHit[] = [];
      for (let i = 0; i < result.k; i++) {
        row.push({ id: this.#ids[result.indices[q * result.k + i]!]!, score: result.scores[q * result.k + i]! });
      }
      hits.push(row);
    }
    return hits;
  }

  /**
   * Encodes `inputs` (texts or images) with a model or a batcher, then searches. Precision defaults to
   * the model's ('bf16' when it runs in bf16). The encoder's width must be the index's dim.
   */
  async searchWith(encoder: IndexEncoder, inputs: readonly unknown[], options: EncodeSearchOptions = {}): Promise<SearchHit[][]> {
    const caller = 'EmbeddingIndex.searchWith';
    if (!Array.isArray(inputs)) throw new TypeError(`${caller}: \`inputs\` must be an array of texts or images`);
    if (options.kind !== undefined && options.kind !== 'text' && options.kind !== 'image') {
      throw new TypeError(`${caller}: option 'kind' must be 'text' or 'image', got ${JSON.stringify(options.kind) ?? String(options.kind)}`);
    }
    const embeddings = await encodeWith(caller, encoder, inputs, options.kind);
    if (embeddings.dim !== this.dim) {
      throw new RangeError(`${caller}: the encoder gives ${embeddings.dim}-wide embeddings, the index holds ${this.dim}-wide rows`);
    }
    const precision = options.precision ?? ('precision' in encoder && encoder.precision === 'bf16' ? 'bf16' : 'fp32');
    return this.search(embeddings, { k: options.k, precision });
  }

  /**
   * Writes the index to `dir` (new, empty, or an index or model finetuner wrote: anything else is
   * refused, never deleted), staged beside it and swapped in, so `dir` is the old index or the new one.
   */
  async save(dir: string): Promise<void> {
    let staged: StagedOutput | undefined;
    try {
      staged = await stageOutputDir(dir, { option: 'EmbeddingIndex.save: dir' });
      await writeNpy(join(staged.staging, INDEX_EMBEDDINGS_FILE), this.#data.subarray(0, this.size * this.dim), [this.size, this.dim]);
      await writeFile(join(staged.staging, INDEX_IDS_FILE), `${JSON.stringify(this.#ids)}\n`);
      const metadata: IndexMetadata = {
        format: INDEX_FORMAT, version: INDEX_VERSION, dim: this.dim, count: this.size, embeddings: INDEX_EMBEDDINGS_FILE, ids: INDEX_IDS_FILE,
      };
      await writeFile(join(staged.staging, INDEX_FILE), `${JSON.stringify(metadata, null, 2)}\n`);
      await staged.commit();
    } catch (error) {
      await staged?.abort();
      throw error;
    }
  }

  /** Reads a folder written by save(); every file is checked against index.json, errors name the file. */
  static async load(dir: string): Promise<EmbeddingIndex> {
    if (typeof dir !== 'string' || dir === '' || dir.includes('\0')) throw new TypeError('EmbeddingIndex.load: dir must be a non-empty path string');
    const metadataFile = join(dir, INDEX_FILE);
    const metadata = checkMetadata(await readJsonFile(metadataFile, 'embedding index file', `${dir} is not an embedding index: ${INDEX_FILE} not found`), metadataFile);
    const embeddingsFile = await requireRegularFile(insideFolder(dir, metadata.embeddings, 'embeddings', metadataFile), 'embeddings file');
    const idsFile = insideFolder(dir, metadata.ids, 'ids', metadataFile);
    const { data, shape } = await readNpy(embeddingsFile);
    if (shape.length !== 2 || shape[0] !== metadata.count || shape[1] !== metadata.dim) {
      throw new Error(`${embeddingsFile}: shape (${shape.join(', ')}) does not match ${INDEX_FILE}'s count x dim = (${metadata.count}, ${metadata.dim})`);
    }
    const ids = await readJsonFile(idsFile, 'ids file');
    if (!Array.isArray(ids)) throw new Error(`${idsFile}: must hold a JSON array of ids`);
    if (ids.length !== metadata.count) throw new Error(`${idsFile}: holds ${ids.length} ids, but ${embeddingsFile} has ${metadata.count} rows`);
    const seen = new Set<string>();
    ids.forEach((id: unknown, i) => {
      if (typeof id !== 'string' || id === '') throw new Error(`${idsFile}: id ${i} is not a non-empty string`);
      if (seen.has(id)) throw new Error(`${idsFile}: id ${i} ${JSON.stringify(id)} appears twice`);
      seen.add(id);
    });
    const bad = firstNonFiniteRow(data, metadata.dim);
    if (bad >= 0) throw new Error(`${embeddingsFile}: row ${bad} (id ${JSON.stringify(ids[bad])}) holds a NaN or infinite value`);
    const index = new EmbeddingIndex(metadata.dim);
    index.#adopt(ids as string[], data);
    return index;
  }

  /** Rows already checked (load): the array read from the file becomes the JavaScript copy as it is. */
  #adopt(ids: string[], data: Float32Array): void {
    this.#native.add(data);
    this.#data = data;
    this.#ids = ids;
    ids.forEach((id, row) => this.#rowOf.set(id, row));
  }

  #reserve(rows: number): void {
    if (rows * this.dim <= this.#data.length) return;
    const grown = new Float32Array(Math.max(rows, 2 * (this.#data.length / this.dim), 16) * this.dim);
    grown.set(this.#data.subarray(0, this.size * this.dim));
    this.#data = grown;
  }
}

function checkMetadata(value: unknown, file: string): IndexMetadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${file}: must hold a JSON object`);
  const metadata = value as Record<string, unknown>;
  if (metadata.format !== INDEX_FORMAT) throw new Error(`${file}: format must be ${JSON.stringify(INDEX_FORMAT)}; this is not an embedding index`);
  if (metadata.version !== INDEX_VERSION) {
    throw new Error(`${file}: version ${JSON.stringify(metadata.version)} is not ${INDEX_VERSION}, the version this finetuner reads`);
  }
  for (const [field, min] of [['dim', 1], ['count', 0]] as const) {
    const number = metadata[field];
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < min) {
      throw new Error(`${file}: field "${field}" must be an integer >= ${min}, got ${JSON.stringify(number)}`);
    }
  }
  return {
    format: INDEX_FORMAT,
    version: INDEX_VERSION,
    dim: metadata.dim as number,
    count: metadata.count as number,
    embeddings: (metadata.embeddings ?? INDEX_EMBEDDINGS_FILE) as string,
    ids: (metadata.ids ?? INDEX_IDS_FILE) as string,
  };
}

/** The floats of a Float32Array or an Embeddings of width `dim`; an Error naming `name` otherwise. */
function embeddingsData(caller: string, name: string, value: Float32Array | Embeddings, dim: number): Float32Array {
  if (value instanceof Float32Array) {
    checkRows(caller, name, value, dim);
    return value;
  }
  if (typeof value !== 'object' || value === null || !((value as Embeddings).data instanceof Float32Array)) {
    throw new TypeError(`${caller}: \`${name}\` must be a Float32Array or embeddings { rows, dim, data }`);
  }
  if (value.dim !== dim) throw new RangeError(`${caller}: \`${name}\` is ${value.dim}-wide, the index holds ${dim}-wide rows`);
  checkRows(caller, `${name}.data`, value.data, dim);
  return value.data;
}

/** The first row holding NaN or infinity, or -1. */
function firstNonFiniteRow(data: Float32Array, dim: number): number {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) return Math.floor(i / dim);
  }
  return -1;
}

async function encodeWith(caller: string, encoder: IndexEncoder, inputs: readonly unknown[], kind: 'text' | 'image' | undefined): Promise<Embeddings> {
  if (typeof encoder !== 'object' || encoder === null) throw new TypeError(`${caller}: \`encoder\` must be an EmbeddingModel or an EncodeBatcher`);
  if ('encodeMany' in encoder && typeof encoder.encodeMany === 'function') return encoder.encodeMany(inputs, kind === undefined ? undefined : { kind });
  if ('encode' in encoder && typeof encoder.encode === 'function') {
    if (kind === 'text') {
      if (typeof encoder.encodeText !== 'function') throw new TypeError(`${caller}: the encoder has no encodeText for kind 'text'`);
      return encoder.encodeText(inputs as string[]);
    }
    if (kind === 'image') {
      if (typeof encoder.encodeImage !== 'function') throw new TypeError(`${caller}: the encoder has no encodeImage for kind 'image'`);
      return encoder.encodeImage(inputs);
    }
    return encoder.encode(inputs);
  }
  throw new TypeError(`${caller}: \`encoder\` must be an EmbeddingModel or an EncodeBatcher (an object with encode or encodeMany)`);
}
