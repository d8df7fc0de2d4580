// The onnxruntime-node side of the bench's ORT rows (bench/onnx.ts): a Node process of its own, spoken
// to over JSON lines like the Python peers (pythonPeer.ts starts it with node as the interpreter). It
// loads one ONNX model (scripts/bench/onnx_export.py) into an InferenceSession and encodes the bench's
// inputs as a Node user would, from the inputs the addon gets:
//   text   strings -> the model's own tokenizer (TextTokenizer.encodeBatch, the addon's tokenizer) ->
//          int64 input_ids / attention_mask / token_type_ids -> session.run -> embeddings;
//   image  files -> loadImageBatch with the model's preprocessing (sharp: the code path of
//          model.loadImages) -> uint8 N x H x W x 3 -> float32 N x 3 x H x W scaled and normalised with the
//          model's mean/std in JS -> session.run -> embeddings.
// Timing is the worker's own (performance.now around the work), so neither start-up nor the pipe is timed.
//
//   {"cmd": "encode", "reps": N, "embeddings": true} -> {"seconds": S, "cpu": {...}, "prepareSeconds": P,
//       "runSeconds": R, "rows": N, "dim": D, "embeddings": base64 float32 (when asked)}
//   {"cmd": "info"} / {"cmd": "quit"}
// The first line is {"ready": true, ...}; errors answer {"error": "..."}.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { loadImageBatch, type ImageBatch } from '../lib/data/images.js';
import type { ImagePreprocessing } from '../lib/metadata.js';
import { TextTokenizer } from '../lib/text/tokenizer.js';
import { cpuNow, cpuSince } from './sideBySide.js';

type Json = Record<string, unknown>;

/**
 * uint8 NHWC RGB -> float32 NCHW, (x / 255 - mean) / std per channel, with every step rounded to float32
 * as LibTorch computes it in the addon (x.float().div(255), then (x - mean) / std), so both sides feed the
 * network the same numbers. A 256-entry table per channel: one lookup a value.
 */
function normalisedNchw(batch: ImageBatch, mean: readonly number[], std: readonly number[]): Float32Array {
  const { rows, height, width, pixels } = batch;
  const plane = height * width;
  const tables = [0, 1, 2].map((c) => {
    const table = new Float32Array(256);
    const m = Math.fround(mean[c]!);
    const s = Math.fround(std[c]!);
    for (let v = 0; v < 256; v++) table[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
    return table;
  });
  const [r, g, b] = tables as [Float32Array, Float32Array, Float32Array];
  const out = new Float32Array(rows * 3 * plane);
  for (let n = 0; n < rows; n++) {
    const src = n * plane * 3;
    const dst = n * plane * 3;
    for (let p = 0; p < plane; p++) {
      const i = src + p * 3;
      out[dst + p] = r[pixels[i]!]!;
      out[dst + plane + p] = g[pixels[i + 1]!]!;
      out[dst + 2 * plane + p] = b[pixels[i + 2]!]!;
    }
  }
  return out;
}

function int64(values: Int32Array, dims: number[]): ort.Tensor {
  const wide = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) wide[i] = BigInt(values[i]!);
  return new ort.Tensor('int64', wide, dims);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kind: { type: 'string' },
      onnx: { type: 'string' },
      'model-dir': { type: 'string' },
      inputs: { type: 'string' },
      threads: { type: 'string' },
      'max-length': { type: 'string' },
    },
    strict: true,
  });
  const kind = values.kind;
  if ((kind !== 'text' && kind !== 'image') || !values.onnx || !values['model-dir'] || !values.inputs || !values.threads) {
    throw new Error('usage: onnxWorker.js --kind text|image --onnx FILE --model-dir DIR --inputs FILE.json --threads N [--max-length N]');
  }
  const threads = Number(values.threads);
  const modelDir = values['model-dir'];
  const inputs = JSON.parse(await readFile(values.inputs, 'utf8')) as string[];
  const meta = JSON.parse(await readFile(join(modelDir, 'finetuner.json'), 'utf8')) as { preprocessing?: ImagePreprocessing; text?: { tokenizer: string } };

  ort.env.logLevel = 'error';
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // ORT's defaults, stated: its arena keeps activations between runs, and the pattern plans them.
    enableCpuMemArena: true,
    enableMemPattern: true,
  };
  const loadStarted = performance.now();
  const session = await ort.InferenceSession.create(values.onnx, options);
  const loadSeconds = (performance.now() - loadStarted) / 1000;

  let prepare: () => Promise<Record<string, ort.Tensor>>;
  if (kind === 'text') {
    const file = join(modelDir, meta.text!.tokenizer);
    const maxLength = values['max-length'] === undefined ? undefined : Number(values['max-length']);
    const tokenizer = await TextTokenizer.fromFile(file, maxLength === undefined ? {} : { maxLength });
    const names = session.inputNames;
    prepare = async () => {
      const batch = tokenizer.encodeBatch(inputs);
      const dims = [batch.rows, batch.length];
      const all: Record<string, ort.Tensor> = {
        input_ids: int64(batch.inputIds, dims),
        attention_mask: int64(batch.attentionMask, dims),
        token_type_ids: int64(batch.tokenTypeIds, dims),
      };
      return Object.fromEntries(names.map((n) => [n, all[n]!]));
    };
  } else {
    const prep = meta.preprocessing!;
    prepare = async () => {
      const batch = await loadImageBatch(inputs, prep);
      const data = normalisedNchw(batch, prep.mean, prep.std);
      return { pixels: new ort.Tensor('float32', data, [batch.rows, 3, batch.height, batch.width]) };
    };
  }

  const encode = async (reps: number, withEmbeddings: boolean): Promise<Json> => {
    let prepareSeconds = 0;
    let runSeconds = 0;
    let result = new Float32Array(0);
    let dim = 0;
    const before = cpuNow();
    const t0 = performance.now();
    for (let rep = 0; rep < reps; rep++) {
      const t = performance.now();
      const feeds = await prepare();
      const t1 = performance.now();
      const output = (await session.run(feeds)).embeddings!;
      const t2 = performance.now();
      prepareSeconds += (t1 - t) / 1000;
      runSeconds += (t2 - t1) / 1000;
      dim = output.dims[1]!;
      // Copied out into an array of the caller's, as model.encode hands back a Float32Array of its own.
      result = new Float32Array(output.data as Float32Array);
      output.dispose();
    }
    const seconds = (performance.now() - t0) / 1000;
    const answer: Json = { seconds, cpu: cpuSince(before), prepareSeconds, runSeconds, rows: inputs.length, dim };
    if (withEmbeddings) answer.embeddings = Buffer.from(result.buffer, result.byteOffset, result.byteLength).toString('base64');
    return answer;
  };

  const info: Json = {
    ready: true,
    onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
    node: process.version,
    kind,
    onnx: values.onnx,
    inputs: session.inputNames,
    rows: inputs.length,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    loadSeconds,
  };
  const send = (obj: Json) => process.stdout.write(`${JSON.stringify(obj)}\n`);
  send(info);
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    try {
      const request = JSON.parse(line) as Json;
      if (request.cmd === 'encode') send(await encode(Number(request.reps ?? 1), request.embeddings === true));
      else if (request.cmd === 'info') send(info);
      else if (request.cmd === 'quit') {
        send({ bye: true });
        break;
      } else send({ error: `unknown command ${JSON.stringify(request.cmd)}` });
    } catch (error) {
      send({ error: error instanceof Error ? error.message : String(error) });
    }
  }
  await session.release();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`onnxWorker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
