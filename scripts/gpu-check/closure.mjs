#!/usr/bin/env node
// The node_modules folders that some root packages need at run time, from package-lock.json: each root,
// then its dependencies and optionalDependencies (and required peerDependencies) resolved as Node does
// (the nearest node_modules/<name> walking up from the dependent), transitively. Packages that the lock
// lists but npm did not install (optional packages of other platforms, such as @img/sharp-darwin-arm64)
// are skipped. Prints one folder per line, relative to the repository root, parents before their nested
// node_modules; `--sizes` adds each folder's size in bytes (tab-separated).
//
// usage: node scripts/gpu-check/closure.mjs [--sizes] ROOT_PACKAGE...

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const sizes = args.includes('--sizes');
const roots = args.filter((a) => a !== '--sizes');
if (roots.length === 0) {
  process.stderr.write('usage: node scripts/gpu-check/closure.mjs [--sizes] ROOT_PACKAGE...\n');
  process.exit(2);
}

const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
if (!lock.packages) {
  process.stderr.write('closure: package-lock.json has no "packages" map (lockfileVersion 2 or 3 needed)\n');
  process.exit(1);
}
const packages = lock.packages;

/** Where `name` resolves from the package at `from` ('' for the root): the lock key, or undefined. */
function resolveFrom(from, name) {
  let dir = from;
  for (;;) {
    const key = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    if (packages[key] && existsSync(join(repo, key, 'package.json'))) return key;
    if (!dir) return undefined;
    // Up one package: strip the last "node_modules/<name>" (scoped names have two parts).
    const at = dir.lastIndexOf('node_modules/');
    dir = at <= 0 ? '' : dir.slice(0, at - 1);
  }
}

const found = new Set();
const missing = [];
const queue = [];
for (const root of roots) {
  const key = resolveFrom('', root);
  if (!key) {
    missing.push(`${root} (a root)`);
    continue;
  }
  queue.push(key);
}
while (queue.length > 0) {
  const key = queue.shift();
  if (found.has(key)) continue;
  found.add(key);
  const entry = packages[key];
  const required = { ...(entry.dependencies ?? {}) };
  const optional = { ...(entry.optionalDependencies ?? {}) };
  for (const [name, range] of Object.entries(entry.peerDependencies ?? {})) {
    if (entry.peerDependenciesMeta?.[name]?.optional) optional[name] = range;
    else required[name] = range;
  }
  for (const name of Object.keys(required)) {
    const dep = resolveFrom(key, name);
    if (dep) queue.push(dep);
    else if (!(name in optional)) missing.push(`${name} (needed by ${key})`);
  }
  for (const name of Object.keys(optional)) {
    const dep = resolveFrom(key, name);
    if (dep) queue.push(dep); // installed: this platform's optional package
  }
}
if (missing.length > 0) {
  process.stderr.write(`closure: not installed: ${missing.join(', ')}; run \`npm ci\` first\n`);
  process.exit(1);
}

/** Bytes under a folder (files only, links not followed). */
function du(path) {
  let total = 0;
  for (const name of readdirSync(path)) {
    const p = join(path, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    total += st.isDirectory() ? du(p) : st.size;
  }
  return total;
}

// A folder nested in another listed folder travels with it: list only the outermost ones.
const sorted = [...found].sort();
const outer = sorted.filter((key) => !sorted.some((other) => other !== key && key.startsWith(`${other}/`)));
for (const key of outer) process.stdout.write(sizes ? `${key}\t${du(join(repo, key))}\n` : `${key}\n`);
