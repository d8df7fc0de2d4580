// finetuner eval: retrieval metrics of a model on labelled queries (and an optional separate index), or
// on query-document text pairs.
import type { RetrievalMetrics } from '../metrics.js';
import type { EvaluationResult } from '../evaluate.js';
import { formatTable } from '../table.js';
import { ENCODING_OPTIONS, DEVICES, PRECISIONS, choiceOption, existingFile, flag, numberOption, out, requiredString, type Command } from './command.js';
import { OPTION_RANGES } from '../optionRanges.js';
import { checkModelFlags, peekModelDir } from './modelDir.js';
import { modalityNamed } from '../modalities/index.js';
import { PhasedProgress, round4 } from './progressBars.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Score retrieval: each query ranks the index by cosine similarity; relevant = same label, or its own documents.',
  usage: ['eval --model DIR --queries CSV [--index CSV] [--k N] [--json]'],
  details:
    'Image models: CSVs of image paths and labels. Text models: labelled texts (text,label), or\n' +
    'query-document pairs (query,document), where every distinct query ranks all the documents and the\n' +
    'documents of its own rows are the relevant ones (no --index then). Labelled data without --index:\n' +
    'the queries are also the index, each query left out of its own ranking. CLIP (text-to-image) models:\n' +
    'text,image pairs; text-to-image (each distinct text ranks every image, its rows\' images relevant) and\n' +
    'image-to-text (each image ranks the distinct texts, its row\'s text relevant).',
  options: {
    model: { type: 'string', value: 'DIR', description: 'saved model or exported backbone directory', required: true },
    queries: { type: 'string', value: 'CSV', description: 'labelled query images or texts, text pairs, or text-image pairs (CLIP)', required: true },
    index: { type: 'string', value: 'CSV', description: 'labelled index images or texts', default: 'the queries (or the pairs\' documents)' },
    k: { type: 'string', value: 'N', description: 'cut-off of the @k metrics', default: '10' },
    json: { type: 'boolean', description: 'print the metrics as JSON' },
    ...ENCODING_OPTIONS,
  },
  async run(args) {
    const modelDir = requiredString(args, 'model');
    const queries = existingFile(args, 'queries')!; // required: checked by the parser
    const index = existingFile(args, 'index');
    const k = numberOption(args, 'k', OPTION_RANGES.k);
    const batchSize = numberOption(args, 'batch-size', OPTION_RANGES.batchSize);
    const imageSize = numberOption(args, 'image-size', OPTION_RANGES.imageSize);
    const maxLength = numberOption(args, 'max-length', OPTION_RANGES.maxLength);
    const device = choiceOption(args, 'device', DEVICES);
    const precision = choiceOption(args, 'precision', PRECISIONS);
    const json = flag(args, 'json');

    const [{ loadModel }, { evaluate }] = await Promise.all([import('../loadModel.js'), import('../evaluate.js')]);
    const info = await peekModelDir(modelDir);
    checkModelFlags(info, modelDir, { 'image-size': imageSize, 'max-length': maxLength });
    const model = await loadModel(modelDir, { device, imageSize, maxLength, precision });
    const unit = modalityNamed(model.modality).progressUnit;
    const progress = new PhasedProgress();
    // evaluate encodes the queries, then the index: a pass ends when done reaches total.
    let pass = 0;
    let last = { done: 0, total: 0 };
    let metrics: EvaluationResult;
    try {
      metrics = await evaluate(model, {
        queries,
        index,
        k,
        batchSize,
        onProgress: (done, total) => {
          if (last.done >= last.total || done <= last.done) pass++;
          last = { done, total };
          progress.update(String(pass), pass <= 1 ? 'encode queries' : 'encode index', done, total, unit);
        },
      });
    } catch (error) {
      // The library names its options ('queries', 'index'); a CLI user knows them as flags.
      if (error instanceof Error) error.message = error.message.replace(/option '(queries|index|k)'/g, '--$1');
      throw error;
    } finally {
      progress.finish();
      model.dispose();
    }
    if (json) out(JSON.stringify(metrics, null, 2));
    else if (metrics.imageToText) {
      out(metricsTable(metrics, `${modelDir}, text-to-image`));
      out(metricsTable(metrics.imageToText, `${modelDir}, image-to-text`));
    } else out(metricsTable(metrics, modelDir));
  },
};

function metricsTable(m: RetrievalMetrics, modelDir: string): string {
  const rows = [
    { metric: `precision@${m.k}`, value: round4(m.precisionAtK) },
    { metric: `recall@${m.k}`, value: round4(m.recallAtK) },
    { metric: `hit@${m.k}`, value: round4(m.hitAtK) },
    { metric: 'mrr', value: round4(m.mrr) },
    { metric: `ndcg@${m.k}`, value: round4(m.ndcgAtK) },
    { metric: 'map', value: round4(m.map) },
    { metric: 'queries', value: m.queries },
    { metric: 'skipped queries', value: m.skippedQueries },
  ];
  const self = m.excludedSelf ? ', each query left out of its own ranking' : '';
  return formatTable(`Retrieval metrics of ${modelDir} (k=${m.k}${self})`, ['metric', 'value'], rows);
}
