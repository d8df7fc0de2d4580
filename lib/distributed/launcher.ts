// `finetuner launch` as a library function: starts N local workers with torchrun's variables set (as
// `torchrun --standalone --nproc_per_node N` does, or torchrun's --nnodes/--node_rank on each of several
// machines), forwards signals to them, and when one fails stops the others and says which rank failed
// and how. A launcher supervises its own machine's workers only: a failure elsewhere reaches them
// through the process group's timeouts. Nothing here knows what the workers do: they read the
// variables themselves (lib/distributed/environment.ts) and meet at MASTER_ADDR:MASTER_PORT.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { copyPrefixedLines } from './lineOutput.js';

/** Set in every worker: the launcher's pid, so a worker can tell when its launcher is gone (launcherWatch.ts). */
export const LAUNCHER_PID_ENV = 'FINETUNER_LAUNCHER_PID';
/** The signals the launcher forwards to its workers. */
export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];

/** How long the launcher waits, after a worker exits, for the rest of its output. */
const OUTPUT_DRAIN_MS = 5000;

export const LAUNCH_DEFAULTS = {
  masterAddr: '127.0.0.1',
  /** torchrun waits 30 s after SIGTERM before SIGKILL; so do we (a stopping fit writes a checkpoint first). */
  gracePeriodMs: 30_000,
  output: 'prefix' as const,
};

export interface LaunchOptions {
  /** Worker processes to start on this machine (an integer >= 1): ranks nodeRank * nproc .. + nproc - 1. */
  nproc: number;
  /**
   * Machines in the run (default 1). Above 1, each machine runs a launcher with the same nproc,
   * masterAddr and masterPort (both then required) and its own nodeRank.
   */
  nnodes?: number;
  /** This machine's index, 0 .. nnodes - 1 (default 0); the machine at masterAddr is 0. */
  nodeRank?: number;
  /** Arguments of every worker: a finetuner CLI command line (e.g. ['fit', '--distributed', ...]). */
  argv: readonly string[];
  /**
   * The program each worker runs, before `argv`. Default: this Node.js binary and the finetuner CLI
   * ([process.execPath, <package>/dist/cli/main.js]).
   */
  command?: readonly string[];
  /** Default '127.0.0.1' (every worker is local); with nnodes > 1, the address of node 0 that the others reach. */
  masterAddr?: string;
  /** Default: a port that is free on masterAddr when the launch starts. */
  masterPort?: number;
  /** The workers' environment before the launcher's variables are added. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * 'prefix' (default): every line of a worker's stdout and stderr is written to the launcher's own with
   * "[rank i] " in front. 'inherit': workers write to the launcher's stdout and stderr directly (a
   * terminal's progress bars redraw in place, lines of different ranks may mix).
   */
  output?: 'prefix' | 'inherit';
  /** After SIGTERM (or a forwarded signal), how long a worker has before SIGKILL. Default 30 s. */
  gracePeriodMs?: number;
  /**
   * Forward SIGINT, SIGTERM and SIGHUP received by this process to every worker (default true); a second
   * signal kills them at once. With false, the caller stops the launch through `signal`.
   */
  forwardSignals?: boolean;
  /** Aborting it stops the workers as a forwarded SIGTERM would. */
  signal?: AbortSignal;
  /** Called once every worker is started, with their pids. */
  onStart?: (workers: ReadonlyArray<{ rank: number; pid: number }>) => void;
  /** The launcher's own messages (stopping, forwarding). Default: written to stderr. */
  log?: (message: string) => void;
}

export interface WorkerExit {
  rank: number;
  pid: number;
  /** The exit code, or null when a signal ended the worker. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchResult {
  masterAddr: string;
  masterPort: number;
  workers: WorkerExit[];
}

/** How a worker ended, in words: "exited with code 3", "was killed by SIGKILL". */
export function describeExit(exit: Pick<WorkerExit, 'code' | 'signal'>): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
}

/** A worker failed (a non-zero exit code or a signal); the others were stopped. Exit code 1, as torchrun's. */
export class WorkerFailedError extends Error {
  readonly exitCode = 1;
  constructor(readonly failed: WorkerExit, readonly workers: WorkerExit[], readonly reason?: string) {
    const others = workers.length - 1;
    super(
      `rank ${failed.rank}${failed.pid > 0 ? ` (pid ${failed.pid})` : ''} ${reason ?? describeExit(failed)}` +
        (others > 0 ? `; stopped the other ${others === 1 ? 'worker' : `${others} workers`}` : ''),
    );
    this.name = 'WorkerFailedError';
  }
}

/** The launcher received a signal, forwarded it, and every worker has exited. Exit code 128 + the signal's number. */
export class LaunchInterruptedError extends Error {
  readonly exitCode: number;
  constructor(readonly signal: NodeJS.Signals, readonly workers: WorkerExit[]) {
    super(`interrupted by ${signal}; ${workers.map((w) => `rank ${w.rank} ${describeExit(w)}`).join(', ')}`);
    this.name = 'LaunchInterruptedError';
    this.exitCode = 128 + (constants.signals[signal] ?? 0);
  }
}

/** The finetuner CLI beside this module (dist/cli/main.js in the package). */
export function cliEntry(): string {
  return fileURLToPath(new URL('../cli/main.js', import.meta.url));
}

/** A TCP port that nothing listens on at `host` now (the OS picks it), as torchrun --standalone finds one. */
export function freePort(host = LAUNCH_DEFAULTS.masterAddr): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`no free port found on ${host}`))));
    });
  });
}

/**
 * The variables a worker gets on top of `base`: the ones torchrun sets (`--standalone`, or `--nnodes`
 * and `--node_rank` on each machine), with torchrun's values (its TORCHELASTIC_* bookkeeping aside; test/
 * launch.test.ts compares them), except that a standalone MASTER_ADDR is 127.0.0.1 where torchrun's is
 * 'localhost', which may resolve to ::1 first.
 */
export function workerEnvironment(base: NodeJS.ProcessEnv, worker: WorkerPlace): NodeJS.ProcessEnv {
  const { localRank, nproc, nnodes, nodeRank, masterAddr, masterPort } = worker;
  const rank = nodeRank * nproc + localRank;
  const env: NodeJS.ProcessEnv = {
    ...base,
    RANK: String(rank),
    LOCAL_RANK: String(localRank),
    WORLD_SIZE: String(nnodes * nproc),
    LOCAL_WORLD_SIZE: String(nproc),
    // torchrun's names for the machine (a group of workers) and the one role every worker has.
    GROUP_RANK: String(nodeRank),
    GROUP_WORLD_SIZE: String(nnodes),
    ROLE_RANK: String(rank),
    ROLE_WORLD_SIZE: String(nnodes * nproc),
    ROLE_NAME: 'default',
    MASTER_ADDR: masterAddr,
    MASTER_PORT: String(masterPort),
    [LAUNCHER_PID_ENV]: String(process.pid),
  };
  // N workers with a thread per core each would oversubscribe the CPU N times; torchrun sets 1 when
  // nproc > 1 and the user has not chosen.
  if (nproc > 1 && !base.OMP_NUM_THREADS?.trim()) env.OMP_NUM_THREADS = '1';
  return env;
}

/** Where a worker sits in the run. */
export interface WorkerPlace {
  localRank: number;
  nproc: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
}

function checkOptions(options: LaunchOptions): void {
  const { nproc, nnodes = 1, nodeRank = 0, masterPort, gracePeriodMs, output, command } = options;
  if (!Number.isInteger(nproc) || nproc < 1) throw new RangeError(`option 'nproc' must be an integer >= 1, got ${JSON.stringify(nproc)}`);
  if (!Number.isInteger(nnodes) || nnodes < 1) throw new RangeError(`option 'nnodes' must be an integer >= 1, got ${JSON.stringify(nnodes)}`);
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes) {
    throw new RangeError(`option 'nodeRank' must be an integer from 0 to nnodes - 1 = ${nnodes - 1}, got ${JSON.stringify(nodeRank)}`);
  }
  if (nnodes > 1 && (options.masterAddr === undefined || masterPort === undefined)) {
    throw new TypeError(`options 'masterAddr' and 'masterPort' are required with nnodes > 1: every machine must name the same address of node 0`);
  }
  if (masterPort !== undefined && (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535)) {
    throw new RangeError(`option 'masterPort' must be an integer from 1 to 65535, got ${JSON.stringify(masterPort)}`);
  }
  if (gracePeriodMs !== undefined && !(Number.isFinite(gracePeriodMs) && gracePeriodMs >= 0)) {
    throw new RangeError(`option 'gracePeriodMs' must be a number >= 0, got ${JSON.stringify(gracePeriodMs)}`);
  }
  if (output !== undefined && output !== 'prefix' && output !== 'inherit') {
    throw new TypeError(`option 'output' must be 'prefix' or 'inherit', got ${JSON.stringify(output)}`);
  }
  if (!Array.isArray(options.argv) || options.argv.some((a) => typeof a !== 'string')) throw new TypeError(`option 'argv' must be an array of strings`);
  if (command !== undefined && (command.length === 0 || command.some((a) => typeof a !== 'string'))) {
    throw new TypeError(`option 'command' must be a non-empty array of strings`);
  }
  if (command === undefined && options.argv.length === 0) throw new TypeError(`option 'argv' must name the finetuner command each worker runs`);
}

interface Worker {
  rank: number;
  child: ChildProcess;
  exit?: WorkerExit;
  /** Resolves when the worker has exited and its output is written. */
  done: Promise<void>;
}

/**
 * Starts `nproc` workers and resolves when all exited with code 0. Rejects with WorkerFailedError when
 * one fails (after stopping the others), or LaunchInterruptedError after a signal or abort.
 */
export async function launchWorkers(options: LaunchOptions): Promise<LaunchResult> {
  checkOptions(options);
  options.signal?.throwIfAborted();
  const { nproc, argv } = options;
  const nnodes = options.nnodes ?? 1;
  const nodeRank = options.nodeRank ?? 0;
  const masterAddr = options.masterAddr ?? LAUNCH_DEFAULTS.masterAddr;
  const masterPort = options.masterPort ?? (await freePort(masterAddr));
  const [program, ...programArgs] = options.command ?? [process.execPath, cliEntry()];
  const output = options.output ?? LAUNCH_DEFAULTS.output;
  const gracePeriodMs = options.gracePeriodMs ?? LAUNCH_DEFAULTS.gracePeriodMs;
  const log = options.log ?? ((message: string) => process.stderr.write(`finetuner launch: ${message}\n`));
  const base = options.env ?? process.env;

  let failure: { exit: WorkerExit; reason?: string } | undefined;
  let interrupted: NodeJS.Signals | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const workers: Worker[] = [];
  const running = () => workers.filter((w) => !w.exit);

  const killAll = () => {
    for (const w of running()) w.child.kill('SIGKILL');
  };
  /** Sends `signal` to every running worker, and SIGKILL to those still running after the grace period. */
  const stopAll = (signal: NodeJS.Signals) => {
    for (const w of running()) w.child.kill(signal);
    killTimer ??= setTimeout(() => {
      const late = running();
      if (late.length > 0) log(`${late.map((w) => `rank ${w.rank}`).join(', ')} still running ${gracePeriodMs / 1000} s after ${signal}: sending SIGKILL`);
      killAll();
    }, gracePeriodMs);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted || failure) {
      log(`${signal} again: killing ${running().length} worker(s) at once`);
      killAll();
      return;
    }
    interrupted = signal;
    log(`${signal}: forwarding it to ${running().length} worker(s) (again to kill them at once)`);
    stopAll(signal);
  };
  const onAbort = () => onSignal('SIGTERM');
  const onWorkerExit = (worker: Worker, exit: WorkerExit, reason?: string) => {
    if (worker.exit) return; // a spawn error may be followed by an exit event
    worker.exit = exit;
    if (interrupted || failure || (exit.code === 0 && !reason)) return;
    failure = { exit, ...(reason ? { reason } : {}) };
    const others = running();
    if (others.length > 0) {
      log(`rank ${exit.rank} ${reason ?? describeExit(exit)}: stopping ${others.map((w) => `rank ${w.rank}`).join(', ')} (SIGTERM, SIGKILL after ${gracePeriodMs / 1000} s)`);
      stopAll('SIGTERM');
    }
  };

  // Whatever ends this process (an uncaught error, process.exit after a second signal elsewhere), no
  // worker outlives it.
  process.on('exit', killAll);
  // A reader that went away (`finetuner launch ... | head`) costs the output, not the workers' run.
  const ignoreWriteError = () => {};
  if (output === 'prefix') for (const stream of [process.stdout, process.stderr]) stream.on('error', ignoreWriteError);
  if (options.forwardSignals !== false) for (const signal of FORWARDED_SIGNALS) process.on(signal, onSignal);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (let localRank = 0; localRank < nproc && !interrupted && !failure; localRank++) {
      const rank = nodeRank * nproc + localRank;
      // Each worker in a process group of its own: a Ctrl-C in the terminal reaches the launcher alone,
      // which forwards it once (fit stops cleanly on the first SIGINT and quits at once on a second).
      const child = spawn(program!, [...programArgs, ...argv], {
        env: workerEnvironment(base, { localRank, nproc, nnodes, nodeRank, masterAddr, masterPort }),
        stdio: ['ignore', output === 'prefix' ? 'pipe' : 'inherit', output === 'prefix' ? 'pipe' : 'inherit'],
        detached: true,
      });
      const worker: Worker = { rank, child, done: Promise.resolve() };
      const copies =
        output === 'prefix' ? [copyPrefixedLines(child.stdout!, process.stdout, `[rank ${rank}] `), copyPrefixedLines(child.stderr!, process.stderr, `[rank ${rank}] `)] : [];
      worker.done = new Promise<void>((resolve) => {
        child.once('error', (error) => {
          onWorkerExit(worker, { rank, pid: child.pid ?? 0, code: null, signal: null }, `could not start ${program}: ${error.message}`);
          resolve();
        });
        child.once('exit', (code, signal) => {
          onWorkerExit(worker, { rank, pid: child.pid!, code, signal });
          // Its output ends when every holder of the pipes closes them; a process the worker left behind
          // may hold them on, and must not keep the launcher waiting.
          const drained = setTimeout(() => {
            child.stdout?.destroy();
            child.stderr?.destroy();
            resolve();
          }, OUTPUT_DRAIN_MS);
          void Promise.all(copies).then(() => {
            clearTimeout(drained);
            resolve();
          });
        });
      });
      workers.push(worker);
    }
    if (!failure && !interrupted) options.onStart?.(workers.map((w) => ({ rank: w.rank, pid: w.child.pid! })));
    await Promise.all(workers.map((w) => w.done));
  } finally {
    clearTimeout(killTimer);
    killAll();
    process.off('exit', killAll);
    for (const stream of [process.stdout, process.stderr]) stream.off('error', ignoreWriteError);
    if (options.forwardSignals !== false) for (const signal of FORWARDED_SIGNALS) process.off(signal, onSignal);
    options.signal?.removeEventListener('abort', onAbort);
  }
  const exits = workers.map((w) => w.exit!);
  if (failure) throw new WorkerFailedError(failure.exit, exits, failure.reason);
  if (interrupted) throw new LaunchInterruptedError(interrupted, exits);
  return { masterAddr, masterPort, workers: exits };
}
