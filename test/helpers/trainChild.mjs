// A fit() run in a child process, for test/checkpoints.test.ts to kill (SIGKILL at a random point, or
// while a checkpoint is being written) and resume. Imports the built library (dist/).
// Usage: node test/helpers/trainChild.mjs JSON, JSON = { backbone, outputDir, checkpointDir, epochs,
// checkpointEvery, resumeFrom?, stepDelayMs? }. The last stdout line is the result as JSON.
import { fit, TrainingCheckpoint } from '../../dist/index.js';
import { images } from './labelledImages.mjs';

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
