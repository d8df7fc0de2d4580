// exportModel(): runs the Python exporter (scripts/export_torchscript) that turns a torchvision model or a
// Hugging Face text encoder (BERT, DistilBERT) into DIR/model.pt + DIR/finetuner.json (+ DIR/tokenizer.json
// for text). Python is needed for this step only; everything after it (head removal, training, encoding)
// runs in the native addon.

import { requireAvailable } from './registry.js';
import { execFile, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { readMetadata, type BackboneMetadata } from './metadata.js';

export type { BackboneMetadata } from './metadata.js';

/** Debian's interpreter: the one python3-torch and python3-torchvision install into. */
export const DEFAULT_PYTHON = '/usr/bin/python3';
export const TORCH_INSTALL_COMMAND = 'apt-get install -y python3-torch python3-torchvision';

export interface ExportOptions {
  /** Directory to write model.pt and finetuner.json into; created if needed. */
  outDir: string;
  /**
   * Image models: a torchvision checkpoint (state_dict saved with torch.save), e.g. resnet50-0676ba61.pth.
   * Text models: a Hugging Face model folder (config.json, model.safetensors or pytorch_model.bin, and
   * usually tokenizer.json).
   */
  weights?: string;
  /** Seeded random initialisation instead of a checkpoint. Exclusive with `weights`. */
  randomInit?: boolean;
  /** 'full' (default): the published architecture; 'tiny': a small one of the same family, for tests. */
  size?: 'full' | 'tiny';
  /** Seed for `randomInit` (default 0). */
  seed?: number;
  /**
   * Text models: a Hugging Face tokenizer.json copied next to model.pt (default: the one in the `weights`
   * folder). Needed to encode strings after a random-init export; with size 'tiny' it also sets the
   * vocabulary size.
   */
  tokenizer?: string;
  /** Text models, `randomInit` with size 'tiny' only: rows of the token embedding table (default: the tokenizer's, else 1000). */
  vocabSize?: number;
  /** Python interpreter with torch and torchvision. Default: $FINETUNER_PYTHON, else /usr/bin/python3. */
  python?: string;
  /** Called with each progress line the exporter prints (its stderr). */
  onProgress?: (line: string) => void;
}

/** The exporter failed: `message` holds its error line; `exitCode` is 2 for bad usage, 1 otherwise. */
export class ExportError extends Error {
  constructor(
    message: string,
    readonly model: string,
    readonly exitCode: number | null,
    /** The last lines the exporter wrote to stderr. */
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ExportError';
  }
}

const ERROR_PREFIX = 'export_torchscript: error: ';
const STDERR_LINES_KEPT = 40;

/** The package root: the nearest directory above this file (lib/ or dist/) holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find finetuner's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function exporterScript(): string {
  const script = join(packageRoot(), 'scripts', 'export_torchscript');
  if (!existsSync(join(script, '__main__.py'))) throw new Error(`the exporter is missing: ${script}/__main__.py not found`);
  return script;
}

// One successful check per interpreter per process: importing torch costs about a second.
const checkedPythons = new Map<string, Promise<void>>();

/** Resolves if `python` exists and can import torch and torchvision; otherwise says how to install them. */
export function checkPython(python: string): Promise<void> {
  let check = checkedPythons.get(python);
  if (!check) {
    check = runPythonCheck(python);
    checkedPythons.set(python, check);
    check.catch(() => checkedPythons.delete(python)); // retry after the user installs the packages
  }
  return check;
}

function runPythonCheck(python: string): Promise<void> {
  const hint = `install them with: ${TORCH_INSTALL_COMMAND} (or point FINETUNER_PYTHON at a Python that has them)`;
  if (isAbsolute(python) && !existsSync(python)) {
    return Promise.reject(new Error(`Python for model export not found at ${python}: python3, torch and torchvision are needed; ${hint}`));
  }
  return new Promise((resolvePromise, reject) => {
    execFile(python, ['-c', 'import torch, torchvision'], { timeout: 120_000 }, (err, _stdout, stderr) => {
      if (!err) return resolvePromise();
      const code = (err as NodeJS.ErrnoException).code;
      const reason =
        code === 'ENOENT'
          ? 'not found'
          : (String(stderr).trim().split('\n').pop() ?? '') || err.message;
      reject(new Error(`${python} cannot import torch and torchvision (${reason}); ${hint}`));
    });
  });
}

export interface PythonRunOptions {
  /** What runs, for messages: "export of resnet50". */
  what: string;
  /** ExportError's `model`. */
  model: string;
  /** The script's error line starts with this; the rest of the line is the rejection's message. */
  errorPrefix: string;
  onProgress?: (line: string) => void;
}

/**
 * Runs a Python script as a child process (off the event loop) and resolves to its stdout. A non-zero exit
 * rejects with an ExportError holding the script's error line (or its last stderr line); a throwing
 * onProgress kills the script and is what the promise rejects with.
 */
export function runPythonScript(python: string, args: readonly string[], options: PythonRunOptions): Promise<string> {
  const { what, model, errorPrefix, onProgress } = options;
  return new Promise<string>((resolvePromise, reject) => {
    const child = spawn(python, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // No __pycache__ in the package directory, which may be read-only once installed.
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
    });
    const stderrLines: string[] = [];
    let out = '';
    let callbackError: unknown;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const stderrDone = new Promise<void>((done) => {
      const lines = createInterface({ input: child.stderr, crlfDelay: Infinity });
      lines.on('line', (line) => {
        stderrLines.push(line);
        if (stderrLines.length > STDERR_LINES_KEPT) stderrLines.shift();
        if (!onProgress || callbackError !== undefined) return;
        try {
          onProgress(line);
        } catch (e) {
          callbackError = e; // a throwing callback ends the script and is what the promise rejects with
          child.kill();
        }
      });
      lines.on('close', done);
    });
    child.on('error', (e) => reject(new ExportError(`${what} failed: cannot run ${python}: ${e.message}`, model, null, '')));
    child.on('close', (code, signal) => {
      void stderrDone.then(() => {
        if (callbackError !== undefined) return reject(callbackError);
        const stderr = stderrLines.join('\n');
        if (code === 0) return resolvePromise(out);
        const errorLine = [...stderrLines].reverse().find((l) => l.startsWith(errorPrefix));
        const detail = errorLine
          ? errorLine.slice(errorPrefix.length)
          : (stderrLines.filter((l) => l.trim()).pop() ?? '') +
            (signal ? ` (killed by ${signal})` : ` (exit code ${code})`);
        reject(new ExportError(`${what} failed: ${detail}`, model, code, stderr));
      });
    });
  });
}

function validate(name: unknown, opts: ExportOptions | undefined): void {
  const bad = (option: string, expected: string, got: unknown): never => {
    throw new TypeError(`exportModel: ${option} must be ${expected}, got ${JSON.stringify(got) ?? String(got)}`);
  };
  if (typeof name !== 'string' || name.length === 0) bad('name', 'a non-empty model name', name);
  if (typeof opts !== 'object' || opts === null) return bad('options', 'an object with outDir', opts);
  if (typeof opts.outDir !== 'string' || opts.outDir.length === 0) bad('option "outDir"', 'a directory path', opts.outDir);
  if (opts.weights !== undefined && (typeof opts.weights !== 'string' || opts.weights.length === 0)) {
    bad('option "weights"', 'a checkpoint file or Hugging Face folder path', opts.weights);
  }
  if (opts.randomInit !== undefined && typeof opts.randomInit !== 'boolean') bad('option "randomInit"', 'a boolean', opts.randomInit);
  if (opts.weights !== undefined && opts.randomInit) {
    throw new TypeError('exportModel: options "weights" and "randomInit" exclude each other: pass one');
  }
  if (opts.size !== undefined && opts.size !== 'full' && opts.size !== 'tiny') bad('option "size"', '"full" or "tiny"', opts.size);
  if (opts.seed !== undefined && !(Number.isSafeInteger(opts.seed) && opts.seed >= 0)) {
    bad('option "seed"', 'a non-negative integer', opts.seed);
  }
  if (opts.tokenizer !== undefined && (typeof opts.tokenizer !== 'string' || opts.tokenizer.length === 0)) {
    bad('option "tokenizer"', 'a path to a tokenizer.json file', opts.tokenizer);
  }
  if (opts.vocabSize !== undefined && !(Number.isSafeInteger(opts.vocabSize) && opts.vocabSize >= 1)) {
    bad('option "vocabSize"', 'a positive integer', opts.vocabSize);
  }
  if (opts.python !== undefined && (typeof opts.python !== 'string' || opts.python.length === 0)) {
    bad('option "python"', 'a path to a Python interpreter', opts.python);
  }
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') bad('option "onProgress"', 'a function', opts.onProgress);
}

/** Checks the options that depend on the model's task, with the registry row in hand. */
function validateForTask(name: string, task: string, opts: ExportOptions): void {
  const text = task === 'text-to-text';
  const clip = task === 'text-to-image';
  if (!text && !clip) {
    const given = (['tokenizer', 'vocabSize'] as const).filter((k) => opts[k] !== undefined);
    if (given.length > 0) {
      throw new TypeError(
        `exportModel: option${given.length > 1 ? 's' : ''} ${given.map((k) => `"${k}"`).join(' and ')} ` +
          `appl${given.length > 1 ? 'y' : 'ies'} to text-to-text and text-to-image models, not ${name} (${task})`,
      );
    }
  }
  // CLIP weights come as a Hugging Face folder (openai/clip-vit-*) or an open_clip / OpenAI checkpoint file.
  if (opts.weights !== undefined && existsSync(opts.weights) && !clip) {
    const isDir = statSync(opts.weights).isDirectory();
    if (text && !isDir) {
      throw new TypeError(
        `exportModel: option "weights" must be a Hugging Face model folder (config.json, model.safetensors or ` +
          `pytorch_model.bin, tokenizer.json) for ${name}, got the file ${opts.weights}`,
      );
    }
    if (!text && isDir) {
      throw new TypeError(`exportModel: option "weights" must be a torchvision checkpoint file for ${name}, got the directory ${opts.weights}`);
    }
  }
  if (opts.tokenizer !== undefined) {
    if (!existsSync(opts.tokenizer)) throw new Error(`exportModel: option "tokenizer": ${opts.tokenizer} not found`);
    if (!statSync(opts.tokenizer).isFile()) throw new TypeError(`exportModel: option "tokenizer" must be a tokenizer.json file, got the directory ${opts.tokenizer}`);
  }
  if (opts.vocabSize !== undefined && (opts.size !== 'tiny' || !opts.randomInit)) {
    throw new TypeError(
      'exportModel: option "vocabSize" applies to a "randomInit" export of "size" tiny only (other exports take the ' +
        'vocabulary of the published config or of the weights folder\'s config.json)',
    );
  }
}

/**
 * Exports backbone `name` (e.g. "resnet50", "bert-base-cased") to TorchScript in `opts.outDir` and
 * resolves to its validated finetuner.json. Without `weights` or `randomInit` the exporter uses the
 * checkpoint in the torch hub cache (CNNs) or the Hugging Face hub cache (text models), and fails with a
 * message saying what to pass when it is not there.
 */
export async function exportModel(name: string, opts: ExportOptions): Promise<BackboneMetadata> {
  validate(name, opts);
  // Unknown names and rows whose task is not built yet fail here, with suggestions, before Python starts.
  const info = requireAvailable(name);
  validateForTask(name, info.task, opts);
  const python = opts.python ?? process.env.FINETUNER_PYTHON ?? DEFAULT_PYTHON;
  const script = exporterScript();
  await checkPython(python);

  const outDir = resolve(opts.outDir);
  const args = [script, name, '--out', outDir, '--size', opts.size ?? 'full'];
  if (opts.weights !== undefined) args.push('--weights', resolve(opts.weights));
  if (opts.randomInit) args.push('--random-init');
  if (opts.seed !== undefined) args.push('--seed', String(opts.seed));
  if (opts.tokenizer !== undefined) args.push('--tokenizer', resolve(opts.tokenizer));
  if (opts.vocabSize !== undefined) args.push('--vocab-size', String(opts.vocabSize));

  const stdout = await runPythonScript(python, args, { what: `export of ${name}`, model: name, errorPrefix: ERROR_PREFIX, onProgress: opts.onProgress });
  // The script's last stdout line is {"ok":true,"dir":...,"embeddingDim":...}; finetuner.json is the record.
  const last = stdout.trim().split('\n').pop() ?? '';
  let result: { ok?: unknown } | undefined;
  try {
    result = JSON.parse(last) as { ok?: unknown };
  } catch {
    result = undefined;
  }
  if (result?.ok !== true) {
    throw new ExportError(`export of ${name} failed: the exporter exited 0 without its result line (got ${JSON.stringify(last)})`, name, 0, '');
  }
  return readMetadata(outDir);
}
