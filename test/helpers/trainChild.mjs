// A fit() run in a child process, for test/checkpoints.test.ts to kill (SIGKILL at a random point, or
// while a checkpoint is being written) and resume. Imports the built library (dist/).
// Usage: node test/helpers/trainChild.mjs JSON, JSON = { backbone, outputDir, checkpointDir, epochs,
// checkpointEvery, resumeFrom?, stepDelayMs? }. The last stdout line is the result as JSON.
import { fit, TrainingCheckpoint } from '../../dist/index.js';

/** Labelled images: class c has its own colour and stripes, plus per-image noise (deterministic). */
function images(classes, perClass, size, seed) {
  let state = seed >>> 0;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  const items = [];
  for (let c = 0; c < classes; c++) {
    for (let n = 0; n < perClass; n++) {
      const pixels = new Uint8Array(size * size * 3);
      for (let i = 0; i < pixels.length; i++) {
        const stripe = (Math.floor(i / 3 / (c % 2 ? size : 1)) % (3 + c)) < 2 ? 50 : -50;
        pixels[i] = Math.max(0, Math.min(255, ((c * 67 + (i % 3) * 91) % 256) + stripe + (rand() - 0.5) * 100));
      }
      items.push({ image: { pixels, width: size, height: size, channels: 3 }, label: `class-${c}` });
    }
  }
  return items;
}

const job = JSON.parse(process.argv[2]);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const result = await fit({
  model: job.backbone,
  trainData: images(4, 8, 32, 7),
  outputDim: 8,
  imageSize: 32,
  epochs: job.epochs,
  batchSize: 8,
  numItemsPerClass: 4,
  learningRate: 1e-3,
  outputDir: job.outputDir,
  checkpointDir: job.checkpointDir,
  resumeFrom: job.resumeFrom,
  callbacks: [
    new TrainingCheckpoint({ everySteps: job.checkpointEvery, keep: job.keep ?? 2 }),
    // Slows the steps down a little so that a kill lands at varied points between checkpoints.
    { onBatchEnd: () => (job.stepDelayMs ? sleep(job.stepDelayMs) : undefined) },
  ],
});
result.model.dispose();
process.stdout.write(`${JSON.stringify({ history: result.history.map(({ epoch, loss, steps }) => ({ epoch, loss, steps })) })}\n`);
