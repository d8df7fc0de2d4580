// Precisions of encode and training, and which one `'auto'` picks. bf16 autocast pays off where the hardware multiplies bf16
// natively: CPUs with AVX512-BF16 or AMX (Linux reports them as avx512_bf16 / amx_bf16 in
// /proc/cpuinfo), and CUDA GPUs. Measured on this project's 2-vCPU AMD EPYC (avx512_bf16, no AMX):
// resnet50 encode 1.8-2.2x float32, a bert-size linear 2.3x. Elsewhere float32 is the fast choice.

import { readFileSync } from 'node:fs';
import type { NativeDevice } from './binding.js';

/**
 * 'fp32'; 'bf16' / 'fp16' autocast (matrix multiplies and convolutions in the reduced type, weights stay
 * float32); 'int8' (encode only: linear layers dynamically quantized, the rest float32); 'auto' (bf16 where
 * the hardware multiplies it natively, else fp32).
 */
export const PRECISIONS = ['auto', 'fp32', 'bf16', 'fp16', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];
export type ResolvedPrecision = Exclude<Precision, 'auto'>;
/** The precisions a training forward can run in ('int8' is encode-only). */
export const TRAINING_PRECISIONS: readonly Exclude<Precision, 'int8'>[] = PRECISIONS.filter((p): p is Exclude<Precision, 'int8'> => p !== 'int8');

/**
 * Encode defaults to 'auto': on CPUs with AVX512-BF16 or AMX (and on CUDA) bf16 encodes 1.3-2x faster than
 * fp32 with a mean cosine to fp32's embeddings above 0.999 (test/precision-quality.test.ts). Training
 * defaults to 'fp32', whose results are exact and reproducible; both are one option away.
 */
export const DEFAULT_ENCODE_PRECISION: Precision = 'auto';
export const DEFAULT_TRAINING_PRECISION: Precision = 'fp32';

let cpuFlags: ReadonlySet<string> | undefined;

/** The feature flags of a /proc/cpuinfo text (its first `flags` line; empty when there is none). */
export function parseCpuFlags(cpuinfo: string): Set<string> {
  const line = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l));
  return new Set(line ? line.slice(line.indexOf(':') + 1).trim().split(/\s+/).filter((f) => f !== '') : []);
}

/** This machine's CPU feature flags from /proc/cpuinfo (empty where there is none), read once. */
function readCpuFlags(): ReadonlySet<string> {
  if (cpuFlags) return cpuFlags;
  try {
    cpuFlags = parseCpuFlags(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    cpuFlags = new Set();
  }
  return cpuFlags;
}

/** Whether a CPU with these flags (default: this one's) multiplies bf16 in hardware (AVX512-BF16 or AMX). */
export function cpuHasBf16(flags: ReadonlySet<string> = readCpuFlags()): boolean {
  return flags.has('avx512_bf16') || flags.has('amx_bf16');
}

/**
 * The precision `wanted` (default `fallback`) means on `device` ('auto': bf16 on CUDA and on CPUs whose
 * `flags`, default this machine's, include avx512_bf16 or amx_bf16; else fp32); a TypeError naming the
 * option for impossible choices.
 */
export function resolvePrecision(
  wanted: unknown,
  device: NativeDevice,
  option = 'precision',
  flags?: ReadonlySet<string>,
  fallback: Precision = DEFAULT_ENCODE_PRECISION,
): ResolvedPrecision {
  const value = wanted ?? fallback;
  if (!PRECISIONS.includes(value as Precision)) {
    throw new TypeError(`option '${option}' must be one of ${PRECISIONS.join(', ')}, got ${JSON.stringify(wanted)}`);
  }
  if (value === 'int8' && device === 'cuda') {
    throw new TypeError(`option '${option}' 'int8' runs on the CPU (LibTorch's quantized kernels are CPU-only); on CUDA use 'fp16' or 'bf16'`);
  }
  if (value === 'auto') return device === 'cuda' || cpuHasBf16(flags) ? 'bf16' : 'fp32';
  if (value === 'fp16' && device !== 'cuda') {
    throw new TypeError(`option '${option}' 'fp16' needs a CUDA device (the CPU has no fast float16); use 'bf16' or 'auto'`);
  }
  return value as ResolvedPrecision;
}

/** The precision fit trains in: `wanted`, default fp32; a TypeError for 'int8', which is encode-only. */
export function trainingPrecisionOf(wanted: Precision | undefined, option = 'precision'): Precision {
  if (wanted === 'int8') {
    throw new TypeError(`option '${option}' 'int8' is for encode only (quantized layers have no gradients); train in ${TRAINING_PRECISIONS.join(', ')}`);
  }
  return wanted ?? DEFAULT_TRAINING_PRECISION;
}
