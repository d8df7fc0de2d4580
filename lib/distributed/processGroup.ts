// Joining the process group of a distributed fit(): the `distributed` option's timeouts, the backend
// the model's device takes (Gloo on the CPU, NCCL on CUDA), and the group itself (native/distributed/).
import { loadBinding } from '../addonLoader.js';
import type { NativeProcessGroup } from '../binding.js';
import { readDistributedEnvironment, type DistributedEnvironment } from './environment.js';

/** fit's `distributed` option as an object; `true` takes every default. */
export interface DistributedOptions {
  /** Seconds joining waits for every rank at MASTER_ADDR:MASTER_PORT before it fails. Default 60. */
  joinTimeout?: number;
  /**
   * Seconds one collective (a step's gathers and all-reduce, the agreement after each step, the barrier
   * while rank 0 evaluates or writes) waits for the other ranks before it fails. Default 1800, PyTorch's;
   * a worker that dies is noticed at once (its connections close), this bounds a worker that hangs.
   */
  timeout?: number;
}

export const DEFAULT_JOIN_TIMEOUT = 60;
export const DEFAULT_DISTRIBUTED_TIMEOUT = 1800;

export interface ResolvedDistributed {
  joinTimeout: number;
  timeout: number;
}

function seconds(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`option '${name}' must be a positive number of seconds, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The `distributed` option checked: undefined or false is a single-process run. */
export function resolveDistributed(value: unknown): ResolvedDistributed | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { joinTimeout: DEFAULT_JOIN_TIMEOUT, timeout: DEFAULT_DISTRIBUTED_TIMEOUT };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`option 'distributed' must be true, false or { joinTimeout?, timeout? }, got ${JSON.stringify(value)}`);
  }
  const options = value as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (key !== 'joinTimeout' && key !== 'timeout') throw new TypeError(`option 'distributed.${key}' is unknown: use joinTimeout or timeout`);
  }
  return {
    joinTimeout: seconds(options.joinTimeout, 'distributed.joinTimeout', DEFAULT_JOIN_TIMEOUT),
    timeout: seconds(options.timeout, 'distributed.timeout', DEFAULT_DISTRIBUTED_TIMEOUT),
  };
}

/** A joined group with where this process stands in it. */
export interface DistributedRun extends DistributedEnvironment {
  group: NativeProcessGroup;
}

/** Joins the group the environment describes, for a model on `device`. */
export async function joinProcessGroup(
  settings: ResolvedDistributed, device: 'cpu' | 'cuda', environment: DistributedEnvironment = readDistributedEnvironment(),
): Promise<DistributedRun> {
  const group = await loadBinding().joinProcessGroup({
    rank: environment.rank,
    worldSize: environment.worldSize,
    masterAddr: environment.masterAddr,
    masterPort: environment.masterPort,
    backend: device === 'cuda' ? 'nccl' : 'gloo',
    joinTimeoutMs: settings.joinTimeout * 1000,
    timeoutMs: settings.timeout * 1000,
  });
  return { ...environment, group };
}
