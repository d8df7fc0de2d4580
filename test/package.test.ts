// The published package: `npm pack`, install the tarball into a scratch project the way a user would
// (npm 11 skips a dependency's install script unless approved, so nothing gets compiled there) and
// check that the loader picks prebuilds/linux-x64/finetuner.napi.node and that it reports LibTorch.
// Needs the prebuild: built here with scripts/prebuild.cjs when missing or older than native/ (so
// `npm pack` runs with --ignore-scripts: its prepack would do the same and print into the --json output).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PREBUILD_REL = join('prebuilds', `${process.platform}-${process.arch}`, 'finetuner.napi.node');
const PREBUILD = join(ROOT, PREBUILD_REL);

/** Why this test cannot run here, or '' when it can. */
function missingPrecondition(): string {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `prebuilds are made for linux-x64 only, not ${process.platform}-${process.arch}`;
  if (!existsSync(join(ROOT, 'native', 'addon.cc'))) return 'native/addon.cc does not exist yet';
  if (!existsSync(join(ROOT, 'dist', 'addonLoader.js'))) return 'dist/addonLoader.js is missing: run `npm test` (scripts/setup.sh builds it)';
  if (spawnSync('cmake', ['--version']).status !== 0 && !existsSync(PREBUILD)) return 'cmake is not installed and there is no prebuild';
  return '';
}
const skipReason = missingPrecondition();
if (skipReason) console.warn(`package.test.ts skipped: ${skipReason}`);

/** npm's own variables from the outer `npm test` would leak into the nested npm commands. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) || /^npm_config_cache$/i.test(key)) env[key] = value;
  }
  return env;
}

function newestMtime(paths: string[]): number {
  let newest = 0;
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const st = statSync(p);
    newest = Math.max(newest, st.mtimeMs);
    if (st.isDirectory()) newest = Math.max(newest, newestMtime(readdirSync(p).map((n) => join(p, n))));
  }
  return newest;
}

/**
 * Runs a command without blocking the worker (a synchronous child that runs for a minute starves
 * vitest's worker RPC, which then times out); resolves to its stdout, rejects on a non-zero exit.
 */
function run(command: string, args: string[], cwd: string, timeoutMs: number, captureStdout = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: cleanEnv(), stdio: ['ignore', captureStdout ? 'pipe' : 'inherit', 'inherit'] });
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}) in ${cwd}`));
    });
  });
}

function runNode(cwd: string, code: string, env: NodeJS.ProcessEnv = cleanEnv()) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd, env, encoding: 'utf8', timeout: 60_000 });
}

describe.skipIf(!!skipReason)('npm package', () => {
  let work: string;
  let project: string;
  let installed: string;
  let packedFiles: string[];

  beforeAll(async () => {
    const sources = ['native', 'cmake', 'CMakeLists.txt'].map((p) => join(ROOT, p));
    if (!existsSync(PREBUILD) || statSync(PREBUILD).mtimeMs < newestMtime(sources)) {
      await run(process.execPath, [join(ROOT, 'scripts', 'prebuild.cjs')], ROOT, 280_000);
    }
    work = mkdtempSync(join(tmpdir(), 'finetuner-pack-'));
    const packJson = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], ROOT, 60_000, true);
    const [pack] = JSON.parse(packJson) as { filename: string; files: { path: string }[] }[];
    packedFiles = pack.files.map((f) => f.path);

    project = join(work, 'app');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'finetuner-pack-check', private: true, type: 'module' }));
    const tarball = join(work, pack.filename);
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], project, 110_000);
    installed = join(project, 'node_modules', 'finetuner');
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the prebuild, the loader and the sources to build from, and no build/', () => {
    expect(packedFiles).toContain(PREBUILD_REL);
    expect(packedFiles).toContain('dist/addonLoader.js');
    expect(packedFiles).toContain('scripts/install.cjs');
    expect(packedFiles).toContain('CMakeLists.txt');
    expect(packedFiles).toContain('native/addon.cc');
    expect(packedFiles.filter((f) => f.startsWith('build/'))).toEqual([]);
  });

  it('loads the prebuild in an installed copy, with nothing compiled there', () => {
    expect(existsSync(join(installed, PREBUILD_REL))).toBe(true);
    expect(existsSync(join(installed, 'build'))).toBe(false); // the install script did not build

    const result = runNode(project, "const m = await import('finetuner/loader'); console.log(JSON.stringify(m.runtimeInfo()));");
    expect(result.stderr).not.toMatch(/FINETUNER_LIBTORCH_MISMATCH/);
    expect(result.status, result.stderr).toBe(0);
    const info = JSON.parse(result.stdout.trim().split('\n').pop()!);
    expect(info.source).toBe('prebuild');
    expect(realpathSync(info.path)).toBe(realpathSync(join(installed, PREBUILD_REL)));
    expect(info.builtAgainst).toMatch(/^\d+\.\d+/);
    expect(info.runtime).toMatch(/^\d+\.\d+/);
    expect(info.runtime.split('.').slice(0, 2)).toEqual(info.builtAgainst.split('.').slice(0, 2));
    expect(typeof info.cudaAvailable).toBe('boolean');
    expect(existsSync(join(installed, 'build'))).toBe(false);
  });

  it.skipIf(!existsSync(join(ROOT, 'dist', 'index.js')))('imports the public entry point', () => {
    const result = runNode(project, "const m = await import('finetuner'); console.log(Object.keys(m).length);");
    expect(result.status, result.stderr).toBe(0);
  });

  it('explains how to build when there is no binary', () => {
    // node-gyp-build's override points at an empty dir: nothing to load.
    const env = { ...cleanEnv(), FINETUNER_PREBUILD: join(work, 'empty') };
    const result = runNode(project, "const m = await import('finetuner/loader'); m.runtimeInfo();", env);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/could not load the native addon/);
    expect(result.stderr).toMatch(/npx finetuner build-native/);
    expect(result.stderr).toMatch(/npm rebuild finetuner/);
  });
});
