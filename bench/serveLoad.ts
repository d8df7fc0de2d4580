// The load test's moving parts (bench/serve.ts): a `finetuner serve` child process, its /metrics and
// /proc figures, and one autocannon run whose responses are timestamped here so the warm-up can be cut off
// by completion time instead of by a separate unmeasured run against a then idle server.

import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { spawnServe } from './serveChild.js';
import type { ResponseSample } from './serveStats.js';

export interface ServerChild {
  url: string;
  pid: number;
  stop(): Promise<number | null>;
}

export async function startServer(model: string, batching: boolean, threads: number): Promise<ServerChild> {
  const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'cli', 'main.js');
  const args = ['--model', `m=${model}`, '--port', '0', '--device', 'cpu', '--max-queue', '8192', ...(batching ? [] : ['--no-batching'])];
  const { process: child, url, exit } = await spawnServe(cli, args, threads);
  return {
    url,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      return exit;
    },
  };
}

export interface Scrape {
  batchSum: number;
  batchCount: number;
  batchSecondsSum: number;
  batchSecondsCount: number;
  rssMb: number;
}

/** The batch-size and batch-time histograms' sums and counts and the resident memory, from /metrics. */
export async function scrape(url: string): Promise<Scrape> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    batchSum: value(/^finetuner_batch_size_sum\{[^}]*\} (\S+)/m),
    batchCount: value(/^finetuner_batch_size_count\{[^}]*\} (\S+)/m),
    batchSecondsSum: value(/^finetuner_batch_seconds_sum\{[^}]*\} (\S+)/m),
    batchSecondsCount: value(/^finetuner_batch_seconds_count\{[^}]*\} (\S+)/m),
    rssMb: value(/^finetuner_process_resident_memory_bytes (\S+)/m) / 2 ** 20,
  };
}

/**
 * Waits until the server has nothing queued and its last native batch is done (a run's last requests may
 * still be in it). The batcher's queue depth leaves out the batch being encoded, so "done" is read from the
 * process's CPU time: under 5% of a core over half a second, which a running encode never is.
 */
export async function drained(url: string, pid: number): Promise<void> {
  const started = performance.now();
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    if (!/^finetuner_queue_depth\{[^}]*\} [1-9]/m.test(text)) {
      const before = await processUsage(pid);
      await new Promise((r) => setTimeout(r, 500));
      if ((await processUsage(pid)).cpuSeconds - before.cpuSeconds < 0.025) return;
    } else {
      await new Promise((r) => setTimeout(r, 200));
    }
    if (performance.now() - started > 300_000) throw new Error('the server did not finish its work within 5 minutes');
  }
}

let clockTicks: number | undefined;

/** CPU seconds (user + system) and resident MB of a process, from /proc/<pid>/stat (Linux). */
export async function processUsage(pid: number): Promise<{ cpuSeconds: number; rssMb: number }> {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces: state is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { cpuSeconds: (utime + stime) / clockTicks, rssMb: (rssPages * 4096) / 2 ** 20 };
}

export interface LoadRun {
  samples: ResponseSample[];
  /** performance.now() at the end of the warm-up and of the run. */
  warmupEndMs: number;
  endMs: number;
  /** Socket errors and timeouts over the whole run. */
  errors: number;
  /** /metrics at the end of the warm-up and right at the end of the run. */
  atWarmupEnd: Scrape;
  atEnd: Scrape;
}

/** One autocannon run of `warmup + duration` seconds, every response timestamped as it completes. */
export async function loadRun(url: string, bodies: readonly string[], connections: number, warmup: number, duration: number): Promise<LoadRun> {
  let next = 0;
  const samples: ResponseSample[] = [];
  const startMs = performance.now();
  const warmupEndMs = startMs + warmup * 1000;
  let atWarmupEnd: Promise<Scrape> | undefined;
  const timer = setTimeout(() => {
    atWarmupEnd = scrape(url);
    atWarmupEnd.catch(() => undefined); // awaited below; this only keeps a failed run from also reporting it unhandled
  }, warmup * 1000);
  try {
    const result = await new Promise<autocannon.Result>((done, failed) => {
      const instance = autocannon({
        url: `${url}/embed`,
        connections,
        duration: warmup + duration,
        timeout: 120,
        requests: [{
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length]! }),
        }],
      }, (error, result) => (error ? failed(error) : done(result)));
      instance.on('response', (_client, statusCode, _bytes, responseTime) => {
        samples.push({ atMs: performance.now(), statusCode, latencyMs: responseTime });
      });
    });
    const endMs = performance.now();
    const atEnd = await scrape(url);
    if (!atWarmupEnd) throw new Error('the run ended before its warm-up did');
    return { samples, warmupEndMs, endMs, errors: result.errors, atWarmupEnd: await atWarmupEnd, atEnd };
  } finally {
    clearTimeout(timer);
  }
}

/** Latencies (ms) of `times` requests of `body` sent alone, one after the other. */
export async function aloneLatencies(url: string, body: string, times: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    const response = await fetch(`${url}/embed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`a request alone failed with ${response.status}`);
    ms.push(performance.now() - started);
  }
  return ms;
}
