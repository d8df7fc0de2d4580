// Mixed precision: which one `'auto'` picks. bf16 autocast pays off where the hardware multiplies bf16
// natively: CPUs with AVX512-BF16 or AMX (Linux reports them as avx512_bf16 / amx_bf16 in
// /proc/cpuinfo), and CUDA GPUs. Measured on this project's 2-vCPU AMD EPYC (avx512_bf16, no AMX):
// resnet50 encode 1.8-2.2x float32, a bert-size linear 2.3x. Elsewhere float32 is the fast choice.

import { readFileSync } from 'node:fs';
import type { NativeDevice } from './binding.js';

export type Precision = 'auto' | 'fp32' | 'bf16' | 'fp16';
export type ResolvedPrecision = Exclude<Precision, 'auto'>;

const PRECISIONS: readonly Precision[] = ['auto', 'fp32', 'bf16', 'fp16'];

let cpuFlags: Set<string> | undefined;

/** CPU feature flags from /proc/cpuinfo (empty where there is none). */
function readCpuFlags(): Set<string> {
  if (cpuFlags) return cpuFlags;
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    cpuFlags = new Set(line ? line.split(':')[1]!.trim().split(/\s+/) : []);
  } catch {
    cpuFlags = new Set();
  }
  return cpuFlags;
}

/** Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX). */
export function cpuHasBf16(): boolean {
  const flags = readCpuFlags();
  return flags.has('avx512_bf16') || flags.has('amx_bf16');
}

/** The precision `wanted` means on `device`; an Error naming the option for impossible choices. */
export function resolvePrecision(wanted: unknown, device: NativeDevice, option = 'precision'): ResolvedPrecision {
  const value = wanted ?? 'fp32';
  if (!PRECISIONS.includes(value as Precision)) {
    throw new TypeError(`option '${option}' must be one of ${PRECISIONS.join(', ')}, got ${JSON.stringify(wanted)}`);
  }
  if (value === 'auto') return device === 'cuda' || cpuHasBf16() ? 'bf16' : 'fp32';
  if (value === 'fp16' && device !== 'cuda') {
    throw new TypeError(`option '${option}' 'fp16' needs a CUDA device (the CPU has no fast float16); use 'bf16' or 'auto'`);
  }
  return value as ResolvedPrecision;
}
