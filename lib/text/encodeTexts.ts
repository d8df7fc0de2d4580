// Text encoding pipeline: tokenize in chunks (yielding to the event loop between them), sort by token
// length into batches so each is padded to little more than its own texts, encode each batch natively and
// put the rows back in the caller's order.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { NativeEmbeddingModel } from '../binding.js';
import { lengthSortedBatches, scatterRows } from './batching.js';
import type { TextTokenizer, TokenizedTexts } from './tokenizer.js';

export interface TextEncodeProgress {
  done: number;
  total: number;
  /** Texts cut to the tokenizer's maxLength so far. */
  truncated: number;
}

// About a millisecond of tokenization per chunk: long inputs never hold the event loop for long.
const TOKENIZE_CHUNK = 64;

export async function tokenizeInChunks(tokenizer: TextTokenizer, texts: readonly string[]): Promise<TokenizedTexts> {
  const result: TokenizedTexts = { ids: [], typeIds: [], truncatedMask: new Uint8Array(texts.length), truncated: 0 };
  for (let start = 0; start < texts.length; start += TOKENIZE_CHUNK) {
    if (start > 0) await yieldToEventLoop();
    const chunk = tokenizer.encode(texts.slice(start, start + TOKENIZE_CHUNK), { source: 'texts', offset: start });
    result.ids.push(...chunk.ids);
    result.typeIds.push(...chunk.typeIds);
    result.truncatedMask.set(chunk.truncatedMask, start);
    result.truncated += chunk.truncated;
  }
  return result;
}

export async function encodeTexts(
  native: NativeEmbeddingModel,
  tokenizer: TextTokenizer,
  texts: readonly string[],
  batchSize: number,
  onProgress?: (progress: TextEncodeProgress) => void,
): Promise<Float32Array> {
  const tokenized = await tokenizeInChunks(tokenizer, texts);
  const dim = native.outputDim;
  const data = new Float32Array(texts.length * dim);
  const batches = lengthSortedBatches(tokenized.ids.map((ids) => ids.length), batchSize);
  let done = 0;
  let truncated = 0;
  for (const indices of batches) {
    const batch = tokenizer.collate(tokenized, indices);
    scatterRows(data, await native.encode(batch), indices, dim);
    done += indices.length;
    truncated += batch.truncated;
    onProgress?.({ done, total: texts.length, truncated });
  }
  return data;
}
