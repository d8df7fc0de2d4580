// scripts/setup.sh on a machine it has never run on. CI's machine already has every Debian package, so
// it cannot see a broken fresh install; here dpkg-query, apt-get and id are stubs on PATH: dpkg-query
// reports one package as unknown and exits 1 (what it does on a new Debian machine), apt-get records
// its arguments, id says whether we are root. The script runs from a scratch copy whose npm, TypeScript
// and native steps are already up to date, so nothing of the checkout is built or touched.

import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SETUP = join(ROOT, 'scripts', 'setup.sh');

/** The package list, read from the script itself so the test never holds a second copy of it. */
function debianPackages(): string[] {
  const match = /^DEBIAN_PACKAGES=\(([^)]*)\)/m.exec(readFileSync(SETUP, 'utf8'));
  if (!match) throw new Error('scripts/setup.sh has no DEBIAN_PACKAGES=(...) line');
  return match[1].trim().split(/\s+/);
}

interface Scratch { dir: string; bin: string; aptLog: string }
const scratches: string[] = [];
afterEach(() => { for (const dir of scratches.splice(0)) rmSync(dir, { recursive: true, force: true }); });

/**
 * A copy of the repo's set-up surface whose later steps are up to date, with stubs on PATH.
 * `unknown`: packages dpkg-query has never heard of; `uid`: what `id -u` answers; `aptFails`: the
 * apt-get sub-command that exits 100.
 */
function makeScratch(opts: { unknown: string[]; uid: number; aptFails?: string }): Scratch {
  const dir = mkdtempSync(join(tmpdir(), 'finetuner-setup-'));
  scratches.push(dir);
  const repo = join(dir, 'repo');
  const bin = join(dir, 'bin');
  for (const d of ['scripts', 'lib', 'node_modules', 'dist']) mkdirSync(join(repo, d), { recursive: true });
  mkdirSync(bin);
  copyFileSync(SETUP, join(repo, 'scripts', 'setup.sh'));
  writeFileSync(join(repo, 'package.json'), '{}\n');
  writeFileSync(join(repo, 'tsconfig.json'), '{}\n');
  writeFileSync(join(repo, 'package-lock.json'), '{}\n');
  // npm ci and tsc count as done when their stamps are newer than their inputs.
  const past = new Date(Date.now() - 60_000);
  for (const f of ['package.json', 'tsconfig.json', 'package-lock.json']) utimesSync(join(repo, f), past, past);
  writeFileSync(join(repo, 'node_modules', '.package-lock.json'), '{}\n');
  writeFileSync(join(repo, 'dist', '.setup-tsc-stamp'), '');

  const aptLog = join(dir, 'apt-calls');
  const installedLines = debianPackages().filter((p) => !opts.unknown.includes(p))
    .map((p) => `${p} installed`).join('\\n');
  const unknownErrors = opts.unknown.map((p) => `echo "dpkg-query: no packages found matching ${p}" >&2`).join('\n');
  const stubs: Record<string, string> = {
    'dpkg-query': `printf '${installedLines}\\n'\n${unknownErrors}\n${opts.unknown.length ? 'exit 1' : 'exit 0'}\n`,
    'apt-get': `echo "$*" >> '${aptLog}'\n${opts.aptFails ? `[ "$1" = '${opts.aptFails}' ] || [ "$2" = '${opts.aptFails}' ] && { echo "E: Unable to locate package" >&2; exit 100; }\n` : ''}exit 0\n`,
    id: `[ "$1" = -u ] && { echo ${opts.uid}; exit 0; }\nexec /usr/bin/id "$@"\n`,
    // Nothing past the package step should run: these fail loudly if it does.
    npm: 'echo "npm stub called: $*" >&2; exit 3\n',
    npx: 'echo "npx stub called: $*" >&2; exit 3\n',
  };
  for (const [name, body] of Object.entries(stubs)) {
    writeFileSync(join(bin, name), `#!/usr/bin/env bash\n${body}`);
    chmodSync(join(bin, name), 0o755);
  }
  return { dir: repo, bin, aptLog };
}

function runSetup(s: Scratch) {
  const result = spawnSync('bash', [join(s.dir, 'scripts', 'setup.sh')], {
    cwd: s.dir,
    env: { ...process.env, PATH: `${s.bin}:${process.env.PATH}` },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const aptCalls = existsSync(s.aptLog) ? readFileSync(s.aptLog, 'utf8').trim().split('\n') : [];
  return { status: result.status, out: `${result.stdout}${result.stderr}`, aptCalls };
}

const haveBash = spawnSync('bash', ['--version']).status === 0;
if (!haveBash) console.warn('setup.test.ts skipped: bash is not on PATH');

describe.skipIf(!haveBash)('scripts/setup.sh on a new machine', () => {
  it('installs a package dpkg has never heard of, and only the missing ones', () => {
    const packages = debianPackages();
    const unknown = [packages[0], packages[1]];
    const run = runSetup(makeScratch({ unknown, uid: 0 }));
    expect(run.status, run.out).toBe(0);
    expect(run.out).toContain(`setup: installing Debian packages: ${unknown.join(' ')}`);
    expect(run.aptCalls[0]).toMatch(/^update\b/);
    const install = run.aptCalls.find((c) => /\binstall\b/.test(c));
    expect(install, run.aptCalls.join('\n')).toBeDefined();
    const named = install!.split(/\s+/).filter((w) => !w.startsWith('-') && w !== 'install');
    expect(named.sort()).toEqual([...unknown].sort());
  });

  it('asks apt-get for nothing when every package is installed, and stays quiet', () => {
    const run = runSetup(makeScratch({ unknown: [], uid: 0 }));
    expect(run.status, run.out).toBe(0);
    expect(run.aptCalls).toEqual([]);
    expect(run.out).toBe('');
  });

  it('as a non-root user prints the command to run and exits non-zero with a message', () => {
    const missing = debianPackages()[0];
    const run = runSetup(makeScratch({ unknown: [missing], uid: 1000 }));
    expect(run.status).not.toBe(0);
    expect(run.aptCalls).toEqual([]);
    expect(run.out).toContain(`missing Debian packages: ${missing}`);
    expect(run.out).toMatch(new RegExp(`sudo apt-get .*install -y --no-install-recommends ${missing}`));
    expect(run.out).toMatch(/setup: FAILED: Debian packages: install the packages above as root/);
  });

  it('names the failed step and its fix when apt-get install fails, never a silent exit', () => {
    const missing = debianPackages()[0];
    const run = runSetup(makeScratch({ unknown: [missing], uid: 0, aptFails: 'install' }));
    expect(run.status).not.toBe(0);
    expect(run.out).toContain('E: Unable to locate package');
    const verdict = run.out.trim().split('\n').filter((l) => l.startsWith('setup: FAILED:'));
    expect(verdict).toHaveLength(1);
    expect(verdict[0]).toContain(`apt-get install ${missing}`);
  });

  it('names apt-get update when the package lists cannot be fetched', () => {
    const run = runSetup(makeScratch({ unknown: [debianPackages()[0]], uid: 0, aptFails: 'update' }));
    expect(run.status).not.toBe(0);
    expect(run.out).toMatch(/setup: FAILED: apt-get update: check the network/);
  });
});
