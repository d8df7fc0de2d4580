// The addon against onnxruntime-node, what a Node user would run instead (transformers.js runs on it), on
// the CPU, end to end from the user's inputs to embeddings, batch 32:
//   ort-bert-encode          bert-base-cased (full size, random weights), 32 texts of 128 tokens, from strings;
//   ort-resnet-encode        resnet50, from 32 image files (JPEG and PNG, 256-400 px);
//   ort-clip-image-encode    CLIP ViT-B-32's image tower, from the same 32 files.
// The ONNX models are exported by /usr/bin/python3 torch (scripts/bench/onnx_export.py) from the same
// exported backbones as the other rows, and must give the addon's fp32 embeddings (max |diff| < 1e-3)
// before anything is timed. The sides, each round in a rotating order (onnxRounds.ts): the addon at its
// default precision ('auto': bf16 on CPUs with AVX512-BF16 or AMX, else fp32), at fp32 where the default
// is not fp32, at int8 for the transformers (resnet50 has no linear layer left to quantize), and
// onnxruntime-node at fp32 (its best options: 2 intra-op threads, graph optimisation 'all', sequential,
// memory arena and pattern on). Goals (issue 13): default/ORT >= 1.3 where the default is bf16, >= 1.0
// elsewhere; fp32/ORT >= 1.0. Also each reduced precision's cosine to the addon's fp32 embeddings of the
// batch, each side's share of the GEMM peak of its precision (scripts/bench/gemm_peak.py, measured in the
// same run), and where each side's time goes (tokenizing or decoding, then the forward).
//
// The addon runs in this process (the bench's child for the 'ort' group), onnxruntime-node in a Node
// process of its own (onnxWorker.ts), as the Python peers do: the two runtimes keep their own thread
// pools (LibTorch's OpenMP team, ORT's intra-op pool, which spins while it waits) and their own
// allocators, so neither's idle threads or heap fragmentation lands on the other's figures, and the
// worker times its own work, so the pipe is never timed. Both sides pay the same decoding: the addon's
// model.encode(files) and the worker's loadImageBatch are the same sharp code.
// Over 400 lines because the three ONNX comparisons share one protocol (export, warm-up, alternating
// rounds, what each side counts) that reads best in one place; the worker and rounds are apart.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { mulberry32 } from '../lib/data/sampler.js';
import { packageRoot } from '../lib/addonLoader.js';
import { loadModel, type LoadModelOptions } from '../lib/loadModel.js';
import type { EmbeddingModel } from '../lib/model.js';
import { BERT_LENGTH, BERT_MODEL, exportedModel as exportBert, glosses, longTexts } from './bert.js';
import { CLIP_LABEL, exportedModel as exportClip } from './clip.js';
import { runAgainstOrt, type AddonSide } from './onnxRounds.js';
import { BENCH_PYTHON, PythonPeer } from './pythonPeer.js';
import { exportedModel as exportResnet, RESNET_MODEL } from './resnet.js';
import { FP32_SUFFIX, INT8_SUFFIX } from './rows.js';
import type { BenchKind, ModelBenchSettings, PreparedBench, RowQuality, SelfRunPhase } from './shared.js';
import type { Precision, ResolvedPrecision } from '../lib/precision.js';
import { cpuNow, cpuSince, median, type BenchSide, type ComparisonResult, type CpuUsage } from './sideBySide.js';

export const ORT_LABEL = 'onnxruntime-node';
export const ORT_ROWS = 32;
/** Sides of the image files written once into the cache (width x height); cycled over the 32 files. */
const IMAGE_SIDES: readonly [number, number][] = [[320, 240], [400, 300], [300, 400], [256, 256], [384, 288], [288, 384], [360, 270], [400, 400]];
/** Bumped when the files' recipe changes, so a cache written by an older one is rewritten. */
const IMAGES_VERSION = 'v1';
/** Untimed preparations (tokenize, or decode) of the batch per addon measurement, for the time split. */
const PREPARE_SAMPLES = 2;
const MAX_ABS_DIFF = 1e-3;

/** Defaults: on 2 idle cores an encode of the batch takes ~2-7 s (bert), ~1-2 s (resnet50), ~1-2 s (ViT-B-32). */
export const ONNX_DEFAULTS = {
  rounds: (quick: boolean) => (quick ? 2 : 5),
  encodeReps: (kind: OnnxKind, quick: boolean) => (kind === 'bert-encode' || quick ? 1 : 2),
};

type OnnxKind = Extract<BenchKind, 'bert-encode' | 'resnet-encode' | 'clip-image-encode'>;

interface RowSpec {
  id: string;
  title: string;
  unit: string;
  exportKind: 'bert' | 'resnet' | 'clip-image';
  workerKind: 'text' | 'image';
  /** The exported backbone directory (exported into the cache on first use, as the other rows do). */
  modelDir(s: ModelBenchSettings, corpus: () => Promise<string[]>): Promise<string>;
  load: LoadModelOptions;
  /** Floating-point operations of one batch's forward (multiply-adds x 2), for the share of the GEMM peak. */
  flopsPerBatch: number;
  /** Whether precision 'int8' changes this model (it quantizes linear layers; a CNN has none left). */
  int8: boolean;
}

/**
 * bert-base at 128 tokens, per token: 12 layers x (4 x 768^2 attention projections + 2 x 768 x 3072
 * feed-forward) = 84.9M multiply-adds, plus attention scores and mixing 12 x 2 x 128 x 768 = 2.4M.
 */
const BERT_FLOPS = 2 * (12 * (4 * 768 ** 2 + 2 * 768 * 3072) + 12 * 2 * 128 * 768) * ORT_ROWS * 128;
/** resnet50 at 224 px: 4.09 G multiply-adds an image (torchvision's model card). */
const RESNET_FLOPS = 2 * 4.09e9 * ORT_ROWS;
/** ViT-B-32's image tower at 224 px: 4.41 G multiply-adds an image (torchvision's vit_b_32 card). */
const VIT_B_32_FLOPS = 2 * 4.41e9 * ORT_ROWS;

const ROWS: Record<OnnxKind, RowSpec> = {
  'bert-encode': {
    id: 'ort-bert-encode',
    title: `bert-base encode from strings (batch ${ORT_ROWS} x ${BERT_LENGTH})`,
    unit: 'sentences/s',
    exportKind: 'bert',
    workerKind: 'text',
    modelDir: async (s, corpus) => exportBert(s.cache, s.log, await corpus()),
    load: { maxLength: BERT_LENGTH },
    flopsPerBatch: BERT_FLOPS,
    int8: true,
  },
  'resnet-encode': {
    id: 'ort-resnet-encode',
    title: `${RESNET_MODEL} encode from image files (batch ${ORT_ROWS})`,
    unit: 'images/s',
    exportKind: 'resnet',
    workerKind: 'image',
    modelDir: (s) => exportResnet(s.cache, s.log),
    load: {},
    flopsPerBatch: RESNET_FLOPS,
    int8: false,
  },
  'clip-image-encode': {
    id: 'ort-clip-image-encode',
    title: `${CLIP_LABEL} image encode from image files (batch ${ORT_ROWS})`,
    unit: 'images/s',
    exportKind: 'clip-image',
    workerKind: 'image',
    modelDir: async (s, corpus) => exportClip(s.cache, s.log, await corpus()),
    load: {},
    flopsPerBatch: VIT_B_32_FLOPS,
    int8: true,
  },
};

/** What a row found besides its rates: for the notes, the JSON report and the table's columns. */
interface RowFindings {
  id: string;
  title: string;
  onnx: { file: string; opset: number | undefined; exportSeconds: number | undefined };
  /** max |ORT - addon fp32| over the batch. */
  maxAbsDiff: number;
  /** Per addon side (by result id): its precision, cosine to fp32, seconds per batch and share of the peak. */
  sides: Record<string, RowQuality & { precision: ResolvedPrecision }>;
  /** Seconds per batch: preparing the inputs (tokenizing, or decoding and resizing), and ORT's parts. */
  split: { addonPrepare: number; ortPrepare: number; ortRun: number; ort: number };
  ortInfo: Record<string, unknown>;
}

/** GFLOP/s of a 2048^3 GEMM per precision on this machine (scripts/bench/gemm_peak.py); null where not measured. */
export type GemmPeaks = Partial<Record<ResolvedPrecision, number>>;

/** Runs scripts/bench/gemm_peak.py with the bench's threads. */
async function measureGemmPeaks(threads: number, log: (m: string) => void): Promise<GemmPeaks> {
  const python = process.env.FINETUNER_PYTHON ?? BENCH_PYTHON;
  const script = join(packageRoot(), 'scripts', 'bench', 'gemm_peak.py');
  const answer = await runPython(python, script, ['--threads', String(threads)]);
  const peaks: GemmPeaks = {};
  for (const precision of ['fp32', 'bf16', 'int8'] as const) {
    if (typeof answer[precision] === 'number') peaks[precision] = answer[precision] as number;
  }
  log(`GEMM peak, 2048^3, ${threads} threads: ${Object.entries(peaks).map(([p, g]) => `${p} ${g!.toFixed(0)} GFLOP/s`).join(', ')}`);
  return peaks;
}

function sha(...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  return hash.digest('hex').slice(0, 16);
}

/** Runs scripts/bench/onnx_export.py; resolves to its JSON line. */
function runExport(args: string[]): Promise<Record<string, unknown>> {
  const python = process.env.FINETUNER_PYTHON ?? BENCH_PYTHON;
  return runPython(python, join(packageRoot(), 'scripts', 'bench', 'onnx_export.py'), args);
}

/** Runs a Python script of scripts/bench; resolves to the JSON of its last stdout line. */
function runPython(python: string, script: string, args: string[]): Promise<Record<string, unknown>> {
  const child = spawn(python, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    child.on('error', (error) => reject(new Error(`${python} ${script}: cannot start: ${error.message}`)));
    child.on('close', (code) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code === 0) {
        try {
          resolve(JSON.parse(line) as Record<string, unknown>);
          return;
        } catch {
          // reported below
        }
      }
      const tail = stderr.split('\n').filter((l) => l.trim() && !/TracerWarning|^\s/.test(l)).slice(-8).join('\n  ');
      reject(new Error(`${python} ${script} ${args.join(' ')} failed (exit code ${code})${tail ? `:\n  ${tail}` : ''}`));
    });
  });
}

/**
 * The row's ONNX model, exported once per cache from the backbone's model.pt; exported again when that
 * file or the export scripts change (a stamp beside the .onnx records both).
 */
async function onnxModel(cache: string, spec: RowSpec, modelDir: string, log: (m: string) => void): Promise<RowFindings['onnx']> {
  const file = join(cache, 'onnx', `${spec.exportKind}-${modelDir.split('/').pop()!}.onnx`);
  const stampFile = `${file}.stamp.json`;
  const folder = join(packageRoot(), 'scripts', 'bench');
  const sources = await Promise.all(['onnx_export.py', 'bert_eager.py', 'clip_eager.py'].map((f) => readFile(join(folder, f))));
  const weights = await stat(join(modelDir, 'model.pt'));
  const stamp = { scripts: sha(...sources), model: `${weights.size}-${Math.round(weights.mtimeMs)}` };
  if (existsSync(file) && existsSync(stampFile)) {
    try {
      const saved = JSON.parse(await readFile(stampFile, 'utf8')) as typeof stamp & { opset?: number };
      if (saved.scripts === stamp.scripts && saved.model === stamp.model) return { file, opset: saved.opset, exportSeconds: undefined };
    } catch {
      // export again
    }
  }
  log(`exporting ${modelDir} to ONNX (${spec.exportKind}) with ${process.env.FINETUNER_PYTHON ?? BENCH_PYTHON}: ${file}`);
  const t = performance.now();
  const answer = await runExport(['--kind', spec.exportKind, '--model-dir', modelDir, '--out', file]);
  const exportSeconds = (performance.now() - t) / 1000;
  const opset = typeof answer.opset === 'number' ? answer.opset : undefined;
  await writeFile(stampFile, `${JSON.stringify({ ...stamp, opset, torch: answer.torch }, null, 2)}\n`);
  log(`exported ${file} (opset ${opset}, ${((answer.bytes as number) / 2 ** 20).toFixed(0)} MiB) in ${exportSeconds.toFixed(1)} s`);
  return { file, opset, exportSeconds };
}

/**
 * 32 image files of photo-like sizes (256-400 px a side, landscape, portrait and square), three in four
 * JPEG (quality 90) and one in four PNG: smooth colour fields with texture, seeded. Written once into
 * the cache; both sides read the same files.
 */
async function imageFiles(cache: string, log: (m: string) => void): Promise<string[]> {
  const dir = join(cache, 'ort-images');
  const names = Array.from({ length: ORT_ROWS }, (_, i) => `image-${String(i).padStart(2, '0')}.${i % 4 === 3 ? 'png' : 'jpg'}`);
  const files = names.map((n) => join(dir, n));
  const stampFile = join(dir, 'stamp.txt');
  const stamp = `${IMAGES_VERSION} ${names.join(' ')}`;
  if (existsSync(stampFile) && (await readFile(stampFile, 'utf8')).trim() === stamp && files.every((f) => existsSync(f))) return files;
  log(`writing ${ORT_ROWS} image files into ${dir}`);
  await mkdir(dir, { recursive: true });
  const random = mulberry32(2024);
  for (const [i, file] of files.entries()) {
    const [width, height] = IMAGE_SIDES[i % IMAGE_SIDES.length]!;
    const pixels = new Uint8Array(width * height * 3);
    const f = Array.from({ length: 12 }, () => random());
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < 3; c++) {
          const wave = Math.sin((x * f[c]! + y * f[c + 3]!) * 0.04 + f[c + 6]! * 6.28) * Math.cos((x - y) * f[c + 9]! * 0.03);
          pixels[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + 100 * wave + (random() - 0.5) * 24)));
        }
      }
    }
    const image = sharp(pixels, { raw: { width, height, channels: 3 } });
    const encoded = await (file.endsWith('.png') ? image.png() : image.jpeg({ quality: 90 })).toBuffer();
    await writeFile(`${file}.tmp`, encoded);
    await rename(`${file}.tmp`, file);
  }
  await writeFile(stampFile, `${stamp}\n`);
  return files;
}

function decodeEmbeddings(base64: unknown): Float32Array {
  if (typeof base64 !== 'string') throw new Error('the onnxruntime worker answered without embeddings');
  const bytes = Buffer.from(base64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`embeddings of different sizes: ${a.length} and ${b.length} values`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Row-wise cosine similarity of two rows x dim matrices: mean and minimum over the rows. */
function cosines(a: Float32Array, b: Float32Array, dim: number): { meanCosine: number; minCosine: number } {
  let sum = 0;
  let min = Infinity;
  const rows = a.length / dim;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let c = r * dim; c < (r + 1) * dim; c++) {
      dot += a[c]! * b[c]!;
      na += a[c]! * a[c]!;
      nb += b[c]! * b[c]!;
    }
    const cosine = dot / Math.sqrt(na * nb);
    sum += cosine;
    min = Math.min(min, cosine);
  }
  return { meanCosine: sum / rows, minCosine: min };
}

function ortSeconds(response: Record<string, unknown>, key: string): number {
  const s = response[key];
  if (typeof s !== 'number' || !(s >= 0)) throw new Error(`the onnxruntime worker answered without ${key}: ${JSON.stringify(response).slice(0, 300)}`);
  return s;
}

/** The addon sides of a row: the default precision, fp32 where the default is not fp32, int8 where it applies. */
function addonPrecisions(spec: RowSpec, defaultPrecision: ResolvedPrecision): { suffix: string; precision: Precision; label: string }[] {
  const sides = [{ suffix: '', precision: 'auto' as Precision, label: `addon default (${defaultPrecision})` }];
  if (defaultPrecision !== 'fp32') sides.push({ suffix: FP32_SUFFIX, precision: 'fp32', label: 'addon fp32' });
  if (spec.int8) sides.push({ suffix: INT8_SUFFIX, precision: 'int8', label: 'addon int8' });
  return sides;
}

/** One row: loads its models and the worker, checks, measures, and closes them again. */
async function runRow(
  kind: OnnxKind,
  s: ModelBenchSettings & { rounds: number; encodeRepsFlag?: number },
  corpus: () => Promise<string[]>,
  peaks: () => Promise<GemmPeaks>,
  log: (m: string) => void,
) {
  const spec = ROWS[kind];
  const reps = s.encodeRepsFlag ?? ONNX_DEFAULTS.encodeReps(kind, s.quick);
  const modelDir = await spec.modelDir(s, corpus);
  const onnx = await onnxModel(s.cache, spec, modelDir, log);

  const models: EmbeddingModel[] = [];
  let worker: PythonPeer | undefined;
  const killWorker = () => worker?.kill();
  try {
    // The default: loadModel with no precision option, as a user who keeps the defaults runs it.
    const byDefault = await loadModel(modelDir, { device: 'cpu', ...spec.load });
    models.push(byDefault);
    const wanted = addonPrecisions(spec, byDefault.precision);
    log(`${spec.id}: loading ${modelDir} in the addon at ${wanted.map((w) => w.label).join(', ')} (${s.threads} threads)`);
    const addon = [byDefault];
    for (const side of wanted.slice(1)) {
      const model = await loadModel(modelDir, { device: 'cpu', precision: side.precision, ...spec.load });
      models.push(model);
      addon.push(model);
    }
    const fp32 = addon.find((m) => m.precision === 'fp32')!;

    const inputs = spec.workerKind === 'text' ? longTexts(byDefault, await corpus(), 0, ORT_ROWS).texts : await imageFiles(s.cache, log);
    const inputsFile = join(s.cache, `ort-inputs-${kind}.json`);
    await writeFile(inputsFile, JSON.stringify(inputs));
    if (spec.workerKind === 'text') {
      const batch = byDefault.tokenize(inputs);
      if (batch.rows !== ORT_ROWS || batch.length !== BERT_LENGTH || batch.lengths.some((n) => n !== BERT_LENGTH)) {
        throw new Error(`bench: the ${spec.id} batch is ${batch.rows} x ${batch.length}, expected ${ORT_ROWS} texts of ${BERT_LENGTH} tokens`);
      }
    }

    log(`${spec.id}: starting the onnxruntime-node worker (${s.threads} intra-op threads)`);
    worker = await PythonPeer.start({
      python: process.execPath,
      script: fileURLToPath(new URL('./onnxWorker.js', import.meta.url)),
      args: [
        '--kind', spec.workerKind,
        '--onnx', onnx.file,
        '--model-dir', modelDir,
        '--inputs', inputsFile,
        '--threads', String(s.threads),
        ...(spec.workerKind === 'text' ? ['--max-length', String(BERT_LENGTH)] : []),
      ],
      startTimeoutMs: 300_000,
    });
    const ort = worker;
    process.once('exit', killWorker);

    // The same weights and inputs: ORT must give the addon's fp32 embeddings before anything is timed.
    // These first encodes are warm-ups too (the addon freezes its inference modules).
    const encoded = async (model: EmbeddingModel) => (await model.encode(inputs)).data;
    const e32 = await encoded(fp32);
    const answer = await ort.request({ cmd: 'encode', reps: 1, embeddings: true });
    const diff = maxAbsDiff(decodeEmbeddings(answer.embeddings), e32);
    const dim = fp32.outputDim;
    log(`${spec.id}: onnxruntime-node and the addon (fp32) agree to ${diff.toExponential(2)} (max |diff| over ${ORT_ROWS} x ${dim})`);
    if (!(diff < MAX_ABS_DIFF)) throw new Error(`bench: ${spec.id}: onnxruntime-node's embeddings differ from the addon's fp32 ones by up to ${diff}: not the same computation`);
    const sides: RowFindings['sides'] = {};
    for (const [i, model] of addon.entries()) {
      const id = `${spec.id}${wanted[i]!.suffix}`;
      sides[id] = { precision: model.precision };
      if (model.precision !== 'fp32') {
        sides[id] = { ...sides[id]!, ...cosines(await encoded(model), e32, dim) };
        log(`${spec.id}: addon ${model.precision} vs fp32: mean cosine ${sides[id]!.meanCosine!.toFixed(5)}, min ${sides[id]!.minCosine!.toFixed(5)}`);
      }
    }

    const addonPrepare: number[] = [];
    const prepareOnce = async (model: EmbeddingModel) => {
      const t = performance.now();
      if (spec.workerKind === 'text') model.tokenize(inputs);
      else await model.loadImages(inputs);
      addonPrepare.push((performance.now() - t) / 1000);
    };
    const addonSide = (model: EmbeddingModel, label: string): BenchSide => ({
      label,
      // After the agreement check: TorchScript's profiling run, then its first optimised run.
      warmUp: s.quick ? 1 : 2,
      async measure() {
        for (let i = 0; i < PREPARE_SAMPLES; i++) await prepareOnce(model);
        const before = cpuNow();
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) await model.encode(inputs);
        return { seconds: (performance.now() - t0) / 1000, units: reps * ORT_ROWS, cpu: cpuSince(before) };
      },
    });
    const ortPrepare: number[] = [];
    const ortRun: number[] = [];
    const ortSide: BenchSide = {
      label: ORT_LABEL,
      // After the agreement check's run (which sized ORT's memory arena).
      warmUp: s.quick ? 0 : 1,
      async measure() {
        const response = await ort.request({ cmd: 'encode', reps });
        ortPrepare.push(ortSeconds(response, 'prepareSeconds') / reps);
        ortRun.push(ortSeconds(response, 'runSeconds') / reps);
        return { seconds: ortSeconds(response, 'seconds'), units: reps * ORT_ROWS, cpu: response.cpu as CpuUsage | undefined };
      },
    };
    const addonSides: AddonSide[] = addon.map((model, i) => ({
      id: `${spec.id}${wanted[i]!.suffix}`,
      title: i === 0 ? spec.title : `${spec.title}, addon in ${model.precision}`,
      side: addonSide(model, wanted[i]!.label),
    }));
    const results = await runAgainstOrt({ id: spec.id, unit: spec.unit, addon: addonSides, ort: ortSide }, s.rounds, log);
    const perBatch = (r: ComparisonResult, side: 'a' | 'b') => median(r.rounds.map((round) => round[side].seconds / reps));
    const peak = await peaks();
    for (const r of results) {
      const side = sides[r.id]!;
      side.addonSeconds = perBatch(r, 'a');
      side.ortSeconds = perBatch(r, 'b');
      const gflops = peak[side.precision];
      if (gflops !== undefined) {
        side.peakGflops = gflops;
        side.peakShare = spec.flopsPerBatch / side.addonSeconds / 1e9 / gflops;
      }
    }
    const findings: RowFindings = {
      id: spec.id,
      title: spec.title,
      onnx,
      maxAbsDiff: diff,
      sides,
      split: { addonPrepare: median(addonPrepare), ortPrepare: median(ortPrepare), ortRun: median(ortRun), ort: perBatch(results[0]!, 'b') },
      ortInfo: ort.info,
    };
    return { results, findings };
  } finally {
    for (const model of models) model.dispose();
    if (worker) await worker.close().catch(() => undefined);
    process.off('exit', killWorker);
  }
}

function ms(seconds: number): string {
  return seconds < 1 ? `${(seconds * 1000).toFixed(0)} ms` : `${seconds.toFixed(2)} s`;
}

export async function prepareOnnxBench(s: ModelBenchSettings & { rounds: number; encodeRepsFlag?: number }): Promise<PreparedBench> {
  let corpusPromise: Promise<string[]> | undefined;
  const corpus = () => (corpusPromise ??= glosses());
  let peaksPromise: Promise<GemmPeaks> | undefined;
  const peaks = () => (peaksPromise ??= measureGemmPeaks(s.threads, s.log));
  const findings: RowFindings[] = [];
  const kinds = (Object.keys(ROWS) as OnnxKind[]).filter((k) => s.kinds.has(k));
  // Read by the report after the rows ran: the worker tells the onnxruntime version.
  const settings: Record<string, unknown> = {
    onnxruntime: undefined,
    models: `${BERT_MODEL}, ${RESNET_MODEL}, ${CLIP_LABEL} image tower (full size, random init; the same exports as the rows above)`,
    batch: `${ORT_ROWS} texts of ${BERT_LENGTH} tokens (from strings); ${ORT_ROWS} image files, 256-400 px, JPEG and PNG (from files)`,
    sides:
      'the addon at its default precision (loadModel with no options), at fp32 where that is not the default, and at int8 for ' +
      'the transformers (one instance each, this process; from strings or files: tokenizing, or decoding and resizing, counted); ' +
      'onnxruntime-node fp32 in a Node process of its own (from the same strings or files: the same tokenizer or sharp code, counted)',
    sessionOptions: `intraOpNumThreads ${s.threads}, interOpNumThreads 1, graphOptimizationLevel all, sequential, memory arena and pattern on; ONNX exported by torch.onnx (opset 17)`,
    gemmPeak: 'scripts/bench/gemm_peak.py: 2048^3 torch.mm (fp32: OpenBLAS; bf16: oneDNN) and quantized::linear_dynamic (int8, oneDNN), best of 5, same threads',
    rounds: s.rounds,
    encodeRepsPerRound: s.encodeRepsFlag ?? 'bert 1, images 2 (--quick 1)',
  };
  const phases: SelfRunPhase[] = kinds.map((kind) => ({
    ids: [ROWS[kind].id, `${ROWS[kind].id}${FP32_SUFFIX}`, `${ROWS[kind].id}${INT8_SUFFIX}`],
    rounds: s.rounds,
    async run(log) {
      const row = await runRow(kind, s, corpus, peaks, log);
      findings.push(row.findings);
      settings.onnxruntime = `${String(row.findings.ortInfo.onnxruntime)} (onnxruntime-node, CPU execution provider)`;
      return row.results;
    },
  }));
  return {
    phases,
    settings,
    python: {},
    finish() {
      const notes: string[] = [];
      for (const f of findings) {
        notes.push(`${f.id}: before timing, onnxruntime-node's embeddings of the batch match the addon's fp32 ones to ${f.maxAbsDiff.toExponential(1)} (max |diff|).`);
        const what = f.id === 'ort-bert-encode' ? 'tokenizing' : 'decoding and resizing';
        const sp = f.split;
        const sides = Object.values(f.sides).map((side) => `addon ${side.precision} ${ms(side.addonSeconds!)}`).join(', ');
        notes.push(
          `${f.id} time per batch: ${sides} (${what} ${ms(sp.addonPrepare)} of each); ` +
            `onnxruntime-node ${ms(sp.ort)} = ${what} and converting ${ms(sp.ortPrepare)} + session.run ${ms(sp.ortRun)}.`,
        );
        const fp32 = Object.values(f.sides).find((side) => side.precision === 'fp32');
        const int8 = Object.values(f.sides).find((side) => side.precision === 'int8');
        if (fp32 && int8) notes.push(`${f.id}: int8 encodes ${(fp32.addonSeconds! / int8.addonSeconds!).toFixed(2)}x as fast as fp32 (goal for bert-base >= 2x).`);
      }
      const data: Record<string, unknown> = {};
      for (const f of findings) data[f.id] = f;
      const quality = Object.fromEntries(findings.flatMap((f) => Object.entries(f.sides)));
      return { notes, data, quality };
    },
    async close() {
      // Each row closes its own models and worker.
    },
  };
}
