// Loading the search index of `--index DIR`: an EmbeddingIndex (lib/embeddingIndex.ts) saved with
// index.save(dir).

import type { SearchableIndex } from './context.js';

export async function loadSearchIndex(dir: string): Promise<SearchableIndex> {
  // Until lib/embeddingIndex.ts lands, resolved at run time.
  const specifier: string = '../embeddingIndex.js';
  const { EmbeddingIndex } = (await import(specifier)) as { EmbeddingIndex: { load(dir: string): Promise<SearchableIndex> } };
  return EmbeddingIndex.load(dir);
}
