import { spawn } from 'node:child_process';
import { constants } from 'node:os';
// What every model bench of `npm run bench` shares: its settings, the shape of a prepared model bench
// (comparisons run in phases, then closed), and helpers to read the Python worker's answers.

import type { Comparison, ComparisonResult, CpuUsage } from './sideBySide.js';

/**
 * A row of a model: CLIP encodes each tower in a row of its own (image-encode, text-encode); the
 * onnxruntime-node group (bench/onnx.ts) has one encode row per model.
 */
export type BenchKind = 'train' | 'encode' | 'image-encode' | 'text-encode' | 'bert-encode' | 'resnet-encode' | 'clip-image-encode';

/** Settings of one model's bench, after defaults and flags. */
export interface ModelBenchSettings {
  threads: number;
  quick: boolean;
  /** Training steps per side per round. */
  trainSteps: number;
  /** Encodes of the batch per side per round. */
  encodeReps: number;
  /** Which rows to run. */
  kinds: ReadonlySet<BenchKind>;
  /** Exported model cache. */
  cache: string;
  log: (message: string) => void;
}

export interface PreparedBench {
  /**
   * Comparisons, in phases: each phase is a separate runSideBySide (warm-ups, then its rounds). Encoding
   * goes in a phase before training because a training step invalidates the addon's frozen inference
   * module: interleaved with training, every encode would pay to freeze and optimise it again.
   */
  phases: (ComparisonPhase | SelfRunPhase)[];
  /** This model's settings, for the report. */
  settings: Record<string, unknown>;
  /** The Python worker's ready line (interpreter, torch version, threads). */
  python: Record<string, unknown>;
  /**
   * Lines for the report after the tables, and data for the JSON report, once the rounds are done; and
   * per row (by result id) the cosine similarity of bf16 to fp32 embeddings, where a row measured it.
   */
  finish?(results: ComparisonResult[]): { notes: string[]; data?: Record<string, unknown>; quality?: Record<string, RowQuality> };
  /** Disposes of the model and stops the Python worker. */
  close(): Promise<void>;
}

/** bf16 against fp32 embeddings of the same batch: mean and minimum of the per-row cosine similarities. */
/** What a row found besides its rates (the onnxruntime-node rows fill the optional fields). */
export interface RowQuality {
  /** The addon side's embeddings against its fp32 ones: mean and minimum cosine over the batch. */
  meanCosine?: number;
  minCosine?: number;
  /** The precision the addon side ran at ('auto' resolved). */
  precision?: string;
  /** Median seconds per batch of each side. */
  addonSeconds?: number;
  ortSeconds?: number;
  /** The addon side's FLOP/s as a share of the measured GEMM peak of its precision, and that peak. */
  peakShare?: number;
  peakGflops?: number;
}

export interface ComparisonPhase {
  comparisons: Comparison[];
  rounds: number;
}

/**
 * A phase that runs its own rounds (the onnxruntime-node rows compare three sides, and load their models
 * only for their own rows): `ids` names the rows it reports, `run` measures them.
 */
export interface SelfRunPhase {
  ids: string[];
  rounds: number;
  run(log: (message: string) => void): Promise<ComparisonResult[]>;
}

export function seconds(response: Record<string, unknown>): number {
  const s = response.seconds;
  if (typeof s !== 'number' || !(s > 0)) throw new Error(`python worker answered without seconds: ${JSON.stringify(response)}`);
  return s;
}

export function pythonCpu(response: Record<string, unknown>): CpuUsage | undefined {
  const cpu = response.cpu as Partial<CpuUsage> | undefined;
  if (!cpu || typeof cpu.user !== 'number' || typeof cpu.system !== 'number') return undefined;
  return { user: cpu.user, system: cpu.system, minorFaults: cpu.minorFaults ?? 0 };
}

/** A bad command-line flag of a bench script (printed with its usage, exit code 2). */
export class UsageError extends Error {}

/** Parses a positive integer flag; undefined when absent. */
export function positiveFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * Runs `script` (a bench entry point, usually the caller's own file) in a child process with `env`
 * applied (undefined: removed), forwarding SIGINT/SIGTERM; resolves to its exit code.
 */
export function runBenchChild(script: string, argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key];
    else childEnv[key] = value;
  }
  const child = spawn(process.execPath, [...process.execArgv, script, ...argv], { stdio: ['ignore', 'ignore', 'inherit'], env: childEnv });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolvePromise(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
