#!/usr/bin/env node
'use strict';
// `npm run build:prebuild`: writes prebuilds/<platform>-<arch>/finetuner.napi.node, stripped, the name
// node-gyp-build's loader picks for any Node-API runtime ("napi" tag, no "abi" tag).
//
// prebuildify drives it: prebuildify only knows `node-gyp rebuild`, so we hand it this script as its
// node-gyp (`--node-gyp`), which ignores node-gyp's arguments, builds with cmake-js (incremental, in
// build/) and copies the result into a staging dir that prebuildify treats as its cwd. prebuildify
// then strips that copy and moves it into prebuilds/, so build/Release/finetuner.node stays where it is.
//
// The prebuild is not self-contained: it links LibTorch's shared libraries (libtorch.so, libtorch_cpu.so,
// libc10.so) as found at build time, normally Debian's libtorch-dev, and needs them at run time
// (`apt-get install -y libtorch-dev libopenblas0-pthread`). Build it against the system LibTorch, not
// $LIBTORCH, or its RUNPATH points at this machine's LibTorch dir.

const fs = require('node:fs');
const path = require('node:path');
const { root, runCmakeJs, testLoad } = require('./install.cjs');

const stage = path.join(root, 'build', 'prebuild-stage');

function shim() {
  // Called by prebuildify as `<this> --as-node-gyp rebuild --target=... --devdir=... --release`.
  const status = runCmakeJs('compile', [], { logLevel: 'warn' });
  if (status !== 0) return status;
  const built = path.join(root, 'build', 'Release', 'finetuner.node');
  const out = path.join(stage, 'build', 'Release');
  fs.rmSync(path.join(stage, 'build'), { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  fs.copyFileSync(built, path.join(out, 'finetuner.node'));
  return 0;
}

function main() {
  const prebuildify = require('prebuildify');
  const shimCommand = `"${process.execPath}" "${__filename}" --as-node-gyp`;
  fs.mkdirSync(stage, { recursive: true }); // prebuildify runs the shim with this cwd
  const folder = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  for (const name of fs.existsSync(folder) ? fs.readdirSync(folder) : []) {
    if (name.endsWith('.node')) fs.rmSync(path.join(folder, name)); // ship exactly one binary
  }
  if (process.env.LIBTORCH) {
    console.warn(`finetuner: LIBTORCH=${process.env.LIBTORCH} is set: the prebuild will link that LibTorch, not the system's`);
  }
  prebuildify(
    {
      cwd: stage,
      out: root,
      // prebuildify 6 names a Node-API build `<name>.node` (no "napi" tag, whatever its README says);
      // this name gives finetuner.napi.node, which node-gyp-build parses as a napi build.
      name: 'finetuner.napi',
      napi: true,
      strip: true,
      targets: [{ runtime: 'node', target: process.versions.node }],
      nodeGyp: shimCommand,
      shell: true, // nodeGyp is a command line, not a single executable
    },
    (err) => {
      fs.rmSync(stage, { recursive: true, force: true });
      if (err) {
        console.error(`finetuner: prebuild failed: ${err.message}`);
        process.exitCode = 1;
        return;
      }
      const file = path.join(folder, 'finetuner.napi.node');
      const error = testLoad(file);
      if (error) {
        console.error(`finetuner: wrote ${file} but it does not load: ${error}`);
        process.exitCode = 1;
        return;
      }
      const torchDir = (/^Torch_DIR:PATH=(.*)$/m.exec(readText(path.join(root, 'build', 'CMakeCache.txt'))) || [])[1];
      console.log(`finetuner: wrote ${path.relative(root, file)} (${fs.statSync(file).size} bytes, stripped; ` +
        `links LibTorch from ${torchDir || 'the system'}, needed at run time)`);
    },
  );
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

if (process.argv.includes('--as-node-gyp')) {
  process.exitCode = shim();
} else {
  main();
}
