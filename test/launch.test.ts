// `finetuner launch` and launchWorkers (issue 14): the variables every worker gets (against torchrun's
// own, test/reference/torchrun.py), signal forwarding, a failed or killed worker stopping the others, and
// no worker outliving its launcher. Workers are small `node -e` scripts, except for the CLI tests, which
// run real verbs (info, fit, serve) in the workers.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, launchWorkers, LaunchInterruptedError, WorkerFailedError, type LaunchOptions } from '../lib/distributed/launcher.js';
import { copyPrefixedLines } from '../lib/distributed/lineOutput.js';
import { exportTiny, PYTHON, REPO_ROOT, tempDir } from './helpers/fixtures.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const LAUNCHER_JS = join(REPO_ROOT, 'dist', 'distributed', 'launcher.js');
const work = tempDir('launch');
afterAll(() => work.cleanup());
let dirs = 0;
const newDir = (): string => {
  const dir = join(work.dir, String(dirs++));
  execFileSync('mkdir', ['-p', dir]);
  return dir;
};

/** Writes the worker's environment to DIR/RANK.json (DIR is the script's first argument). */
const DUMP_ENV = "require('fs').writeFileSync(process.argv[1] + '/' + process.env.RANK + '.json', JSON.stringify(process.env))";
/** Runs until stopped; on SIGTERM/SIGINT/SIGHUP writes DIR/RANK.SIGNAL and exits 0. Writes DIR/RANK.ready once its handlers are in place. */
const WAIT_FOR_SIGNAL =
  "const fs = require('fs'); for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => { fs.writeFileSync(process.argv[1] + '/' + process.env.RANK + '.' + s, ''); process.exit(0); }); setInterval(() => {}, 1000);" +
  " fs.writeFileSync(process.argv[1] + '/' + process.env.RANK + '.ready', '');";
/** Counts the SIGINTs it gets in DIR/RANK.count, exits 300 ms after the first; DIR/RANK.ready as above. */
const COUNT_SIGINT =
  "const fs = require('fs'); process.on('SIGINT', () => { fs.appendFileSync(process.argv[1] + '/' + process.env.RANK + '.count', 'x'); setTimeout(() => process.exit(0), 300); }); setInterval(() => {}, 1000);" +
  " fs.writeFileSync(process.argv[1] + '/' + process.env.RANK + '.ready', '');";
/** Ignores SIGTERM; DIR/RANK.ready as above. */
const IGNORE_SIGTERM =
  "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); require('fs').writeFileSync(process.argv[1] + '/' + process.env.RANK + '.ready', '');";
/** Until every worker in `dir` has written RANK.ready; then the .ready files are removed. */
async function workersReady(dir: string, nproc: number): Promise<void> {
  const ready = () => Array.from({ length: nproc }, (_, rank) => join(dir, `${rank}.ready`));
  await until('the workers to be ready', () => ready().every((f) => existsSync(f)));
  for (const file of ready()) rmSync(file);
}
const node = (script: string, ...args: string[]): string[] => [process.execPath, '-e', script, ...args];
const quiet: Pick<LaunchOptions, 'log' | 'forwardSignals'> = { log: () => {}, forwardSignals: false };

const TORCHRUN_KEYS = [
  'RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'GROUP_RANK', 'GROUP_WORLD_SIZE', 'ROLE_RANK', 'ROLE_WORLD_SIZE', 'ROLE_NAME',
  'OMP_NUM_THREADS',
];
function readEnvs(dir: string, nproc: number): NodeJS.ProcessEnv[] {
  return Array.from({ length: nproc }, (_, rank) => JSON.parse(readFileSync(join(dir, `${rank}.json`), 'utf8')) as NodeJS.ProcessEnv);
}
function pick(env: NodeJS.ProcessEnv, keys: readonly string[]): Record<string, string | undefined> {
  return Object.fromEntries(keys.map((k) => [k, env[k]]));
}
const withoutOmp = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env.OMP_NUM_THREADS;
  return env;
};
/** torchrun (test/reference/torchrun.py) running DUMP_ENV workers that write to `dir`. */
function torchrun(flags: string[], dir: string): Promise<void> {
  const child = spawn(PYTHON, [join(REPO_ROOT, 'test', 'reference', 'torchrun.py'), ...flags, '--no_python', ...node(DUMP_ENV, dir)], {
    env: withoutOmp(), stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000,
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`torchrun ${flags.join(' ')}: exit ${code}: ${stderr}`)))));
}
const torchAvailable = spawnSync(PYTHON, ['-c', 'import torch.distributed.run'], { stdio: 'ignore' }).status === 0;
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('launchWorkers', () => {
  it.skipIf(!torchAvailable)("sets torchrun's variables with torchrun's values: one machine (3 workers), two machines (2 x 2)", async () => {
    // References first, all three torchrun agents at once: torch's import is most of their time.
    const standalone = newDir();
    const twoNodes = newDir();
    const [port, referencePort] = [await freePort(), await freePort()];
    const nodeFlags = (node: number, p: number) => ['--nnodes', '2', '--node_rank', String(node), '--master_addr', '127.0.0.1', '--master_port', String(p), '--nproc_per_node', '2'];
    await Promise.all([
      torchrun(['--standalone', '--nproc_per_node', '3'], standalone),
      torchrun(nodeFlags(0, referencePort), twoNodes),
      torchrun(nodeFlags(1, referencePort), twoNodes),
    ]);

    const ours = newDir();
    const result = await launchWorkers({ nproc: 3, argv: [], command: node(DUMP_ENV, ours), env: withoutOmp(), ...quiet });
    const launched = readEnvs(ours, 3);
    const reference = readEnvs(standalone, 3);
    expect(launched.map((e) => pick(e, TORCHRUN_KEYS))).toEqual(reference.map((e) => pick(e, TORCHRUN_KEYS)));
    expect(launched[1]).toMatchObject({ RANK: '1', LOCAL_RANK: '1', WORLD_SIZE: '3', OMP_NUM_THREADS: '1' });
    // One rendezvous address for all, the one the launcher reports; torchrun's is localhost.
    for (const env of launched) expect(pick(env, ['MASTER_ADDR', 'MASTER_PORT'])).toEqual({ MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(result.masterPort) });
    expect(new Set(reference.map((e) => e.MASTER_PORT)).size).toBe(1);
    expect(result.workers.map((w) => [w.rank, w.code, w.signal])).toEqual([[0, 0, null], [1, 0, null], [2, 0, null]]);

    // Two machines: a launcher per node rank, the same address and port.
    const ours2 = newDir();
    const results = await Promise.all([0, 1].map((nodeRank) =>
      launchWorkers({ nproc: 2, nnodes: 2, nodeRank, masterAddr: '127.0.0.1', masterPort: port, argv: [], command: node(DUMP_ENV, ours2), env: withoutOmp(), ...quiet })));
    expect(results.map((r) => r.workers.map((w) => w.rank))).toEqual([[0, 1], [2, 3]]);
    const keys = [...TORCHRUN_KEYS, 'MASTER_ADDR', 'MASTER_PORT'];
    const asReference = (env: NodeJS.ProcessEnv) => ({ ...pick(env, keys), MASTER_PORT: env.MASTER_PORT === String(port) ? 'the port' : env.MASTER_PORT });
    const asOurs = (env: NodeJS.ProcessEnv) => ({ ...pick(env, keys), MASTER_PORT: env.MASTER_PORT === String(referencePort) ? 'the port' : env.MASTER_PORT });
    expect(readEnvs(ours2, 4).map(asReference)).toEqual(readEnvs(twoNodes, 4).map(asOurs));
  });

  it('refuses a second machine without the address of the first, and a node rank out of range', async () => {
    await expect(launchWorkers({ nproc: 2, nnodes: 2, nodeRank: 1, masterPort: 29500, argv: ['info'] })).rejects.toThrow(/'masterAddr' and 'masterPort' are required with nnodes > 1/);
    await expect(launchWorkers({ nproc: 2, nnodes: 2, nodeRank: 2, masterAddr: 'a', masterPort: 1, argv: ['info'] })).rejects.toThrow(/'nodeRank' must be an integer from 0 to nnodes - 1 = 1, got 2/);
  });

  it('keeps an OMP_NUM_THREADS the user set, sets none for one worker, and uses the given port', async () => {
    const set = newDir();
    await launchWorkers({ nproc: 2, argv: [], command: node(DUMP_ENV, set), env: { ...process.env, OMP_NUM_THREADS: '3' }, masterPort: 29517, ...quiet });
    expect(readEnvs(set, 2).map((e) => [e.OMP_NUM_THREADS, e.MASTER_PORT])).toEqual([['3', '29517'], ['3', '29517']]);
    const single = newDir();
    await launchWorkers({ nproc: 1, argv: [], command: node(DUMP_ENV, single), env: withoutOmp(), ...quiet });
    expect(readEnvs(single, 1)[0]!.OMP_NUM_THREADS).toBeUndefined();
  });

  it('a worker exiting with code 3 stops the others and is named with its code', async () => {
    const started = Date.now();
    const failing = "if (process.env.RANK === '1') setTimeout(() => process.exit(3), 100); else setInterval(() => {}, 1000);";
    const error = await launchWorkers({ nproc: 3, argv: [], command: node(failing), ...quiet, gracePeriodMs: 20_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerFailedError);
    const failed = error as WorkerFailedError;
    expect(failed.message).toMatch(/^rank 1 \(pid \d+\) exited with code 3; stopped the other 2 workers$/);
    expect(failed.failed).toMatchObject({ rank: 1, code: 3, signal: null });
    // The others ended by the launcher's SIGTERM, well before the grace period.
    expect(failed.workers.filter((w) => w.rank !== 1).map((w) => w.signal)).toEqual(['SIGTERM', 'SIGTERM']);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a worker killed with SIGKILL is named; one that ignores SIGTERM is killed after the grace period', async () => {
    let pids: number[] = [];
    const dir = newDir();
    const launch = launchWorkers({
      nproc: 2, argv: [], command: node(IGNORE_SIGTERM, dir), ...quiet, gracePeriodMs: 500,
      onStart: (workers) => { pids = workers.map((w) => w.pid); },
    });
    await until('the workers to start', () => pids.length === 2);
    await workersReady(dir, 2);
    process.kill(pids[0]!, 'SIGKILL');
    const error = (await launch.catch((e: unknown) => e)) as WorkerFailedError;
    expect(error).toBeInstanceOf(WorkerFailedError);
    expect(error.message).toBe(`rank 0 (pid ${pids[0]}) was killed by SIGKILL; stopped the other worker`);
    expect(error.workers[1]).toMatchObject({ rank: 1, signal: 'SIGKILL' });
    expect(pids.filter(alive)).toEqual([]);
  });

  it('an abort stops every worker with SIGTERM and rejects with LaunchInterruptedError', async () => {
    const dir = newDir();
    const controller = new AbortController();
    const launch = launchWorkers({ nproc: 2, argv: [], command: node(WAIT_FOR_SIGNAL, dir), ...quiet, signal: controller.signal });
    await workersReady(dir, 2);
    controller.abort();
    const error = (await launch.catch((e: unknown) => e)) as LaunchInterruptedError;
    expect(error).toBeInstanceOf(LaunchInterruptedError);
    expect(error.exitCode).toBe(143);
    expect(readdirSync(dir).sort()).toEqual(['0.SIGTERM', '1.SIGTERM']);
  });

  it('refuses bad options, naming them', async () => {
    for (const nproc of [0, -1, 1.5, Number.NaN]) {
      await expect(launchWorkers({ nproc, argv: ['info'] })).rejects.toThrow(/option 'nproc' must be an integer >= 1/);
    }
    await expect(launchWorkers({ nproc: 2, argv: ['info'], masterPort: 70000 })).rejects.toThrow(/'masterPort' must be an integer from 1 to 65535, got 70000/);
    await expect(launchWorkers({ nproc: 2, argv: [] })).rejects.toThrow(/'argv' must name the finetuner command/);
    const missing = await launchWorkers({ nproc: 2, argv: [], command: ['/nonexistent/program'], ...quiet }).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/^rank 0 could not start \/nonexistent\/program: spawn \/nonexistent\/program ENOENT/);
  });

  it('prefixes whole lines, across chunks, carriage returns and a last line without a newline', async () => {
    const source = new PassThrough();
    const target = new PassThrough();
    let written = '';
    target.on('data', (d: Buffer) => { written += d.toString(); });
    const done = copyPrefixedLines(source, target, '[rank 1] ');
    for (const chunk of ['one\ntw', 'o\n\nbar 10%\rbar 20%\r', '\nlast']) source.write(chunk);
    source.end();
    await done;
    expect(written).toBe('[rank 1] one\n[rank 1] two\n[rank 1] \n[rank 1] bar 10%\n[rank 1] bar 20%\n[rank 1] last\n');
  });
});

// The launcher in a process of its own (the compiled library), started with forwardSignals on; in a
// process group of its own with `group`, as a shell starts a foreground job.
function startLauncher(dir: string, worker = WAIT_FOR_SIGNAL, group = false): { child: ReturnType<typeof spawn>; pids: Promise<number[]>; exit: Promise<number | null> } {
  const script = `import { launchWorkers } from ${JSON.stringify(LAUNCHER_JS)};
    launchWorkers({ nproc: 2, argv: [], command: ${JSON.stringify(node(worker, dir))}, gracePeriodMs: 10000,
      onStart: (w) => console.log(JSON.stringify(w.map((x) => x.pid))) })
      .then(() => process.exit(0), (e) => { console.error(e.message); process.exit(e.exitCode ?? 1); });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], detached: group });
  let stdout = '';
  const pids = new Promise<number[]>((resolve) => child.stdout!.on('data', (d) => { stdout += d; if (stdout.includes('\n')) resolve(JSON.parse(stdout) as number[]); }));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, pids, exit };
}

describe('a launcher process and signals', () => {
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
    it(`${signal} to the launcher reaches both workers once; the launcher exits ${code} after them`, async () => {
      const dir = newDir();
      const launcher = startLauncher(dir);
      const pids = await launcher.pids;
      await workersReady(dir, 2);
      launcher.child.kill(signal);
      expect(await launcher.exit).toBe(code);
      expect(readdirSync(dir).sort()).toEqual([`0.${signal}`, `1.${signal}`]);
      expect(pids.filter(alive)).toEqual([]);
    });
  }
});

describe('a Ctrl-C in the terminal', () => {
  it("reaches each worker once (the terminal signals the launcher's process group; the launcher forwards)", async () => {
    const dir = newDir();
    const launcher = startLauncher(dir, COUNT_SIGINT, true);
    const pids = await launcher.pids;
    await workersReady(dir, 2);
    // Each worker leads a process group of its own, out of the terminal's reach: signals coming at once
    // to a group and from the launcher may merge into one, so the groups are what guarantees "once".
    expect(pids.map((pid) => processGroup(pid))).toEqual(pids);
    expect(processGroup(launcher.child.pid!)).toBe(launcher.child.pid);
    process.kill(-launcher.child.pid!, 'SIGINT'); // the whole foreground job, as the terminal does
    expect(await launcher.exit).toBe(130);
    expect([0, 1].map((rank) => readFileSync(join(dir, `${rank}.count`), 'utf8'))).toEqual(['x', 'x']);
  });
});

describe('finetuner launch', () => {
  const cli = (args: string[], env: NodeJS.ProcessEnv = withoutOmp()) =>
    spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, timeout: 60_000 });

  it('runs a verb in N workers, each line prefixed with its rank, one intra-op thread each', () => {
    const run = cli(['launch', '--nproc', '2', 'info']);
    expect(run.status, run.stderr).toBe(0);
    for (const rank of [0, 1]) {
      expect(run.stdout).toMatch(new RegExp(`^\\[rank ${rank}\\] finetuner +\\d`, 'm'));
      // OMP_NUM_THREADS=1 from the launcher reached LibTorch in the worker.
      expect(run.stdout).toMatch(new RegExp(`^\\[rank ${rank}\\] threads +1$`, 'm'));
    }
    expect(run.stdout.split('\n').filter((l) => l && !/^\[rank [01]\] /.test(l))).toEqual([]);
    const chosen = cli(['launch', '--nproc', '2', '--output', 'inherit', 'info'], { ...process.env, OMP_NUM_THREADS: '2' });
    expect(chosen.status, chosen.stderr).toBe(0);
    expect(chosen.stdout.match(/^threads +2$/gm)).toHaveLength(2);
  });

  it('lists launch in --help, and takes --help before the verb as its own', () => {
    expect(cli(['--help']).stdout).toMatch(/^ {2}launch +Run a finetuner command in N local worker processes/m);
    const own = cli(['launch', '--help']);
    expect(own.stdout).toMatch(/^Usage: finetuner launch --nproc N/);
    const verbs = cli(['launch', '--nproc', '2', 'info', '--help']);
    expect(verbs.stdout).toMatch(/^\[rank 0\] Usage: finetuner info/m);
  });

  it('a failing verb makes launch exit 1 naming the rank and its exit code', () => {
    const run = cli(['launch', '--nproc', '2', '--grace-period', '5', 'fit']);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/\[rank [01]\] finetuner fit: missing required option --model/);
    expect(run.stderr).toMatch(/^finetuner launch: rank [01] \(pid \d+\) exited with code 2; stopped the other worker$/m);
  });

  it('refuses a bad --nproc, --master-port or no verb with exit code 2', () => {
    for (const [args, message] of [
      [['--nproc', '0', 'info'], "option --nproc must be a positive integer, got '0'"],
      [['--nproc', 'two', 'info'], "option --nproc must be a positive integer, got 'two'"],
      [['info'], 'missing required option --nproc N'],
      [['--nproc', '2'], 'missing the command each worker runs'],
      [['--nproc', '2', '--master-port', '65536', 'info'], "option --master-port must be an integer in [1, 65535], got '65536'"],
      [['--nproc', '2', 'launch', '--nproc', '2', 'info'], 'a worker cannot run launch itself'],
      [['--nproc', '2', '--nnodes', '2', '--master-port', '29500', 'info'], '--nnodes above 1 needs --master-addr and --master-port'],
      [['--nproc', '2', '--nnodes', '2', '--node-rank', '2', 'info'], "option --node-rank must be an integer in [0, 1], got '2'"],
    ] as const) {
      const run = cli(['launch', ...args]);
      expect(run.status, run.stderr).toBe(2);
      expect(run.stderr).toContain(`finetuner launch: ${message}`);
    }
  });

  describe('with serve workers (a verb that runs until stopped)', () => {
    let model = '';
    const serveLauncher = () => {
      model ||= exportTiny('resnet50', join(newDir(), 'model'));
      const child = spawn(process.execPath, [CLI, 'launch', '--nproc', '2', 'serve', '--model', model, '--port', '0'], {
        stdio: ['ignore', 'pipe', 'pipe'], env: withoutOmp(),
      });
      let output = '';
      child.stdout.on('data', (d) => { output += d; });
      child.stderr.on('data', (d) => { output += d; });
      const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      return { child, output: () => output, exit };
    };
    const listening = (output: string) => /^\[rank 0\] .*listening on/m.test(output) && /^\[rank 1\] .*listening on/m.test(output);

    it('SIGTERM to launch is forwarded once: both servers close gracefully, launch exits 143', async () => {
      const launcher = serveLauncher();
      await until('both workers to listen', () => listening(launcher.output()), 60_000);
      launcher.child.kill('SIGTERM');
      expect(await launcher.exit, launcher.output()).toBe(143);
      const output = launcher.output();
      expect(output).toMatch(/^finetuner launch: SIGTERM: forwarding it to 2 worker\(s\)/m);
      // Each server got one SIGTERM and closed gracefully (exit 0; a second signal makes it quit at once, 143).
      expect(output).toMatch(/^finetuner launch: interrupted by SIGTERM; rank 0 exited with code 0, rank 1 exited with code 0$/m);
      for (const rank of [0, 1]) expect(output.match(new RegExp(`^\\[rank ${rank}\\] .*SIGTERM`, 'gm'))).toHaveLength(1);
    });

    it('launch killed with SIGKILL: its workers notice and stop on their own', async () => {
      const launcher = serveLauncher();
      await until('both workers to listen', () => listening(launcher.output()), 60_000);
      const workers = childrenOf(launcher.child.pid!);
      expect(workers).toHaveLength(2);
      launcher.child.kill('SIGKILL');
      await launcher.exit;
      await until('the orphaned workers to exit', () => workers.every((pid) => !alive(pid)), 10_000);
    });
  });
});

/** Fields 3 on of /proc/PID/stat (state, ppid, pgrp, ...): they follow the command name in parentheses, which may hold spaces. */
function statFields(pid: number | string): string[] {
  try {
    const stat = readFileSync(join('/proc', String(pid), 'stat'), 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return []; // gone meanwhile
  }
}
const processGroup = (pid: number): number => Number(statFields(pid)[2]);

/** Pids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name) && Number(statFields(name)[1]) === pid).map(Number);
}
