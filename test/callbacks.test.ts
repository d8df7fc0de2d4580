// Training callbacks (lib/callbacks/): each built-in's behaviour, checked against what the run itself
// recorded (history, embeddings taken at each epoch end), and user callbacks that stop a run.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BestModelCheckpoint, EarlyStopping, EvaluationCallback, evaluate, fit, loadModel, TrainingCheckpoint, type EvaluationResult, type EmbeddingModel, type TrainingContext } from '../lib/index.js';
import { exportTiny, syntheticImages, tempDir } from './helpers/fixtures.js';

const work = tempDir('callbacks');
let backbone: string;
const train = syntheticImages(4, 8, 32, 21);
const probe = syntheticImages(4, 2, 32, 22).map((item) => item.image);
const base = { trainData: train, outputDim: 8, imageSize: 32, batchSize: 8, numItemsPerClass: 4, learningRate: 1e-3 } as const;

beforeAll(() => {
  backbone = exportTiny('resnet50', join(work.dir, 'resnet50-tiny'));
});
afterAll(() => work.cleanup());

async function embed(model: EmbeddingModel): Promise<Float32Array> {
  return model.encodeBatch(await model.loadImages(probe));
}

describe('BestModelCheckpoint', () => {
  it('leaves the best epoch, not the last, in outputDir and records which it kept', async () => {
    const outputDir = join(work.dir, 'best');
    const atEpochEnd: Float32Array[] = [];
    // Monitoring the loss with mode 'max' picks an early epoch (the loss falls), so best != last.
    const { model, history, kept } = await fit({
      ...base, model: backbone, epochs: 4, outputDir,
      callbacks: [new BestModelCheckpoint({ monitor: 'loss', mode: 'max' }), { onEpochEnd: async (c: TrainingContext) => void atEpochEnd.push(await embed(c.model)) }],
    });
    const losses = history.map((r) => r.loss);
    const expected = losses.indexOf(Math.max(...losses));
    expect(expected).toBeLessThan(3);
    expect(kept?.epoch).toBe(expected);
    const saved = JSON.parse(readFileSync(join(outputDir, 'finetuner.json'), 'utf8'));
    expect(saved.training.kept.epoch).toBe(expected);
    expect(saved.training.history).toHaveLength(4);
    const reloaded = await loadModel(outputDir, { precision: 'fp32' });
    expect(Buffer.from((await embed(reloaded)).buffer)).toEqual(Buffer.from(atEpochEnd[expected]!.buffer));
    expect(Buffer.from((await embed(model)).buffer)).toEqual(Buffer.from(atEpochEnd[expected]!.buffer));
    expect(Buffer.from((await embed(model)).buffer)).not.toEqual(Buffer.from(atEpochEnd[3]!.buffer));
    reloaded.dispose();
    model.dispose();
  });

  it('needs an outputDir and refuses WiSE-FT', async () => {
    await expect(fit({ ...base, model: backbone, callbacks: [new BestModelCheckpoint()] })).rejects.toThrow(/outputDir/);
    await expect(fit({ ...base, model: backbone, outputDir: join(work.dir, 'x'), wiseFt: 0.5, callbacks: [new BestModelCheckpoint()] })).rejects.toThrow(/exclude/);
  });
});

describe('EarlyStopping', () => {
  it('stops once the metric has not improved for `patience` epochs', async () => {
    const stopper = new EarlyStopping({ monitor: 'loss', mode: 'max', patience: 2 });
    const { model, history } = await fit({ ...base, model: backbone, epochs: 8, callbacks: [stopper] });
    model.dispose();
    // Replay Keras' rule on the recorded losses: the run must end exactly where the rule says.
    let best = -Infinity;
    let wait = 0;
    let stopAt = -1;
    for (const [epoch, { loss }] of history.entries()) {
      if (loss > best) [best, wait] = [loss, 0];
      else if (++wait >= 2) {
        stopAt = epoch;
        break;
      }
    }
    expect(stopAt).toBeGreaterThan(0);
    expect(history).toHaveLength(stopAt + 1);
    expect(stopper.stoppedEpoch).toBe(stopAt);
  });
});

describe('EvaluationCallback', () => {
  it('scores every N steps what evaluate() scores at those steps, and publishes the metrics', async () => {
    const queries = syntheticImages(4, 3, 32, 23);
    const evaluation = new EvaluationCallback({ queries, k: 3, everySteps: 3, name: 'held' });
    const direct: EvaluationResult[] = [];
    const monitored: number[] = [];
    const { model, history } = await fit({
      ...base, model: backbone, epochs: 2,
      callbacks: [{ onBatchEnd: async (c) => {
        if (c.globalStep % 3 !== 0) return;
        direct.push(await evaluate(c.model, { queries, k: 3 }));
        monitored.push(c.metrics['held.map']!);
      } }, evaluation],
    });
    model.dispose();
    expect(evaluation.results.map((r) => r.globalStep)).toEqual([3, 6]);
    expect(evaluation.results.map((r) => r.result)).toEqual(direct);
    expect(monitored).toEqual(direct.map((r) => r.map));
    expect(history.every((r) => r.eval === undefined)).toBe(true);
  });
});

describe('user callbacks', () => {
  it('receive the context at each hook and stop the run by returning { stop: true }', async () => {
    const seen: string[] = [];
    const steps: number[] = [];
    const { model, history } = await fit({
      ...base, model: backbone, epochs: 3,
      callbacks: [{
        onTrainBegin: (c) => void seen.push(`begin ${c.globalStep}`),
        onBatchEnd: async (c) => {
          steps.push(c.globalStep);
          expect(c.learningRate).toBe(1e-3);
          expect(Number.isFinite(c.loss)).toBe(true);
          return c.globalStep === 6 ? { stop: true } : undefined;
        },
        onEpochEnd: (c) => void seen.push(`epoch ${c.epoch} ${c.record?.steps}`),
        onTrainEnd: (c) => void seen.push(`end ${c.globalStep}`),
      }],
    });
    model.dispose();
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
    expect(history.map((r) => r.steps)).toEqual([4, 2]);
    expect(seen).toEqual(['begin 0', 'epoch 0 4', 'epoch 1 2', 'end 6']);
  });

  it('stop by setting context.stop', async () => {
    const { model, history } = await fit({ ...base, model: backbone, epochs: 3, callbacks: [{ onEpochEnd: (c) => void (c.stop = true) }] });
    model.dispose();
    expect(history).toHaveLength(1);
  });
});

describe('TrainingCheckpoint', () => {
  it('writes a checkpoint every N steps and keeps the last k', async () => {
    const checkpointDir = join(work.dir, 'checkpoints');
    const { model } = await fit({ ...base, model: backbone, epochs: 2, checkpointDir, callbacks: [new TrainingCheckpoint({ everySteps: 3, everyEpoch: true, keep: 2 })] });
    model.dispose();
    // 8 steps: checkpoints at steps 3 and 6, and after each epoch (4, 8); the last two are kept.
    expect(readdirSync(checkpointDir).sort()).toEqual(['step-6', 'step-8']);
    const record = JSON.parse(readFileSync(join(checkpointDir, 'step-8', 'checkpoint.json'), 'utf8'));
    expect(record.position).toEqual({ epoch: 2, step: 0, globalStep: 8 });
    expect(record.history).toHaveLength(2);
  });

  it('a resumed run with other options is refused, naming the difference', async () => {
    const checkpointDir = join(work.dir, 'checkpoints');
    await expect(fit({ ...base, batchSize: 16, model: backbone, epochs: 2, resumeFrom: checkpointDir })).rejects.toThrow(/batchSize: checkpoint 8, now 16/);
    await expect(fit({ ...base, trainData: train.slice(0, 24), model: backbone, epochs: 2, resumeFrom: checkpointDir })).rejects.toThrow(/trainData: checkpoint/);
  });
});
