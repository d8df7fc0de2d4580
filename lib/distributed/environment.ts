// Where this process stands in a distributed run, read from the variables torchrun sets (and that
// `finetuner launch`, Slurm scripts and Kubernetes operators set the same way): RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR, MASTER_PORT. A missing or malformed variable is an error that names it.

export interface DistributedEnvironment {
  /** This process's rank, 0 ≤ rank < worldSize; rank 0 hosts the rendezvous and writes the outputs. */
  rank: number;
  /** How many processes train together. */
  worldSize: number;
  /** The rank among the processes of this machine (the GPU a CUDA run takes). */
  localRank: number;
  /** Host name or address of rank 0's machine, reachable from every rank. */
  masterAddr: string;
  /** The TCP port rank 0 listens on for the rendezvous. */
  masterPort: number;
}

/** The variables, in the order they are checked. */
export const DISTRIBUTED_VARIABLES = ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'] as const;

const HINT = 'start each process with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set (torchrun or `finetuner launch` set them)';

function integerVariable(env: NodeJS.ProcessEnv, name: string, low: number, high: number): number {
  const text = env[name];
  if (text === undefined || text.trim() === '') throw new Error(`distributed training: environment variable ${name} is not set; ${HINT}`);
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < low || value > high) {
    throw new RangeError(`distributed training: environment variable ${name} must be an integer in ${low}..${high}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Reads and checks torchrun's variables from `env` (default process.env). */
export function readDistributedEnvironment(env: NodeJS.ProcessEnv = process.env): DistributedEnvironment {
  const rank = integerVariable(env, 'RANK', 0, Number.MAX_SAFE_INTEGER);
  const worldSize = integerVariable(env, 'WORLD_SIZE', 1, 1 << 20);
  if (rank >= worldSize) throw new RangeError(`distributed training: RANK (${rank}) must be less than WORLD_SIZE (${worldSize})`);
  const localRank = integerVariable(env, 'LOCAL_RANK', 0, Number.MAX_SAFE_INTEGER);
  const masterAddr = (env.MASTER_ADDR ?? '').trim();
  if (masterAddr === '') throw new Error(`distributed training: environment variable MASTER_ADDR is not set; ${HINT}`);
  if (/\s/.test(masterAddr)) throw new RangeError(`distributed training: MASTER_ADDR must be a host name or address, got ${JSON.stringify(env.MASTER_ADDR)}`);
  const masterPort = integerVariable(env, 'MASTER_PORT', 1, 65535);
  return { rank, worldSize, localRank, masterAddr, masterPort };
}
