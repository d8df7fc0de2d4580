#!/usr/bin/env node
'use strict';
// The package's npm "install" step, also run by `npx finetuner build-native` (with --build-from-source).
//
// 1. If a native binary is there (build/Release or build/Debug, then prebuilds/<platform>-<arch>/ as
//    node-gyp-build resolves it), load it in a child process. One loads: done, silently.
// 2. Otherwise build from source with cmake-js (CMakeLists.txt finds LibTorch: $LIBTORCH, a PyTorch
//    through python3, or Debian's libtorch-dev), printing one line that says why.
// --build-from-source, or npm's `npm install --build-from-source` (npm_config_build_from_source), skips
// step 1 and rebuilds from clean (`cmake-js rebuild`), so a changed $LIBTORCH is picked up.
//
// npm 11 does not run dependencies' install scripts unless the project approves them (allowScripts),
// so for users this script often never runs: lib/addonLoader.ts loads the prebuild without it and explains
// how to build when nothing loads. In this repository `npm ci` always runs it (root package scripts are
// not gated), so a fresh clone gets a build from source.
//
// Also a small library for scripts/prebuild.cjs: require('./install.cjs') runs nothing.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const childProcess = require('node:child_process');

const root = path.resolve(__dirname, '..');
const BUILD_FIX =
  'Needs cmake, g++ and LibTorch: `apt-get install -y cmake g++ libtorch-dev libopenblas0-pthread` ' +
  '(Debian 12), or LIBTORCH=/path/to/libtorch (an unzipped LibTorch or a pip PyTorch\'s site-packages/torch).';

/** The native binaries node-gyp-build would consider, in its order: [{ file, source }]. */
function candidates(dir = root) {
  const found = [];
  for (const config of ['Release', 'Debug']) {
    const buildDir = path.join(dir, 'build', config);
    for (const name of readdir(buildDir)) {
      if (name.endsWith('.node')) found.push({ file: path.join(buildDir, name), source: 'build' });
    }
  }
  const prebuild = resolvePrebuild(dir);
  if (prebuild) found.push({ file: prebuild, source: 'prebuild' });
  return found;
}

/** The prebuild node-gyp-build picks for this platform, arch and runtime, or undefined. */
function resolvePrebuild(dir = root) {
  let ngb;
  try {
    ngb = require(require.resolve('node-gyp-build', { paths: [dir, __dirname] }));
  } catch {
    const file = path.join(dir, 'prebuilds', `${os.platform()}-${os.arch()}`, 'finetuner.napi.node');
    return fs.existsSync(file) ? file : undefined;
  }
  const tuple = readdir(path.join(dir, 'prebuilds'))
    .map(ngb.parseTuple)
    .filter(ngb.matchTuple(os.platform(), os.arch()))
    .sort(ngb.compareTuples)[0];
  if (!tuple) return undefined;
  const folder = path.join(dir, 'prebuilds', tuple.name);
  const winner = readdir(folder)
    .map(ngb.parseTags)
    .filter(ngb.matchTags('node', process.versions.modules))
    .sort(ngb.compareTags('node'))[0];
  return winner ? path.join(folder, winner.file) : undefined;
}

/** Loads `file` in a fresh node; returns '' when it loads, else the error text (dlopen's message). */
function testLoad(file) {
  const result = childProcess.spawnSync(
    process.execPath,
    ['-e', 'try { require(process.argv[1]) } catch (e) { process.stderr.write(String(e && e.message || e)); process.exit(1) }', file],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (result.status === 0) return '';
  return (result.stderr || '').trim() || (result.error ? String(result.error.message) : `exit ${result.status ?? result.signal}`);
}

/** Runs cmake-js (from this package's dependencies) on the package root; returns the exit status. */
function runCmakeJs(command, extraArgs = [], options = {}) {
  let bin;
  try {
    bin = require.resolve('cmake-js/bin/cmake-js', { paths: [root, __dirname] });
  } catch {
    console.error('finetuner: cmake-js is not installed; run `npm install` (it is a dependency of finetuner)');
    return 1;
  }
  const parallel = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const args = [bin, command, '--directory', root, '--out', path.join(root, 'build'),
    '--parallel', String(parallel), '--log-level', options.logLevel || 'warn', ...extraArgs];
  const result = childProcess.spawnSync(process.execPath, args, { cwd: root, stdio: options.stdio || 'inherit' });
  if (result.error) {
    console.error(`finetuner: could not run cmake-js: ${result.error.message}`);
    return 1;
  }
  return result.status ?? 1;
}

function onPath(program) {
  return (process.env.PATH || '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir || '.', program), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Builds build/Release/finetuner.node from source; returns an exit status. `command`: 'compile'
 * (incremental) or 'rebuild' (clean first: picks up a changed $LIBTORCH, replaces a foreign binary).
 */
function buildFromSource(reason, command = 'compile') {
  console.log(`finetuner: building the native addon from source with cmake-js (${reason})`);
  if (!fs.existsSync(path.join(root, 'CMakeLists.txt')) || readdir(path.join(root, 'native')).length === 0) {
    console.error(`finetuner: cannot build: CMakeLists.txt or native/ is missing in ${root}`);
    return 1;
  }
  if (!onPath('cmake')) {
    console.error(`finetuner: cannot build: cmake is not on PATH. ${BUILD_FIX}`);
    return 1;
  }
  const status = runCmakeJs(command);
  const built = path.join(root, 'build', 'Release', 'finetuner.node');
  if (status !== 0) {
    console.error(`finetuner: the native build failed (cmake-js exit ${status}). ${BUILD_FIX}`);
    return status;
  }
  const error = testLoad(built);
  if (error) {
    console.error(`finetuner: built ${built} but it does not load: ${error}`);
    return 1;
  }
  return 0;
}

function main(argv) {
  const force = argv.includes('--build-from-source') || /^(true|1)$/.test(process.env.npm_config_build_from_source || '');
  if (force) return buildFromSource('--build-from-source: clean rebuild', 'rebuild');

  const found = candidates();
  const failures = [];
  for (const { file } of found) {
    const error = testLoad(file);
    if (!error) return 0;
    failures.push(`${path.relative(root, file)} does not load: ${firstLine(error)}`);
  }
  const reason = failures.length ? failures.join('; ') : `no prebuild for ${os.platform()}-${os.arch()} and no build/`;
  return buildFromSource(reason);
}

function firstLine(text) {
  return String(text).split('\n')[0];
}

function readdir(dir) {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

module.exports = { root, candidates, resolvePrebuild, testLoad, runCmakeJs, buildFromSource, BUILD_FIX };

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
