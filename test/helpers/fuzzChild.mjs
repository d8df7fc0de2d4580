// Randomised malformed calls to the raw binding and the public API (issue 10), run in a child process by
// test/fuzz.test.ts so that a crash or a hang fails the test. Seeded: the same seed makes the same calls.
// Usage: node --expose-gc test/helpers/fuzzChild.mjs SEED CALLS IMAGE_BACKBONE TEXT_BACKBONE WORK_DIR
// The last stdout line is JSON: { calls, resolved, rejected, thrown, hangs, badErrors, byTarget, seconds }.
//
// Every path written to lies under WORK_DIR, and the process runs with a scratch folder inside it as its
// working directory: a relative junk path (or '') given to a save must not reach anything else.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, setNumThreads } from '../../dist/index.js';
import { loadBinding } from '../../dist/addonLoader.js';

const [seedArg, callsArg, imageDir, textDir, workDir] = process.argv.slice(2);
const CALL_TIMEOUT_MS = 30_000;
const scratch = join(workDir, 'scratch');
mkdirSync(scratch, { recursive: true });
process.chdir(scratch);

// mulberry32
let state = Number(seedArg) >>> 0;
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = Math.imul(state ^ (state >>> 15), state | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (items) => items[Math.floor(rand() * items.length)];
const chance = (p) => rand() < p;
const integer = (n) => Math.floor(rand() * n);

const binding = loadBinding();
const imageMeta = JSON.parse(readFileSync(join(imageDir, 'finetuner.json'), 'utf8'));
const textMeta = JSON.parse(readFileSync(join(textDir, 'finetuner.json'), 'utf8'));

// Files a path argument may name: good ones and every kind of bad one.
const files = {
  imageBackbone: join(imageDir, 'model.pt'),
  textBackbone: join(textDir, 'model.pt'),
  missing: join(workDir, 'missing', 'model.pt'),
  directory: workDir,
  empty: join(workDir, 'empty.pt'),
  garbage: join(workDir, 'garbage.pt'),
  truncated: join(workDir, 'truncated.pt'),
  devNull: '/dev/null',
  devZero: '/dev/zero',
  nul: join(workDir, 'a\0b.pt'),
  relative: 'model.pt',
};
writeFileSync(files.empty, '');
writeFileSync(files.garbage, Buffer.from(Array.from({ length: 4096 }, () => integer(256))));
const backboneBytes = readFileSync(files.imageBackbone);
writeFileSync(files.truncated, backboneBytes.subarray(0, backboneBytes.length >> 1));

// Values that are wrong in some way for almost any parameter.
function junk(depth = 0) {
  const choices = [
    () => undefined, () => null, () => NaN, () => Infinity, () => -Infinity, () => -1, () => 0, () => 1.5,
    () => 2 ** 31, () => 2 ** 32 + 1, () => 2 ** 53, () => 1e300, () => -0, () => '', () => '\0', () => 'x'.repeat(integer(5000)),
    () => 'cpu', () => 'cuda', () => true, () => 10n, () => Symbol('s'), () => () => 1, () => [], () => [1, 'a', null],
    () => ({}), () => new Uint8Array(integer(64)), () => new Int32Array(integer(64)), () => new Float32Array(3),
    () => new Float64Array(2), () => new ArrayBuffer(8), () => detached(new Uint8Array(16)), () => throwingObject(),
    () => new Proxy({}, { get() { throw new Error('proxy get'); }, has() { throw new Error('proxy has'); } }),
  ];
  if (depth < 2) choices.push(() => ({ rows: junk(depth + 1), pixels: junk(depth + 1), inputIds: junk(depth + 1) }));
  return pick(choices)();
}

/** Junk for a path that is written to: anything but a string, which could name a real folder. */
function junkTarget() {
  const value = junk();
  return typeof value === 'string' ? join(workDir, 'junk', String(value.length)) : value;
}

function detached(array) {
  structuredClone(array.buffer, { transfer: [array.buffer] });
  return array;
}

function throwingObject() {
  const object = {};
  for (const key of ['rows', 'pixels', 'height', 'width', 'inputIds', 'length', 'device', 'modality', 'optimizer']) {
    Object.defineProperty(object, key, { enumerable: true, get() { throw new Error(`getter ${key}`); } });
  }
  return object;
}

/** Replaces or deletes one field of a valid object (sometimes two), or returns junk instead. */
function mutate(valid) {
  if (chance(0.1)) return junk();
  const copy = { ...valid };
  const keys = Object.keys(copy);
  for (let n = 1 + integer(2); n > 0; n--) {
    const key = pick(keys);
    if (chance(0.2)) delete copy[key];
    else copy[key] = chance(0.3) && typeof valid[key] === 'number' ? pick([valid[key] + 1, valid[key] - 1, valid[key] * 1000, -valid[key]]) : junk();
  }
  return copy;
}

function imageBatch(rows = 1 + integer(3), size = pick([32, 33, 40])) {
  return { pixels: new Uint8Array(rows * size * size * 3).map(() => integer(256)), rows, height: size, width: size };
}

function tokenBatch(rows = 1 + integer(3), length = 1 + integer(12)) {
  const vocab = textMeta.text?.vocabSize ?? 1000;
  const ids = new Int32Array(rows * length).map(() => integer(vocab));
  if (chance(0.2)) ids[integer(ids.length)] = pick([-1, vocab, 2 ** 31 - 1, -(2 ** 31)]);
  return { inputIds: ids, attentionMask: new Int32Array(rows * length).fill(1), tokenTypeIds: new Int32Array(rows * length), rows, length };
}

function anyBatch() {
  const batch = chance(0.5) ? imageBatch() : tokenBatch();
  return chance(0.5) ? batch : mutate(batch);
}

function buildOptions() {
  return {
    device: 'cpu', modality: 'image', trunk: imageMeta.trunk, pooling: pick(['avg', 'max', 'gem']), gemP: 3,
    embeddingDim: imageMeta.embeddingDim, outputDim: pick([0, 8]), normalize: true,
    mean: imageMeta.preprocessing.mean, std: imageMeta.preprocessing.std, seed: 1,
  };
}

function textBuildOptions() {
  return { device: 'cpu', modality: 'text', pooling: pick(['mean', 'cls', 'max']), embeddingDim: textMeta.embeddingDim, outputDim: 0, normalize: true, seed: 1 };
}

function trainOptions() {
  const options = { optimizer: pick(['adam', 'adamw', 'sgd', 'rmsprop', 'adagrad']), learningRate: 1e-3, weightDecay: 0, momentum: 0.9, freeze: 'none' };
  if (chance(0.3)) Object.assign(options, { weightDecay: 0.01, epsilon: 1e-6, rmspropAlpha: 0.9, maxGradNorm: 1, seed: integer(100), decayBiasesAndNorms: chance(0.5) });
  if (chance(0.2)) Object.assign(options, { layerDecay: 0.8, layerPrefix: 'encoder.layer.', numLayers: 2 });
  return options;
}

function savePath() {
  return pick([join(workDir, `saved-${integer(4)}.pt`), join(workDir, 'no-such-dir', 'model.pt'), workDir, files.nul, join(workDir, 'saved-0.pt', 'x')]);
}

function searchRows() {
  if (chance(0.1)) return junk();
  const values = new Float32Array(4 * (1 + integer(6)) + (chance(0.1) ? 1 : 0)).map(() => rand() * 2 - 1);
  if (chance(0.1)) values[integer(values.length)] = pick([NaN, Infinity, 3e38]);
  return values;
}

function labels(rows) {
  return chance(0.7) ? new Int32Array(rows).map(() => integer(2)) : junk();
}

// Live models the calls use; some calls replace or dispose them.
const models = { image: undefined, text: undefined, disposed: undefined };

async function freshModels() {
  models.image = await binding.buildFromBackbone(files.imageBackbone, buildOptions());
  models.text = await binding.buildFromBackbone(files.textBackbone, textBuildOptions());
  models.disposed = await binding.buildFromBackbone(files.imageBackbone, buildOptions());
  models.disposed.dispose();
}

const someModel = () => pick([models.image, models.image, models.text, models.disposed]);

// Training steps through the one generic method: trainStep(batches, targets, loss, lossOptions), with
// well-formed and malformed batches, targets, loss names and options.
const lossNames = ['TripletMarginLoss', 'MultipleNegativesRankingLoss', 'CosineSimilarityLoss', 'CLIPLoss'];
const trainSteps = [
  { method: 'trainStep', args: () => { const b = chance(0.6) ? imageBatch(4) : anyBatch(); return [[b], labels(b?.rows ?? 4), 'TripletMarginLoss', chance(0.5) ? { margin: 0.2, miner: 'batch-hard' } : junk()]; } },
  { method: 'trainStep', args: () => [[tokenBatch(3, 5), chance(0.5) ? tokenBatch(3, 5) : anyBatch()], labels(3), 'MultipleNegativesRankingLoss', chance(0.5) ? { scale: 20 } : junk()] },
  { method: 'trainStep', args: () => [[tokenBatch(2, 4), anyBatch()], chance(0.5) ? new Float32Array(2).fill(0.5) : junk(), 'CosineSimilarityLoss', {}] },
  { method: 'trainStep', args: () => [chance(0.7) ? [tokenBatch(2, 4), imageBatch(2)] : junk(), labels(2), chance(0.8) ? pick(lossNames) : junk(), chance(0.5) ? {} : junk()] },
  // Gradient accumulation's fifth argument: { lossScale, update } or junk.
  { method: 'trainStep', args: () => { const b = imageBatch(4); return [[b], labels(b?.rows ?? 4), 'TripletMarginLoss', {}, chance(0.5) ? { lossScale: 0.5, update: chance(0.5) } : junk()]; } },
];

let publicModel;
const searchIndex = new binding.SearchIndex(4);

// What to call: [name, weight, function returning a value or a promise].
const targets = [
  ['binding.setNumThreads', 3, () => {
    try {
      return binding.setNumThreads(chance(0.3) ? 1 + integer(4) : junk());
    } finally {
      binding.setNumThreads(1);
    }
  }],
  ['binding.runtimeInfo', 1, () => binding.runtimeInfo()],
  ['binding.buildFromBackbone', 4, () => binding.buildFromBackbone(chance(0.6) ? pick([files.imageBackbone, files.textBackbone]) : pick(Object.values(files)),
    chance(0.3) ? buildOptions() : mutate(chance(0.5) ? buildOptions() : textBuildOptions()))
    .then((model) => model.dispose())],
  ['binding.loadEmbeddingModel', 4, () => binding.loadEmbeddingModel(chance(0.1) ? junk() : pick([...Object.values(files), join(workDir, 'saved-0.pt')]),
    chance(0.7) ? { device: 'cpu' } : junk())
    .then((model) => model.dispose())],
  // Search and retrieval metrics: matrices of rows x 4 floats (sometimes junk, detached, NaN or a bad
  // length), label ids, and options with junk precision and block sizes.
  ['binding.searchTopK', 3, () => {
    const queries = searchRows();
    const result = binding.searchTopK(queries, chance(0.8) ? searchRows() : junk(), chance(0.8) ? 4 : junk(), chance(0.7) ? 1 + integer(9) : junk(),
      chance(0.5) ? { precision: pick(['fp32', 'bf16']), blockRows: 1 + integer(3) } : junk());
    if (chance(0.2) && queries instanceof Float32Array && queries.byteLength > 0) detached(queries);
    return result;
  }],
  ['binding.retrievalMetrics', 3, () => {
    const queries = searchRows();
    const rows = queries instanceof Float32Array ? queries.length / 4 : 3;
    const self = chance(0.3);
    const index = self ? null : chance(0.8) ? searchRows() : junk();
    const indexRows = index instanceof Float32Array ? index.length / 4 : 3;
    return binding.retrievalMetrics(queries, labels(rows), index, self ? null : labels(indexRows), chance(0.8) ? 4 : junk(), chance(0.7) ? 1 + integer(9) : junk(),
      chance(0.5) ? { excludeSelf: self || chance(0.2), precision: pick(['fp32', 'bf16']), blockRows: 1 + integer(3) } : junk());
  }],
  ['binding.SearchIndex', 3, () => {
    const index = chance(0.9) ? searchIndex : new binding.SearchIndex(junk());
    if (chance(0.5)) return index.add(searchRows());
    return index.search(searchRows(), chance(0.7) ? 1 + integer(9) : junk(), chance(0.5) ? { precision: pick(['fp32', 'bf16']), blockRows: 1 + integer(3) } : junk());
  }],
  ['model.encode', 30, () => {
    const batch = chance(0.3) ? (chance(0.5) ? imageBatch() : tokenBatch()) : anyBatch();
    const result = someModel().encode(batch);
    if (chance(0.3) && batch?.pixels instanceof Uint8Array && batch.pixels.byteLength > 0) detached(batch.pixels);
    return result;
  }],
  ['model.configureTraining', 6, () => someModel().configureTraining(chance(0.3) ? trainOptions() : mutate(trainOptions()))],
  ['model.setLearningRate', 3, () => someModel().setLearningRate(chance(0.3) ? 1e-4 : junk())],
  ['model.setPrecision', 3, () => someModel().setPrecision(chance(0.3) ? pick(['fp32', 'bf16']) : junk())],
  ['model.train', 6, () => {
    const step = pick(trainSteps);
    const model = someModel();
    if (chance(0.5) && !model.disposed) model.configureTraining(trainOptions());
    return model[step.method](...step.args());
  }],
  ['model.interpolateWeights', 2, () => someModel().interpolateWeights(chance(0.3) ? 0.5 : junk())],
  ['model.logitScale', 1, () => someModel().logitScale()],
  ['model.parameterCount', 1, () => someModel().parameterCount()],
  ['model.parameterGroups', 1, () => someModel().parameterGroups()],
  ['model.getters', 1, () => { const model = someModel(); return [model.device, model.modality, model.outputDim, model.precision, model.disposed]; }],
  ['model.save', 4, () => someModel().save(chance(0.1) ? junk() : savePath())],
  ['model.dispose', 1, async () => { someModel().dispose(); await freshModels(); }],
  ['EmbeddingModel constructor', 1, () => new (Object.getPrototypeOf(models.image).constructor)(junk())],
  ['setNumThreads', 2, () => { try { return setNumThreads(junk()); } finally { setNumThreads(1); } }],
  ['loadModel', 3, () => loadModel(chance(0.5) ? pick([imageDir, textDir, workDir, files.missing]) : junk(), chance(0.5) ? {} : mutate({ device: 'cpu', pooling: 'avg', outputDim: 8 }))
    .then((model) => model.dispose())],
  ['public encode', 6, async () => {
    const model = await publicModel;
    return model.encode(chance(0.5) ? [{ pixels: new Uint8Array(27), width: 3, height: 3, channels: 3 }] : pick([[junk()], junk(), [], ['/no/such.png'], [Buffer.from('not an image')]]));
  }],
  ['public encodeBatch', 4, async () => (await publicModel).encodeBatch(anyBatch())],
  ['public save', 2, async () => (await publicModel).save(chance(0.2) ? junkTarget() : join(workDir, 'public', `m${integer(3)}`))],
];
const totalWeight = targets.reduce((sum, [, weight]) => sum + weight, 0);
function pickTarget() {
  let at = rand() * totalWeight;
  for (const target of targets) if ((at -= target[1]) < 0) return target;
  return targets[targets.length - 1];
}

const counts = { calls: 0, resolved: 0, rejected: 0, thrown: 0, hangs: 0, badErrors: [], byTarget: {} };

/** An error users can act on: an Error with a message, and no C++ backtrace in it. */
function checkError(name, error) {
  const message = error instanceof Error ? error.message : undefined;
  if (!message || /frame #\d|Exception raised from/.test(message)) {
    counts.badErrors.push({ target: name, error: String(message ?? error).slice(0, 300) });
  }
}

async function call(name, fn) {
  counts.calls++;
  const entry = (counts.byTarget[name] ??= { calls: 0, resolved: 0, rejected: 0, thrown: 0, hangs: 0 });
  entry.calls++;
  let value;
  try {
    value = fn();
  } catch (error) {
    counts.thrown++;
    entry.thrown++;
    checkError(name, error);
    return;
  }
  let timer;
  const outcome = await Promise.race([
    Promise.resolve(value).then(() => 'resolved', (error) => (checkError(name, error), 'rejected')),
    new Promise((done) => (timer = setTimeout(() => done('hangs'), CALL_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  counts[outcome]++;
  entry[outcome]++;
}

binding.setNumThreads(1);
const started = Date.now();
await freshModels();
publicModel = loadModel(imageDir);
const total = Number(callsArg);
while (counts.calls < total) {
  // A few calls at once, so jobs queue behind each other on the compute thread.
  const wave = [];
  for (let i = 1 + integer(6); i > 0 && counts.calls + wave.length < total; i--) {
    const [name, , fn] = pickTarget();
    wave.push([name, fn]);
  }
  await Promise.all(wave.map(([name, fn]) => call(name, fn)));
  if (chance(0.05)) globalThis.gc?.();
}
counts.seconds = Math.round((Date.now() - started) / 100) / 10;
console.log(JSON.stringify(counts));
process.exit(0);
