// One process of a distributed fit() for test/distributed.test.ts: the test sets RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR and MASTER_PORT itself (no launcher), or none for a single-process run.
// Imports the built library (dist/). Usage: node test/helpers/distributedChild.mjs JSON, with JSON =
// { kind: 'triplet' | 'mnrl' | 'clip', backbone, batchSize, epochs, rows? (mnrl), accumulateSteps?, distributed?, outputDir?,
//   checkpointDir?, resumeFrom?, checkpointEvery?, stopCallbackAt?, stopAfterSteps?, stepDelayMs?, announceSteps? }.
// The last stdout line is { ok, rank, losses, history, communicationSeconds, allReduceSeconds, embeddings }
// or { ok: false, message, seconds }.
import { fit, loadModel, TrainingCheckpoint } from '../../dist/index.js';
import { images } from './labelledImages.mjs';

const COLOURS = ['red', 'blue', 'green', 'small', 'large', 'old', 'new', 'dark'];
const PLACES = ['sea', 'hill', 'town', 'wood', 'lake'];
export const TEXTS = Array.from({ length: 40 }, (_, i) => `item ${COLOURS[i % 8]} thing number ${i} of the ${PLACES[i % 5]}`);

function data(kind) {
  if (kind === 'triplet') return images(4, 8, 32, 7);
  if (kind === 'mnrl') return Array.from({ length: job.rows ?? 16 }, (_, i) => ({ query: TEXTS[i], document: TEXTS[i + 20] }));
  const pictures = images(16, 1, 32, 11);
  return pictures.map((item, i) => ({ text: TEXTS[i], image: item.image }));
}

const OPTIONS = {
  triplet: { loss: 'TripletMarginLoss', miner: 'TripletMarginMiner', freeze: true, outputDim: 8, imageSize: 32, numItemsPerClass: 4, learningRate: 1e-2 },
  mnrl: { loss: 'MultipleNegativesRankingLoss', freeze: true, outputDim: 16, maxLength: 16, learningRate: 1e-2 },
  // SGD: Adam turns gradients that are analytically zero (a bias right before a LayerNorm) into steps
  // of +-learningRate from their rounding noise, which differs between a batch of 2B and two of B.
  clip: { loss: 'CLIPLoss', learningRate: 1e-2, optimizer: 'sgd' },
};

const job = JSON.parse(process.argv[2]);
const rank = Number(process.env.RANK ?? 0);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const losses = [];
let communicationSeconds = 0;
let allReduceSeconds = 0;
let steps = 0;
const started = performance.now();
const controller = new AbortController();
try {
  const result = await fit({
    model: job.backbone,
    trainData: data(job.kind),
    optimizer: 'adam',
    ...OPTIONS[job.kind],
    epochs: job.epochs,
    batchSize: job.batchSize,
    accumulateSteps: job.accumulateSteps,
    seed: 5,
    device: 'cpu',
    outputDir: job.outputDir,
    checkpointDir: job.checkpointDir,
    resumeFrom: job.resumeFrom,
    distributed: job.distributed,
    signal: controller.signal,
    callbacks: [
      ...(job.checkpointEvery ? [new TrainingCheckpoint({ everySteps: job.checkpointEvery })] : []),
      // Runs on rank 0 only (the others run no callbacks): the ranks must still stop together.
      ...(job.stopCallbackAt ? [{ name: 'stopper', onBatchEnd: (context) => ({ stop: context.globalStep >= job.stopCallbackAt }) }] : []),
    ],
    async onProgress(event) {
      if (event.phase !== 'train') return;
      losses.push(event.loss);
      communicationSeconds += event.communicationSeconds ?? 0;
      allReduceSeconds += event.allReduceSeconds ?? 0;
      steps++;
      if (job.announceSteps) console.log(JSON.stringify({ step: steps }));
      if (job.stopAfterSteps !== undefined && steps >= job.stopAfterSteps) controller.abort();
      if (job.stepDelayMs) await sleep(job.stepDelayMs);
    },
  });
  const encodeProbe = async (model) =>
    Array.from((job.kind === 'clip' ? await model.encodeText(TEXTS.slice(30, 36)) : job.kind === 'mnrl' ? await model.encode(TEXTS.slice(30, 36)) : await model.encode(images(2, 3, 32, 99).map((i) => i.image))).data);
  const embeddings = await encodeProbe(result.model);
  // The same probe through the model before training (same seed: the same projection head).
  let initialEmbeddings = null;
  if (job.probeInitial) {
    const { outputDim, imageSize, maxLength } = OPTIONS[job.kind];
    const initial = await loadModel(job.backbone, { device: 'cpu', seed: 5, outputDim, imageSize, maxLength });
    initialEmbeddings = await encodeProbe(initial);
    initial.dispose();
  }
  console.log(JSON.stringify({
    ok: true, rank, losses, history: result.history.map((r) => ({ loss: r.loss, steps: r.steps })), communicationSeconds, allReduceSeconds, steps,
    embeddings, initialEmbeddings, report: result.report ?? null, seconds: (performance.now() - started) / 1000,
  }));
  result.model.dispose();
} catch (error) {
  console.log(JSON.stringify({ ok: false, rank, name: error.name, message: error.message, checkpoint: error.checkpoint ?? null, losses, seconds: (performance.now() - started) / 1000 }));
}
