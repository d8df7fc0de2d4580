// ONNX export of a saved model (model.exportOnnx, `finetuner export-onnx`): the conversion itself runs in
// Python (scripts/export_torchscript/onnx_export.py: torch.onnx exists only there), on the saved model's
// model.pt, so the ONNX graph is the whole embedding model (trunk, pooling, projection, normalisation).
// Here: which files an export writes, the preprocessing JSON that says how to feed them, and writing them
// safely: every file is written into a staging folder beside the output first and renamed into place only
// when all succeeded, and a file already there is replaced only if an earlier export of ours wrote it.
import { copyFile, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { DEFAULT_PYTHON, checkPython, packageRoot, runPythonScript } from './export.js';
import { METADATA_FILE, isSavedModel, readModelDirMetadata, type EmbeddingMetadata } from './metadata.js';
import { insideFolder, requireRegularFile } from './jsonFile.js';
import { checkPathText, processAlive } from './outputDir.js';

export const ONNX_FORMAT = 'finetuner-onnx';
export const ONNX_FORMAT_VERSION = 1;
const ERROR_PREFIX = 'onnx_export: error: ';
const TOKENIZER_FILE = 'tokenizer.json';

export interface OnnxExportOptions {
  /** Python interpreter with torch. Default: $FINETUNER_PYTHON, else /usr/bin/python3. */
  python?: string;
  /** ONNX opset (default 17, or the highest the installed torch supports below it). */
  opset?: number;
  /** Called with each progress line of the exporter. */
  onProgress?: (line: string) => void;
}

/** The files an export wrote (absolute paths). */
export interface OnnxExportResult {
  /** Image and CLIP models: the image encoder (input pixel_values). */
  image?: string;
  /** Text and CLIP models: the text encoder (inputs input_ids, attention_mask). */
  text?: string;
  /** Text and CLIP models: the Hugging Face tokenizer.json. */
  tokenizer?: string;
  /** How to prepare the inputs: OUT without .onnx + '.preprocessing.json'. */
  preprocessing: string;
}

/** Where each file of an export to `out` goes: CLIP (two towers) writes OUT-image.onnx and OUT-text.onnx. */
export function onnxExportFiles(out: string, modality: EmbeddingMetadata['modality'], hasTokenizer: boolean): OnnxExportResult {
  const file = resolve(out);
  const stem = file.replace(/\.onnx$/i, ''); // callers require the extension
  const files: OnnxExportResult = { preprocessing: `${stem}.preprocessing.json` };
  if (modality === 'image') files.image = file;
  else if (modality === 'text') files.text = file;
  else Object.assign(files, { image: `${stem}-image.onnx`, text: `${stem}-text.onnx` });
  if (modality !== 'image' && hasTokenizer) files.tokenizer = join(dirname(file), TOKENIZER_FILE);
  return files;
}

/** The preprocessing JSON: everything a runtime needs to prepare inputs as model.encode does. */
function preprocessingJson(meta: EmbeddingMetadata, files: OnnxExportResult, opset: number | undefined): object {
  const name = (file: string | undefined) => file && basename(file);
  const image = meta.preprocessing && {
    input: 'pixel_values',
    dtype: 'float32',
    layout: 'NCHW',
    channels: 'RGB',
    height: meta.preprocessing.crop,
    width: meta.preprocessing.crop,
    // As finetuner does it: shorter side resized to `resize`, centre crop of `crop`, pixels / 255, then
    // (x - mean) / std per channel.
    resize: meta.preprocessing.resize,
    crop: meta.preprocessing.crop,
    interpolation: meta.preprocessing.interpolation,
    rescale: 1 / 255,
    mean: meta.preprocessing.mean,
    std: meta.preprocessing.std,
  };
  const text = meta.text && {
    inputs: ['input_ids', 'attention_mask'],
    dtype: 'int64',
    tokenizer: name(files.tokenizer) ?? null,
    maxLength: meta.text.maxLength,
    lowercase: meta.text.lowercase,
    padTokenId: meta.text.padTokenId,
    padding: 'right',
    // finetuner encodes single texts: their token_type_ids are all 0, and the graph supplies them.
    tokenTypeIds: 'zeros, inside the graph',
  };
  return {
    format: ONNX_FORMAT,
    formatVersion: ONNX_FORMAT_VERSION,
    name: meta.name,
    modality: meta.modality,
    files: { image: name(files.image), text: name(files.text), tokenizer: name(files.tokenizer) },
    output: { name: 'embeddings', dtype: 'float32', shape: ['batch', meta.outputDim], normalized: meta.normalize },
    pooling: meta.pooling,
    ...(image ? { image } : {}),
    ...(text ? { text } : {}),
    opset: opset ?? null,
  };
}

/** Base names an earlier export of ours to the same OUT wrote (from its preprocessing JSON), else none. */
async function filesOfEarlierExport(preprocessing: string): Promise<Set<string>> {
  try {
    const json = JSON.parse(await readFile(preprocessing, 'utf8')) as { format?: unknown; files?: Record<string, unknown> };
    if (json.format !== ONNX_FORMAT) return new Set();
    return new Set(Object.values(json.files ?? {}).filter((f): f is string => typeof f === 'string'));
  } catch {
    return new Set();
  }
}

/** Refuses to replace a file we did not write (an identical tokenizer.json is harmless). */
async function checkTargets(files: OnnxExportResult, tokenizerSource: string | undefined, option: string): Promise<void> {
  const ours = await filesOfEarlierExport(files.preprocessing);
  const preprocessingIsOurs = ours.size > 0;
  for (const file of [files.image, files.text, files.tokenizer, files.preprocessing]) {
    if (file === undefined) continue;
    let info;
    try {
      info = await lstat(file);
    } catch {
      continue; // absent
    }
    if (!info.isFile()) throw new Error(`${option}: ${file} exists and is not a regular file; choose another output path`);
    if (file === files.preprocessing ? preprocessingIsOurs : ours.has(basename(file))) continue;
    if (file === files.tokenizer && tokenizerSource !== undefined) {
      const [a, b] = await Promise.all([readFile(file), readFile(tokenizerSource)]);
      if (a.equals(b)) continue;
    }
    throw new Error(`${option}: ${file} exists and was not written by a finetuner ONNX export; it would be replaced, so choose another output path`);
  }
}

/** Removes staging folders of this output that a killed export left (their process is gone). */
async function removeDeadStaging(outDir: string, prefix: string): Promise<void> {
  for (const entry of await readdir(outDir)) {
    const pid = entry.startsWith(prefix) ? Number(/^(\d+)-/.exec(entry.slice(prefix.length))?.[1]) : NaN;
    if (Number.isSafeInteger(pid) && !processAlive(pid)) await rm(join(outDir, entry), { recursive: true, force: true });
  }
}

/**
 * Exports the saved model in `modelDir` (model.save / fit output) to ONNX at `out`, with the tokenizer and
 * the preprocessing JSON beside it. Resolves to the files written.
 */
export async function exportOnnxFromDir(modelDir: string, out: string, options: OnnxExportOptions = {}, option = 'exportOnnx: path'): Promise<OnnxExportResult> {
  checkPathText(out, option);
  if (!/\.onnx$/i.test(out)) throw new Error(`${option} must name a .onnx file, got ${JSON.stringify(out)}`);
  if (options.opset !== undefined && !(Number.isSafeInteger(options.opset) && options.opset >= 9)) {
    throw new TypeError(`exportOnnx: option "opset" must be an integer of at least 9, got ${JSON.stringify(options.opset)}`);
  }
  const meta = await readModelDirMetadata(modelDir);
  if (!isSavedModel(meta)) {
    throw new Error(`${join(modelDir, METADATA_FILE)} is an exported backbone, not a saved model: load it with loadModel and call model.exportOnnx`);
  }
  // Paths from finetuner.json stay inside the model's folder (docs/DESIGN.md, safety rules).
  const metadataFile = join(modelDir, METADATA_FILE);
  const modelFile = await requireRegularFile(insideFolder(modelDir, meta.model, 'model', metadataFile), `${metadataFile}: field "model" names`);
  const tokenizerSource = meta.text?.tokenizer
    ? await requireRegularFile(insideFolder(modelDir, meta.text.tokenizer, 'text.tokenizer', metadataFile), `${metadataFile}: field "text.tokenizer" names`)
    : undefined;
  const files = onnxExportFiles(out, meta.modality, tokenizerSource !== undefined);
  const outDir = dirname(files.preprocessing);
  await mkdir(outDir, { recursive: true }).catch((error: Error) => {
    throw new Error(`${option}: cannot create the folder ${outDir}: ${error.message}`, { cause: error });
  });
  await checkTargets(files, tokenizerSource, option);

  const python = options.python ?? process.env.FINETUNER_PYTHON ?? DEFAULT_PYTHON;
  await checkPython(python);
  const stagingPrefix = `.${basename(files.preprocessing)}.finetuner-staging-`;
  await removeDeadStaging(outDir, stagingPrefix);
  const staging = await mkdtemp(join(outDir, `${stagingPrefix}${process.pid}-`));
  try {
    const staged = (file: string) => join(staging, basename(file));
    const args = [join(packageRoot(), 'scripts', 'export_torchscript', 'onnx_export.py'), '--model-pt', resolve(modelFile)];
    if (files.image) args.push('--image', staged(files.image), '--image-size', String(meta.preprocessing!.crop));
    if (files.text) args.push('--text', staged(files.text));
    if (options.opset !== undefined) args.push('--opset', String(options.opset));
    const stdout = await runPythonScript(python, args, { what: `ONNX export of ${meta.name}`, model: meta.name, errorPrefix: ERROR_PREFIX, onProgress: options.onProgress });
    // The script's last stdout line is {"ok":true,"opset":N}.
    const opset = (JSON.parse(stdout.trim().split('\n').pop() || '{}') as { opset?: number }).opset;
    if (files.tokenizer) await copyFile(tokenizerSource!, staged(files.tokenizer));
    await writeFile(staged(files.preprocessing), `${JSON.stringify(preprocessingJson(meta, files, opset), null, 2)}\n`);
    // The preprocessing JSON last: it is what marks the other files as ours.
    for (const file of [files.tokenizer, files.image, files.text, files.preprocessing]) {
      if (file !== undefined) await rename(staged(file), file);
    }
    return files;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * model.exportOnnx: the model as it is in memory (fine-tuned or not) is saved to a temporary folder, and
 * that saved model exported, so what is exported is exactly what model.save would write.
 */
export async function exportModelOnnx(
  model: { save(dir: string): Promise<void> }, out: string, options: OnnxExportOptions = {}, option = 'exportOnnx: path',
): Promise<OnnxExportResult> {
  checkPathText(out, option);
  if (!/\.onnx$/i.test(out)) throw new Error(`${option} must name a .onnx file, got ${JSON.stringify(out)}`);
  const temp = await mkdtemp(join(tmpdir(), 'finetuner-onnx-'));
  try {
    const dir = join(temp, 'model');
    await model.save(dir);
    return await exportOnnxFromDir(dir, out, options, option);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
