// Optimisation on a tiny BERT: every optimizer's updates against PyTorch's (torch.optim on the same saved
// weights, batches and loss), the weight-decay groups (which tensors weight decay alone moves), gradient
// clipping (the norm of the clipped step), layer-wise learning-rate decay (the groups' rates), gradient
// accumulation (batch 8 x 4 = batch 32), seeded dropout (two runs, same bytes), and the option checks.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fit, loadModel, runtimeInfo, TrainingCheckpoint, type EmbeddingModel, type FitOptions, type FitProgress } from '../lib/index.js';
import { loadBinding } from '../lib/addonLoader.js';
import type { NativeTrainOptions } from '../lib/binding.js';
import { commandHelp, parseCommandArgs } from '../lib/cli/command.js';
import { fitCommand } from '../lib/cli/fit.js';
import { OPTIMIZER_NAMES, type Optimizer } from '../lib/optimizers.js';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { maxAbsDiff, PYTHON, random, REPO_ROOT, tempDir } from './helpers/fixtures.js';

const work = tempDir('optim');
let noDropoutDir: string;
let dropoutDir: string;

const WORDS = 'the a cat dog bird sat ran flew on under over mat tree roof quickly slowly red green small large river hill'.split(' ');

function sentence(rand: () => number): string {
  const length = 3 + Math.floor(rand() * 6);
  return Array.from({ length }, () => WORDS[Math.floor(rand() * WORDS.length)]!).join(' ');
}

function scoredPairs(count: number, seed: number): Array<{ a: string; b: string; score: number }> {
  const rand = random(seed);
  return Array.from({ length: count }, () => ({ a: sentence(rand), b: sentence(rand), score: Math.round(rand() * 100) / 100 }));
}

// Two tiny BERTs from the real exporter, in one Python process: one with its dropout probabilities at 0
// (its training forward is deterministic, as PyTorch's comparison and the accumulation test need), one
// with BERT's 0.1 (the seed test).
beforeAll(async () => {
  const tokenizer = join(work.dir, 'tokenizer.json');
  const rand = random(1);
  await writeBertTokenizer(tokenizer, Array.from({ length: 200 }, () => sentence(rand)), { vocabSize: 120, lowercase: true });
  noDropoutDir = join(work.dir, 'bert-no-dropout');
  dropoutDir = join(work.dir, 'bert-dropout');
  execFileSync(PYTHON, ['-c', `
import sys
sys.path.insert(0, sys.argv[1])
from export_torchscript import text, registry
from export_torchscript.export import export
spec = registry.get("bert-base-cased")
export(spec, sys.argv[3], "tiny", None, True, 0, lambda line: None, tokenizer=sys.argv[2])
text.FAMILIES["bert"].tiny.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
export(spec, sys.argv[4], "tiny", None, True, 0, lambda line: None, tokenizer=sys.argv[2])
`, join(REPO_ROOT, 'scripts'), tokenizer, dropoutDir, noDropoutDir], { stdio: ['ignore', 'ignore', 'pipe'] });
}, 120_000);
afterAll(() => work.cleanup());

const BASE: NativeTrainOptions = { optimizer: 'adam', learningRate: 1e-3, weightDecay: 0, momentum: 0, freeze: 'none' };

/** Python's half: each case replayed with torch.optim from the same saved weights, on the same batches. */
const PY_REPLAY = `
import sys, json, math, numpy as np, torch
torch.set_num_threads(1)
cfg = json.load(open(sys.argv[1]))
def tokens(prefix, rows, length):
    load = lambda key: torch.from_numpy(np.fromfile(f"{prefix}-{key}.bin", dtype=np.int32).reshape(rows, length)).long()
    return load("ids"), load("mask"), load("types")
steps = [(tokens(s["a"], s["rows"], s["lengthA"]), tokens(s["b"], s["rows"], s["lengthB"]),
          torch.from_numpy(np.fromfile(s["scores"], dtype=np.float32))) for s in cfg["steps"]]
def weights(path):
    return {n: p.detach() for n, p in torch.jit.load(path).named_parameters()}
init = weights(cfg["init"])
# The rule written independently of the addon: no decay on parameters under 2 dimensions or named bias/norm.
def no_decay(n, p):
    return p.ndim < 2 or "bias" in n.lower() or "norm" in n.lower()
unit = lambda x: x / x.norm(2, 1, True).clamp_min(1e-12)
out = {"decayed": sorted(n for n, p in init.items() if not no_decay(n, p)),
       "zero": sorted(n for n, p in init.items() if not p.any())}
for case in cfg["cases"]:
    m = torch.jit.load(cfg["init"])
    m.train()
    named = list(m.named_parameters())
    for n, p in named:  # the saved projection head is stored without requires_grad; the addon trains everything
        p.requires_grad_(True)
    wd = case["weightDecay"]
    groups = [{"params": [p for n, p in named if case.get("decayAll") or not no_decay(n, p)], "weight_decay": wd},
              {"params": [p for n, p in named if not case.get("decayAll") and no_decay(n, p)], "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    lr, kind = case["learningRate"], case["optimizer"]
    if kind == "adam": opt = torch.optim.Adam(groups, lr=lr, eps=case.get("epsilon", 1e-8))
    elif kind == "adamw": opt = torch.optim.AdamW(groups, lr=lr, eps=case.get("epsilon", 1e-8))
    elif kind == "sgd": opt = torch.optim.SGD(groups, lr=lr, momentum=case["momentum"])
    elif kind == "rmsprop": opt = torch.optim.RMSprop(groups, lr=lr, alpha=case.get("rmspropAlpha", 0.99),
                                                      eps=case.get("epsilon", 1e-8), momentum=case["momentum"])
    elif kind == "adagrad": opt = torch.optim.Adagrad(groups, lr=lr, eps=case.get("epsilon", 1e-10))
    else: raise SystemExit("no reference for " + kind)
    for a, b, s in steps[:case["steps"]]:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss((unit(m.encode_tokens(*a)) * unit(m.encode_tokens(*b))).sum(1), s)
        loss.backward()
        if case.get("maxGradNorm"): torch.nn.utils.clip_grad_norm_([p for n, p in named], case["maxGradNorm"])
        opt.step()
    ours = weights(case["after"])
    theirs = {n: p.detach() for n, p in named}
    # Attention's key bias adds the same q.b to every score of a query, which softmax cancels: its
    # gradient is 0 in exact arithmetic, so what Adam and Adagrad (which divide by the gradient's own
    # size) make of it is rounding noise of whichever executor ran the backward. Compared: the rest.
    compared = [n for n in ours if not n.endswith("attention.self.key.bias")]
    out[case["name"]] = {
        "maxDiff": max((ours[n] - theirs[n]).abs().max().item() for n in compared),
        "worst": max(compared, key=lambda n: (ours[n] - theirs[n]).abs().max().item()),
        "maxChange": max((ours[n] - init[n]).abs().max().item() for n in ours),
        "stepNorm": math.sqrt(sum(((ours[n] - init[n]).double() ** 2).sum().item() for n in ours)),
        "changed": sorted(n for n in ours if not torch.equal(ours[n], init[n])),
    }
# Two runs that differ only in weight decay (SGD, one step): the difference is -lr * wd * weights on the
# decayed tensors, and exactly zero elsewhere.
for first, second in cfg.get("decayPairs", []):
    a, b = weights(first["after"]), weights(second["after"])
    lr, wd = second["learningRate"], second["weightDecay"]
    moved = sorted(n for n in a if not torch.equal(a[n], b[n]))
    error = max(((b[n] - a[n]) + lr * wd * init[n]).abs().max().item() for n in moved) if moved else 0.0
    out[second["name"] + "-vs-" + first["name"]] = {"moved": moved, "decayError": error}
print(json.dumps(out))
`;

interface ReplayCase {
  name: string;
  optimizer: Optimizer;
  learningRate: number;
  weightDecay: number;
  momentum: number;
  epsilon?: number;
  rmspropAlpha?: number;
  decayAll?: boolean;
  maxGradNorm?: number;
  steps: number;
  after?: string;
}

describe('optimizers against PyTorch', () => {
  let model: EmbeddingModel;
  const stepFiles: Array<Record<string, string | number>> = [];
  const batches: Array<{ a: ReturnType<EmbeddingModel['tokenize']>; b: ReturnType<EmbeddingModel['tokenize']>; scores: Float32Array }> = [];
  const init = join(work.dir, 'init.pt');
  const reported: Record<string, number[]> = {};

  beforeAll(async () => {
    model = await loadModel(noDropoutDir, { precision: 'fp32', device: 'cpu', outputDim: 8, seed: 3 });
    await model.nativeModel.save(init);
    for (let s = 0; s < 3; s++) {
      const pairs = scoredPairs(6, 10 + s);
      const a = model.tokenize(pairs.map((p) => p.a));
      const b = model.tokenize(pairs.map((p) => p.b));
      const scores = Float32Array.from(pairs, (p) => p.score);
      batches.push({ a, b, scores });
      const prefix = join(work.dir, `step${s}`);
      for (const [side, batch] of [['a', a], ['b', b]] as const) {
        writeFileSync(`${prefix}-${side}-ids.bin`, batch.inputIds);
        writeFileSync(`${prefix}-${side}-mask.bin`, batch.attentionMask);
        writeFileSync(`${prefix}-${side}-types.bin`, batch.tokenTypeIds);
      }
      writeFileSync(`${prefix}-scores.bin`, scores);
      stepFiles.push({ a: `${prefix}-a`, b: `${prefix}-b`, rows: 6, lengthA: a.length, lengthB: b.length, scores: `${prefix}-scores.bin` });
    }
  });
  afterAll(() => model?.dispose());

  // Replays `c` through the addon from the initial weights (the saved model.pt loads through the same
  // binding) and saves the result.
  async function train(c: ReplayCase): Promise<ReplayCase> {
    const start = await loadBinding().loadEmbeddingModel(init, { device: 'cpu' });
    try {
      start.configureTraining({
        ...BASE, optimizer: c.optimizer, learningRate: c.learningRate, weightDecay: c.weightDecay, momentum: c.momentum,
        epsilon: c.epsilon, rmspropAlpha: c.rmspropAlpha, decayBiasesAndNorms: c.decayAll ?? false, maxGradNorm: c.maxGradNorm ?? 0,
      });
      reported[c.name] = [];
      for (const { a, b, scores } of batches.slice(0, c.steps)) {
        const result = await start.trainStep([a, b], scores, 'CosineSimilarityLoss');
        reported[c.name]!.push(result.gradNorm!);
      }
      const after = join(work.dir, `${c.name}.pt`);
      await start.save(after);
      return { ...c, after };
    } finally {
      start.dispose();
    }
  }

  it('every optimizer (two weight-decay groups), clipping and the decay groups match torch.optim', async () => {
    expect([...runtimeInfo().optimizers].sort()).toEqual([...OPTIMIZER_NAMES].sort());
    const cases: ReplayCase[] = [
      { name: 'adam', optimizer: 'adam', learningRate: 1e-2, weightDecay: 0.1, momentum: 0, steps: 3 },
      { name: 'adamw', optimizer: 'adamw', learningRate: 1e-2, weightDecay: 0.1, momentum: 0, epsilon: 1e-6, steps: 3 },
      { name: 'sgd', optimizer: 'sgd', learningRate: 0.5, weightDecay: 0.1, momentum: 0.8, steps: 3 },
      { name: 'rmsprop', optimizer: 'rmsprop', learningRate: 1e-3, weightDecay: 0.1, momentum: 0.5, rmspropAlpha: 0.9, steps: 3 },
      { name: 'adagrad', optimizer: 'adagrad', learningRate: 1e-2, weightDecay: 0.1, momentum: 0, steps: 3 },
      { name: 'sgd-clipped', optimizer: 'sgd', learningRate: 1, weightDecay: 0, momentum: 0, maxGradNorm: 1e-3, steps: 1 },
      { name: 'sgd-plain', optimizer: 'sgd', learningRate: 1, weightDecay: 0, momentum: 0, steps: 1 },
      { name: 'sgd-decayed', optimizer: 'sgd', learningRate: 1, weightDecay: 0.25, momentum: 0, steps: 1 },
      { name: 'sgd-decayed-all', optimizer: 'sgd', learningRate: 1, weightDecay: 0.25, momentum: 0, decayAll: true, steps: 1 },
    ];
    const trained: ReplayCase[] = [];
    for (const c of cases) trained.push(await train(c));
    const byName = Object.fromEntries(trained.map((c) => [c.name, c]));
    const config = join(work.dir, 'replay.json');
    writeFileSync(config, JSON.stringify({
      init, steps: stepFiles, cases: trained,
      decayPairs: [[byName['sgd-plain'], byName['sgd-decayed']], [byName['sgd-plain'], byName['sgd-decayed-all']]],
    }));
    const out = JSON.parse(execFileSync(PYTHON, ['-c', PY_REPLAY, config], { encoding: 'utf8' })) as Record<string, {
      maxDiff: number; worst: string; maxChange: number; stepNorm: number; changed: string[]; moved: string[]; decayError: number;
    }> & { decayed: string[]; zero: string[] };

    for (const c of cases) {
      const r = out[c.name]!;
      // Each run moved the weights by far more than the tolerance, and as torch.optim would have.
      expect(r.maxChange, c.name).toBeGreaterThan(1e-4);
      // Ours runs TorchScript's unoptimised plan (exact resume), Python the optimised one: gradients
      // differ in the last bits, and Adam's division by sqrt(v) magnifies that (measured 1.03e-6).
      expect(r.maxDiff, `${c.name}: ${r.worst}`).toBeLessThan(1e-5);
    }
    // Clipping: the step is lr x the clipped gradient, so its norm is lr x maxGradNorm (1e-3); the
    // unclipped step's norm is lr x the gradient norm the step reported.
    expect(reported['sgd-clipped']![0]).toBeGreaterThan(0.01);
    expect(out['sgd-clipped']!.stepNorm).toBeCloseTo(1e-3, 6);
    expect(out['sgd-plain']!.stepNorm / reported['sgd-plain']![0]!).toBeCloseTo(1, 4);
    expect(reported['sgd-plain']![0]).toBeCloseTo(reported['sgd-clipped']![0]!, 6);
    // Weight decay alone moves exactly the tensors of the decay group, by -lr * wd * weight; with
    // decayBiasesAndNorms every trained tensor that is not all zeros (the random init's biases are;
    // BERT's unused pooler has no gradient and stays).
    const decayed = out['sgd-decayed-vs-sgd-plain']!;
    expect(out.decayed.length).toBeGreaterThan(5);
    expect(out.decayed.some((n) => n.includes('LayerNorm'))).toBe(false);
    expect(decayed.moved).toEqual(out.decayed.filter((n) => !n.includes('pooler')));
    expect(decayed.decayError).toBeLessThan(1e-6);
    const all = out['sgd-decayed-all-vs-sgd-plain']!;
    expect(all.moved).toEqual(out['sgd-plain']!.changed.filter((n) => !out.zero.includes(n)));
    expect(all.moved.filter((n) => n.includes('LayerNorm.weight') || n === 'proj_bias').length).toBe(2 * 2 + 2);
    expect(all.decayError).toBeLessThan(1e-6);
  }, 120_000);

  it('layer decay: each group at rate x layerDecay^(depth from the top), reported by parameterGroups', async () => {
    const native = model.nativeModel;
    const text = model.metadata.text!;
    const decay = 0.5;
    native.configureTraining({ ...BASE, weightDecay: 0.01, layerDecay: decay, layerPrefix: text.layerPrefix, numLayers: text.numLayers });
    native.setLearningRate(0.1);
    const groups = native.parameterGroups();
    const L = text.numLayers;
    const seen = new Set<string>();
    for (const group of groups) {
      for (const name of group.parameters) {
        seen.add(name);
        const layer = new RegExp(`^trunk\\.${text.layerPrefix.replace(/\./g, '\\.')}(\\d+)\\.`).exec(name);
        const expected = layer ? decay ** (L - Number(layer[1])) : name.startsWith('trunk.') ? decay ** (L + 1) : 1;
        expect(group.learningRate, name).toBeCloseTo(0.1 * expected, 12);
        const noDecay = /bias|norm/i.test(name) || name === 'proj_bias';
        expect(group.weightDecay, name).toBe(noDecay ? 0 : 0.01);
      }
    }
    expect(seen.has('proj_weight')).toBe(true);
    expect(groups.reduce((n, g) => n + g.parameters.length, 0)).toBe(seen.size);
    // 2 (decay or not) x (L layers + embeddings + head) groups, minus none: every depth has both kinds.
    expect(groups.length).toBe(2 * (L + 2));
    // A step trains with those groups, and a later rate keeps the ratios.
    const { a, b, scores } = batches[0]!;
    const result = await native.trainStep([a, b], scores, 'CosineSimilarityLoss');
    expect(result.gradNorm).toBeGreaterThan(0);
    native.setLearningRate(0.02);
    const rates = native.parameterGroups().map((g) => g.learningRate / 0.02);
    expect(rates).toEqual(groups.map((g) => expect.closeTo(g.learningRate / 0.1, 12)));
    // Without layer decay: one rate.
    native.configureTraining({ ...BASE, weightDecay: 0.01 });
    expect(new Set(native.parameterGroups().map((g) => g.learningRate))).toEqual(new Set([BASE.learningRate]));
  });

  it('refuses out-of-range options natively, naming them', async () => {
    const native = model.nativeModel;
    const text = model.metadata.text!;
    const bad: Array<[Partial<NativeTrainOptions>, RegExp]> = [
      [{ optimizer: 'nadam' as Optimizer }, /unknown optimizer 'nadam': use adagrad, adam, adamw, rmsprop, sgd/],
      [{ epsilon: Number.NaN }, /epsilon must be a finite positive number/],
      [{ epsilon: 0 }, /epsilon must be a finite positive number/],
      [{ rmspropAlpha: Infinity }, /rmspropAlpha must be in \[0, 1\)/],
      [{ rmspropAlpha: 1 }, /rmspropAlpha must be in \[0, 1\)/],
      [{ layerDecay: Number.NaN, layerPrefix: text.layerPrefix, numLayers: text.numLayers }, /layerDecay must be in \(0, 1\]/],
      [{ layerDecay: 1.5, layerPrefix: text.layerPrefix, numLayers: text.numLayers }, /layerDecay must be in \(0, 1\]/],
      [{ layerDecay: 0.5 }, /layerDecay needs a transformer's layers/],
      [{ maxGradNorm: Infinity }, /maxGradNorm must be a finite number/],
      [{ maxGradNorm: -1 }, /maxGradNorm must be a finite number/],
      [{ seed: 1.5 }, /option 'seed' must be an integer/],
      [{ weightDecay: Infinity }, /weightDecay must be a finite number >= 0/],
    ];
    for (const [options, message] of bad) {
      expect(() => native.configureTraining({ ...BASE, ...options }), JSON.stringify(options)).toThrow(message);
    }
    native.configureTraining(BASE);
    const { a, b, scores } = batches[0]!;
    expect(() => native.trainStep([a, b], scores, 'CosineSimilarityLoss', undefined, { lossScale: 0 })).toThrow(/lossScale/);
    expect(() => native.trainStep([a, b], scores, 'CosineSimilarityLoss', undefined, { lossScale: Number.NaN })).toThrow(/lossScale/);
    expect(() => native.trainStep([a, b], scores, 'CosineSimilarityLoss', undefined, { update: 1 as unknown as boolean })).toThrow(/'update' must be a boolean/);
  });
});

describe('fit: accumulation, seeds and option checks', () => {
  const texts = ['the cat sat on the mat', 'a small red bird flew over the hill', 'dog ran under the large tree'];
  async function trainAndEncode(options: Partial<FitOptions>, dir: string, events?: FitProgress[]): Promise<Float32Array> {
    const { model } = await fit({
      model: dir, trainData: scoredPairs(64, 4), epochs: 1, outputDim: 8, seed: 5, learningRate: 1e-3,
      onProgress: (event) => events?.push(event), ...options,
    });
    try {
      return (await model.encode(texts)).data;
    } finally {
      model.dispose();
    }
  }

  it('batch 8 x accumulateSteps 4 trains the weights of batch 32 (CosineSimilarityLoss, no dropout), the schedule per update', async () => {
    const whole: FitProgress[] = [];
    const accumulated: FitProgress[] = [];
    const schedule = { scheduler: 'linear', optimizer: 'adamw', weightDecay: 0.01, maxGradNorm: 0.5 } as const;
    const initial = await trainAndEncode({ epochs: 1, learningRate: 1e-12, optimizer: 'sgd', momentum: 0 }, noDropoutDir);
    const big = await trainAndEncode({ ...schedule, batchSize: 32 }, noDropoutDir, whole);
    const small = await trainAndEncode({ ...schedule, batchSize: 8, accumulateSteps: 4 }, noDropoutDir, accumulated);
    const unaccumulated = await trainAndEncode({ ...schedule, batchSize: 8 }, noDropoutDir);
    const trainEvents = (events: FitProgress[]) => events.filter((e): e is Extract<FitProgress, { phase: 'train' }> => e.phase === 'train');
    expect(maxAbsDiff(big, initial)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(small, big)).toBeLessThan(2e-6);
    expect(maxAbsDiff(unaccumulated, big)).toBeGreaterThan(1e-4);
    // Two updates either way: the rates of updates 1 and 2, and a gradient norm after each update only.
    const bigSteps = trainEvents(whole);
    const smallSteps = trainEvents(accumulated);
    expect(bigSteps.map((e) => e.learningRate)).toHaveLength(2);
    expect(smallSteps.map((e) => e.learningRate)).toEqual(bigSteps.flatMap((e) => [e.learningRate, e.learningRate, e.learningRate, e.learningRate]));
    expect(smallSteps.map((e) => e.gradNorm !== undefined)).toEqual([false, false, false, true, false, false, false, true]);
    expect(smallSteps[3]!.gradNorm).toBeCloseTo(bigSteps[0]!.gradNorm!, 4);
  }, 60_000);

  it('a seed repeats a run with dropout bit for bit; another seed does not', async () => {
    // No projection head: building one seeds LibTorch's global generator, which would hide an unseeded dropout.
    const run = (seed: number) => trainAndEncode({ outputDim: undefined, seed, batchSize: 16, learningRate: 1e-2 }, dropoutDir);
    const first = await run(11);
    const second = await run(11);
    const other = await run(12);
    expect(Buffer.from(second.buffer).equals(Buffer.from(first.buffer))).toBe(true);
    expect(maxAbsDiff(other, first)).toBeGreaterThan(1e-4);
  }, 60_000);

  it('a run with dropout and accumulation resumed from a checkpoint ends with the bytes of an uninterrupted one', async () => {
    // The checkpoint must carry the model's own generator (seeded dropout), not LibTorch's global one.
    const checkpointDir = join(work.dir, 'resume-dropout-checkpoints');
    const options = { outputDim: undefined, seed: 21, batchSize: 8, accumulateSteps: 2, learningRate: 1e-2, epochs: 2 } as const;
    const whole = await trainAndEncode(options, dropoutDir);
    await trainAndEncode({ ...options, checkpointDir, callbacks: [new TrainingCheckpoint({ everySteps: 3, keep: 10 })] }, dropoutDir);
    // 8 batches an epoch, an update every 2: step checkpoints land on update boundaries only (step-4, -6, -8...).
    const steps = readdirSync(checkpointDir).filter((name) => name.startsWith('step-')).map((name) => Number(name.slice(5)));
    expect(steps.length).toBeGreaterThan(1);
    expect(steps.every((step) => step % 2 === 0)).toBe(true);
    const middle = Math.min(...steps.filter((step) => step % 8 !== 0));
    const resumed = await trainAndEncode({ ...options, resumeFrom: join(checkpointDir, `step-${middle}`) }, dropoutDir);
    expect(Buffer.from(resumed.buffer).equals(Buffer.from(whole.buffer))).toBe(true);
  }, 90_000);

  it('checks every new option, naming it, before loading anything', async () => {
    const base = { model: join(work.dir, 'nowhere'), trainData: [] } as unknown as FitOptions;
    const cases: Array<[Partial<FitOptions>, RegExp]> = [
      [{ optimizer: 'nadam' as Optimizer }, /option 'optimizer' must be one of adam, adamw, sgd, rmsprop, adagrad/],
      [{ momentum: 0.5 }, /option 'momentum' does not apply to optimizer 'adam'/],
      [{ optimizer: 'sgd', epsilon: 1e-6 }, /option 'epsilon' does not apply to optimizer 'sgd'/],
      [{ optimizer: 'adamw', rmspropAlpha: 0.9 }, /option 'rmspropAlpha' does not apply to optimizer 'adamw'/],
      [{ optimizer: 'sgd', momentum: 1 }, /option 'momentum' must be a number in \[0, 1\)/],
      [{ epsilon: 0 }, /option 'epsilon' must be a positive number/],
      [{ optimizer: 'rmsprop', rmspropAlpha: 1 }, /option 'rmspropAlpha' must be a number in \[0, 1\)/],
      [{ layerDecay: 0 }, /option 'layerDecay' must be a number in \(0, 1\]/],
      [{ layerDecay: 1.01 }, /option 'layerDecay' must be a number in \(0, 1\]/],
      [{ maxGradNorm: 0 }, /option 'maxGradNorm' must be a positive number/],
      [{ maxGradNorm: Number.NaN }, /option 'maxGradNorm' must be a positive number/],
      [{ accumulateSteps: 0 }, /option 'accumulateSteps' must be a positive integer/],
      [{ accumulateSteps: 2.5 }, /option 'accumulateSteps' must be a positive integer/],
      [{ decayBiasesAndNorms: 'yes' as unknown as boolean }, /option 'decayBiasesAndNorms' must be a boolean/],
    ];
    for (const [options, message] of cases) await expect(fit({ ...base, ...options }), JSON.stringify(options)).rejects.toThrow(message);
  });

  it('the CLI passes each flag to fit and names the flag of a bad value', async () => {
    const csv = join(work.dir, 'scored.csv');
    writeFileSync(csv, ['text1,text2,score', ...scoredPairs(16, 9).map((p) => `${p.a},${p.b},${p.score}`)].join('\n'));
    const output = join(work.dir, 'cli-out');
    const base = ['--model', noDropoutDir, '--train-data', csv, '--output-dir', output, '--epochs', '1', '--batch-size', '4'];
    const run = (...extra: string[]) => fitCommand.run(parseCommandArgs(fitCommand, [...base, ...extra]));
    await run(
      '--optimizer', 'rmsprop', '--momentum', '0.5', '--rmsprop-alpha', '0.9', '--epsilon', '1e-6', '--weight-decay', '0.01',
      '--decay-biases-and-norms', '--layer-decay', '0.8', '--max-grad-norm', '1', '--accumulate-steps', '2', '--seed', '3',
    );
    const { training } = JSON.parse(readFileSync(join(output, 'finetuner.json'), 'utf8')) as { training: Record<string, unknown> };
    expect(training).toMatchObject({
      optimizer: 'rmsprop', momentum: 0.5, rmspropAlpha: 0.9, epsilon: 1e-6, weightDecay: 0.01, decayBiasesAndNorms: true,
      layerDecay: 0.8, maxGradNorm: 1, accumulateSteps: 2, seed: 3,
    });
    await expect(run('--layer-decay', '1.5')).rejects.toThrow(/option --layer-decay must be a number in \(0, 1\], got '1.5'/);
    await expect(run('--accumulate-steps', '0')).rejects.toThrow(/option --accumulate-steps must be a positive integer/);
    await expect(run('--momentum', '0.5')).rejects.toThrow(/option --momentum does not apply to optimizer 'adam'/);
  }, 60_000);

  it('the CLI has a flag for each option and --help lists the optimizers', () => {
    const help = commandHelp(fitCommand);
    for (const name of OPTIMIZER_NAMES) expect(help).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    for (const flag of ['--momentum', '--epsilon', '--rmsprop-alpha', '--decay-biases-and-norms', '--layer-decay', '--max-grad-norm', '--accumulate-steps']) {
      expect(help).toContain(flag);
    }
    expect(help).toMatch(/--momentum M +momentum, in \[0, 1\) \(default: sgd 0\.9, rmsprop 0\)/);
  });
});
