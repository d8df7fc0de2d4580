// The repository's tools, built by scripts/setup.sh to dist-tools/ (tsconfig.tools.json): `npm run demo`
// runs dist-tools/examples/demo.js and `npm run bench` dist-tools/bench/main.js, with the same arguments
// as when they were verbs of the published CLI. Only their option handling is run here (no model).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/fixtures.js';

const DEMO = join(REPO_ROOT, 'dist-tools', 'examples', 'demo.js');
const BENCH = join(REPO_ROOT, 'dist-tools', 'bench', 'main.js');
const built = existsSync(DEMO) && existsSync(BENCH);
if (!built) console.warn('tools.test.ts skipped: dist-tools/ is not built (run `npm test`: scripts/setup.sh builds it)');

function node(script: string, ...args: string[]) {
  return spawnSync(process.execPath, [script, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
}

describe.skipIf(!built)('tools outside the package', () => {
  it('npm run demo and npm run bench run the tools build', () => {
    const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.demo).toMatch(/node dist-tools\/examples\/demo\.js$/);
    expect(scripts.bench).toMatch(/node dist-tools\/bench\/main\.js$/);
  });

  it('the demo entry prints the help of each task, and names a bad task', () => {
    const images = node(DEMO, '--help');
    expect(images.status, images.stderr).toBe(0);
    expect(images.stdout).toContain('npm run demo -- [--task image-to-image]');
    const text = node(DEMO, '--task', 'text-to-text', '--help');
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain('--task text-to-text: fine-tune a small BERT');
    const clip = node(DEMO, '--task=text-to-image', '--help');
    expect(clip.status, clip.stderr).toBe(0);
    expect(clip.stdout).toContain('--task text-to-image: fine-tune a tiny CLIP');
    const bad = node(DEMO, '--task', 'sound-to-sound');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^finetuner demo: --task sound-to-sound: unknown task/);
  });

  it('the bench entry prints its usage', () => {
    const bench = node(BENCH, '--help');
    expect(bench.status, bench.stderr).toBe(0);
    expect(bench.stdout).toContain('usage: npm run bench -- [options]');
    expect(bench.stdout).toContain('--models');
  });
});
