// Loads the native addon (finetuner.node) once, through node-gyp-build's resolution from the package
// root: build/Release (a build from source) first, then prebuilds/<platform>-<arch>/finetuner.napi.node.
// It must work without the npm install script (npm 11 skips dependencies' install scripts unless the
// project approves them), so nothing here assumes that scripts/install.cjs ran. When nothing loads,
// the error names the file, quotes the dynamic loader and gives the fix. (Loading a fine-tuned model is
// lib/loadModel.ts.) Published as `finetuner/loader` too, so runtimeInfo() can be checked on its own.

import { availableParallelism } from 'node:os';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeBinding, NativeRuntimeInfo } from './binding.js';

export type BindingSource = 'prebuild' | 'build';

export interface RuntimeInfo extends NativeRuntimeInfo {
  /** Which binary got loaded: a prebuild shipped in the package, or a build from source in build/. */
  source: BindingSource;
  /** Absolute path of the loaded .node file. */
  path: string;
}

/** Debian 12 / Ubuntu packages that provide LibTorch's shared libraries at run time. */
export const LIBTORCH_INSTALL_COMMAND = 'apt-get install -y libtorch-dev libopenblas0-pthread';

/** Ways to get a native binary when none is there or none loads. */
export const BUILD_NATIVE_COMMANDS = [
  'npx finetuner build-native',
  'npm rebuild finetuner',
  'npm install-scripts approve finetuner && npm rebuild finetuner',
];

interface NodeGypBuild {
  (dir: string): unknown;
  resolve(dir: string): string;
  parseTuple(name: string): { name: string; platform: string; architectures: string[] } | undefined;
  matchTuple(platform: string, arch: string): (tuple: unknown) => boolean;
  compareTuples(a: unknown, b: unknown): number;
  parseTags(file: string): { file: string } | undefined;
  matchTags(runtime: string, abi: string): (tags: unknown) => boolean;
  compareTags(runtime: string): (a: unknown, b: unknown) => number;
}

/** Nothing loaded. `attempts` lists each file tried with the loader's error. */
export class NativeLoadError extends Error {
  constructor(
    message: string,
    readonly attempts: { file: string; error: string }[],
  ) {
    super(message);
    this.name = 'NativeLoadError';
  }
}

const require = createRequire(import.meta.url);

let cachedRoot: string | undefined;
let cached: { binding: NativeBinding; path: string; source: BindingSource } | undefined;
let versionChecked = false;

/** The installed package's root: the nearest package.json named "finetuner" above this file. */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  const start = dirname(fileURLToPath(import.meta.url));
  let firstFound: string | undefined;
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      firstFound ??= dir;
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).name === 'finetuner') return (cachedRoot = dir);
      } catch {
        // unreadable package.json: keep walking
      }
    }
    if (dirname(dir) === dir) break;
  }
  if (firstFound) return (cachedRoot = firstFound);
  throw new Error(`finetuner: no package.json above ${start}`);
}

/** Loads (once) and returns the raw binding. Throws NativeLoadError with the fix when nothing loads. */
export function loadBinding(): NativeBinding {
  if (!cached) {
    const loaded = load();
    // Not cached before this succeeds: with a bad OMP_NUM_THREADS every call throws, not just the first.
    applyDefaultThreads(loaded.binding);
    cached = loaded;
  }
  if (!versionChecked) {
    checkVersions(cached.binding.runtimeInfo(), cached.path);
    versionChecked = true;
  }
  return cached.binding;
}

/**
 * Intra-op threads of every job: OMP_NUM_THREADS when set (the variable LibTorch users know), else the
 * CPUs this process may run on (os.availableParallelism honours affinity masks such as taskset and
 * container cpusets, which the C++ hardware_concurrency does not).
 */
export function defaultThreads(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.OMP_NUM_THREADS?.trim();
  if (!raw) return Math.max(1, availableParallelism());
  // OpenMP also takes a list, one count per nesting level; LibTorch's parallel regions use the first.
  if (!/^\d+(,\d+)*$/.test(raw)) throw new RangeError(`OMP_NUM_THREADS=${env.OMP_NUM_THREADS} is not a thread count (a positive integer)`);
  return Number(raw.split(',')[0]);
}

/**
 * The intra-op threads at load: OMP_NUM_THREADS must be in the native range (checked there, in one
 * place); the CPU count is capped to it.
 */
function applyDefaultThreads(binding: NativeBinding): void {
  const threads = defaultThreads();
  const fromEnv = Boolean(process.env.OMP_NUM_THREADS?.trim());
  try {
    binding.setNumThreads(fromEnv ? threads : Math.min(threads, binding.runtimeInfo().maxThreads));
  } catch (error) {
    throw new RangeError(`OMP_NUM_THREADS=${process.env.OMP_NUM_THREADS}: ${(error as Error).message}`);
  }
}

/**
 * Sets the intra-op threads of every later encode, training step and load (all models): an integer from
 * 1 to `runtimeInfo().maxThreads` (1024), else a RangeError.
 */
export function setNumThreads(threads: number): void {
  loadBinding().setNumThreads(threads);
}

/** LibTorch versions and CUDA state, plus which binary got loaded. */
export function runtimeInfo(): RuntimeInfo {
  const binding = loadBinding();
  return { ...binding.runtimeInfo(), source: cached!.source, path: cached!.path };
}

function load(): { binding: NativeBinding; path: string; source: BindingSource } {
  const root = packageRoot();
  const nodeGypBuild = require('node-gyp-build') as NodeGypBuild;
  const attempts: { file: string; error: string }[] = [];

  let first: string | undefined;
  try {
    first = nodeGypBuild.resolve(root);
  } catch (err) {
    // No build/ and no prebuild (in $FINETUNER_PREBUILD when set, node-gyp-build's override).
    attempts.push({ file: process.env.FINETUNER_PREBUILD || join(root, 'prebuilds'), error: messageOf(err) });
  }
  // node-gyp-build stops at build/Release even when that fails to load; then try the prebuild too.
  const files = first ? [first] : [];
  if (first && sourceOf(root, first) === 'build') {
    const prebuild = resolvePrebuild(nodeGypBuild, root);
    if (prebuild) files.push(prebuild);
  }
  for (const file of files) {
    try {
      const binding = require(file) as NativeBinding;
      return { binding, path: file, source: sourceOf(root, file) };
    } catch (err) {
      attempts.push({ file, error: messageOf(err) });
    }
  }
  throw new NativeLoadError(explain(root, attempts), attempts);
}

function resolvePrebuild(ngb: NodeGypBuild, root: string): string | undefined {
  try {
    const dirs = readdir(join(root, 'prebuilds')).map(ngb.parseTuple);
    const tuple = dirs.filter(ngb.matchTuple(process.platform, process.arch)).sort(ngb.compareTuples)[0] as
      | { name: string }
      | undefined;
    if (!tuple) return undefined;
    const folder = join(root, 'prebuilds', tuple.name);
    const winner = readdir(folder)
      .map(ngb.parseTags)
      .filter(ngb.matchTags('node', process.versions.modules))
      .sort(ngb.compareTags('node'))[0] as { file: string } | undefined;
    return winner ? join(folder, winner.file) : undefined;
  } catch {
    return undefined;
  }
}

function readdir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function sourceOf(root: string, file: string): BindingSource {
  return relative(root, file).split(sep)[0] === 'prebuilds' ? 'prebuild' : 'build';
}

function explain(root: string, attempts: { file: string; error: string }[]): string {
  const lines = ['finetuner: could not load the native addon (finetuner.node).'];
  const tried = attempts.map((a) => `  ${a.file}\n    ${a.error.split('\n').join('\n    ')}`);
  lines.push('Tried:', ...tried);
  const text = attempts.map((a) => a.error).join('\n');
  const missingLib = /(lib(torch\w*|c10\w*|gomp|openblas\w*|glog|gflags|protobuf)[^:\s]*): cannot open shared object file/.exec(text);
  const undefinedSymbol = /undefined symbol/.test(text);
  const noBinary = /No native build was found/.test(text) || attempts.length === 0;
  if (missingLib) {
    lines.push(
      `LibTorch's shared library ${missingLib[1]} is not installed (or not where the addon was built to find it). Fix:`,
      `  ${LIBTORCH_INSTALL_COMMAND}          (Debian 12 / Ubuntu; what the prebuild links)`,
      `  or build against your own LibTorch: LIBTORCH=/path/to/libtorch npx finetuner build-native`,
    );
  } else if (undefinedSymbol) {
    lines.push(
      'The addon was built against another LibTorch (or Node-API) than the one found at run time. Rebuild it here:',
      ...BUILD_NATIVE_COMMANDS.map((c) => `  ${c}`),
    );
  } else if (noBinary) {
    lines.push(
      `No native binary for ${process.platform}-${process.arch} in ${root} (no prebuild, no build/). ` +
        'Build one from source (needs cmake, g++ and LibTorch):',
      ...BUILD_NATIVE_COMMANDS.map((c) => `  ${c}`),
      `  (npm 11 skips install scripts of dependencies unless approved, so \`npm install\` alone may not build it.)`,
      `  LibTorch: ${LIBTORCH_INSTALL_COMMAND}, or set LIBTORCH=/path/to/libtorch before building.`,
    );
  } else {
    lines.push(
      'Fix: install LibTorch and rebuild the addon:',
      `  ${LIBTORCH_INSTALL_COMMAND}`,
      ...BUILD_NATIVE_COMMANDS.map((c) => `  ${c}`),
    );
  }
  return lines.join('\n');
}

/** major.minor of a version string ("1.13.0a0" -> "1.13"), or undefined. */
function majorMinor(version: string): string | undefined {
  return /^(\d+)\.(\d+)/.exec(version)?.slice(1, 3).join('.');
}

/**
 * A binary compiled against one LibTorch minor version and run against another can crash (LibTorch has
 * no ABI stability across minor versions), so a mismatch is an error that says what to do, unless
 * FINETUNER_ALLOW_LIBTORCH_MISMATCH=1 turns it into a warning.
 */
export function checkVersions(info: Pick<NativeRuntimeInfo, 'builtAgainst' | 'runtime'>, file: string): void {
  const built = majorMinor(info.builtAgainst);
  const running = majorMinor(info.runtime);
  if (!built || !running || built === running) return;
  const message =
    `finetuner: ${file} was built against LibTorch ${info.builtAgainst} but LibTorch ${info.runtime} is loaded. ` +
    `Rebuild the addon against the installed LibTorch (${BUILD_NATIVE_COMMANDS[0]}), or install LibTorch ` +
    `${built} (${LIBTORCH_INSTALL_COMMAND} on Debian 12, or point LIBTORCH at a ${built} LibTorch and rebuild).`;
  if (process.env.FINETUNER_ALLOW_LIBTORCH_MISMATCH === '1') {
    process.emitWarning(message, { code: 'FINETUNER_LIBTORCH_MISMATCH' });
    return;
  }
  throw new NativeLoadError(message, [{ file, error: `LibTorch ${info.builtAgainst} != ${info.runtime}` }]);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
