// Loading the search index of `--index DIR`: an EmbeddingIndex (lib/embeddingIndex.ts) saved with
// index.save(dir).

import { EmbeddingIndex } from '../embeddingIndex.js';
import type { SearchableIndex } from './context.js';

export async function loadSearchIndex(dir: string): Promise<SearchableIndex> {
  return EmbeddingIndex.load(dir);
}
