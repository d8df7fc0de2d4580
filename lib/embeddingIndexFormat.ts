// The names of an EmbeddingIndex folder (lib/embeddingIndex.ts), written once: lib/outputDir.ts reads
// them too, to know an index folder as one of ours that a save may replace.
export const INDEX_FORMAT = 'finetuner-embedding-index';
export const INDEX_VERSION = 1;
/** { format, version, dim, count, embeddings, ids } */
export const INDEX_FILE = 'index.json';
export const INDEX_EMBEDDINGS_FILE = 'embeddings.npy';
export const INDEX_IDS_FILE = 'ids.json';
