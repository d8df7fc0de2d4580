// The load test's arithmetic (bench/serve.ts), apart from servers and sockets so it can be tested: which
// responses of a run count as steady state, percentiles of their latencies, and the batched/unbatched
// ratio as the median of per-round ratios (the host's speed drifts over minutes, so only sides measured
// back to back are compared).

import { median } from './sideBySide.js';

/** One response of a load run, as autocannon's 'response' event reports it. */
export interface ResponseSample {
  /** performance.now() when the response completed. */
  atMs: number;
  statusCode: number;
  latencyMs: number;
}

export interface SteadyState {
  /** 2xx responses completed after the warm-up. */
  ok: number;
  /** Their latencies, ascending. */
  latenciesMs: number[];
  /** Non-2xx responses over the whole run, warm-up included. */
  non2xx: number;
}

/**
 * The steady state of one run: responses that completed at or after `warmupEndMs` (a request sent during
 * the warm-up and answered after it counts: it waited behind steady-state load, not an idle server).
 */
export function steadyState(samples: readonly ResponseSample[], warmupEndMs: number): SteadyState {
  const latenciesMs: number[] = [];
  let non2xx = 0;
  for (const s of samples) {
    const ok = s.statusCode >= 200 && s.statusCode < 300;
    if (!ok) non2xx++;
    else if (s.atMs >= warmupEndMs) latenciesMs.push(s.latencyMs);
  }
  latenciesMs.sort((a, b) => a - b);
  return { ok: latenciesMs.length, latenciesMs, non2xx };
}

/** The nearest-rank percentile `p` (0-100) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Pools the ascending latency lists of several runs into one ascending list. */
export function pooled(lists: readonly (readonly number[])[]): number[] {
  return lists.flat().sort((a, b) => a - b);
}

/** Per-round ratios `numerator[i] / denominator[i]` and their median. */
export function ratioOfRounds(numerator: readonly number[], denominator: readonly number[]): { perRound: number[]; median: number } {
  if (numerator.length !== denominator.length) throw new Error(`ratioOfRounds: ${numerator.length} rounds against ${denominator.length}`);
  const perRound = numerator.map((n, i) => n / denominator[i]!);
  return { perRound, median: median(perRound) };
}

/** Which mode goes first in round `round` (1-based): unbatched in odd rounds, batched in even ones. */
export function roundOrder(round: number): ['unbatched', 'batched'] | ['batched', 'unbatched'] {
  return round % 2 === 1 ? ['unbatched', 'batched'] : ['batched', 'unbatched'];
}
