// `npm run bench -- serve`: the load test of `finetuner serve`. Per scenario it starts two servers as
// child processes on 127.0.0.1 (the real CLI, so the load generator does not share their event loop), one
// batched (the default) and one unbatched (--no-batching: one native encode per request), and drives them
// with autocannon: 64 connections each sending one short (~32-token) text, 16 connections sending 16
// texts, then 16 connections sending one 224 px image each (bert-base-cased and resnet50 at full size with
// random weights, fp32). The host's speed drifts over minutes, so the two modes run in --rounds rounds,
// one after the other, the one that goes first alternating (unbatched first in odd rounds), and the
// batched/unbatched items/s ratio is the median of the per-round ratios; the idle server's CPU time is
// checked while the other runs. Each mode-run is one autocannon run of warm-up + duration seconds: the
// responses completed during the warm-up are dropped (a run starts all its connections at once against an
// idle server, so its first batches are partial and their requests wait an extra batch), so p50/p99 are of
// the steady state. Reports requests/s and items/s (median over rounds), p50/p99 of the pooled steady-state
// latencies, the mean native batch size and time (from /metrics), failed requests (non-2xx and errors over
// whole runs) and the servers' resident memory; and checks the goals: batched >= 4x the unbatched items/s
// at 64 clients, p99 <= 2x the p50 of a full batch alone, no failures, flat memory.

import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { packageRoot } from '../lib/addonLoader.js';
import { TextTokenizer } from '../lib/text/tokenizer.js';
import { exportedModel as exportedBert, glosses } from './bert.js';
import { exportedModel as exportedResnet } from './resnet.js';
import { aloneLatencies, drained, loadRun, processUsage, scrape, startServer, type ServerChild } from './serveLoad.js';
import { percentile, pooled, ratioOfRounds, roundOrder, steadyState } from './serveStats.js';
import { positiveFlag, UsageError } from './shared.js';
import { median } from './sideBySide.js';

const USAGE = `usage: npm run bench -- serve [options]

Load test of finetuner serve on 127.0.0.1 with autocannon, a batched and an unbatched server per scenario:
  text1   64 connections, one ~32-token text per request (bert-base-cased, full size, random weights, fp32)
  text16  16 connections, 16 texts per request (same model)
  image   16 connections, one 256 px JPEG per request, resized and cropped to 224 (resnet50, full size)
Each round runs both modes one after the other, the first alternating (unbatched first in round 1); the
batched/unbatched items/s ratio is the median of the per-round ratios.

options:
  --rounds R      rounds per scenario (default 3)
  --duration S    measured (steady-state) seconds per round and mode (default 12)
  --warmup S      seconds at the start of each run whose responses are not counted (default 4)
  --only LIST     comma-separated scenarios: text1, text16, image (default: all)
  --threads N     each server's intra-op threads (default: os.availableParallelism() = ${availableParallelism()})
  --tokens N      tokens per short text, special tokens included (default 32)
  --cache DIR     exported models (default: $FINETUNER_BENCH_CACHE or <tmpdir>/finetuner-bench)
  --out DIR       where serve.md and serve.json go (default: bench-results/)
  -h, --help      this text`;

const SCENARIOS = ['text1', 'text16', 'image'] as const;
type Scenario = (typeof SCENARIOS)[number];
type Mode = 'batched' | 'unbatched';
const MODES: readonly Mode[] = ['unbatched', 'batched'];

interface Settings {
  rounds: number;
  duration: number;
  warmup: number;
  only: Scenario[];
  threads: number;
  tokens: number;
  cache: string;
  out: string;
}

/** One mode's steady state in one round. */
interface ModeRound {
  round: number;
  requestsPerSecond: number;
  itemsPerSecond: number;
  /** Ascending; left out of serve.json. */
  latenciesMs: number[];
  batchSum: number;
  batchCount: number;
  batchSeconds: number;
  failed: number;
}

interface Row {
  scenario: Scenario;
  mode: Mode;
  connections: number;
  itemsPerRequest: number;
  /** Medians over rounds. */
  requestsPerSecond: number;
  itemsPerSecond: number;
  /** Of the steady-state latencies of all rounds, pooled. */
  p50Ms: number;
  p99Ms: number;
  meanBatch: number;
  meanBatchMs: number;
  failed: number;
  /** After round 1's warm-up and after the last round. */
  rssStartMb: number;
  rssEndMb: number;
  /** CPU seconds this server used while the other mode ran, and those runs' wall seconds. */
  idleCpuSeconds: number;
  idleWallSeconds: number;
  rounds: Omit<ModeRound, 'latenciesMs'>[];
}

interface ScenarioRatio {
  scenario: Scenario;
  perRound: number[];
  median: number;
}

const log = (message: string) => process.stderr.write(`bench serve: ${message}\n`);

function parseSettings(argv: string[]): Settings | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, only: { type: 'string' }, threads: { type: 'string' }, tokens: { type: 'string' },
      cache: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const only = (values.only ?? SCENARIOS.join(',')).split(',').map((s) => s.trim());
  for (const s of only) if (!(SCENARIOS as readonly string[]).includes(s)) throw new UsageError(`--only: unknown scenario ${s} (text1, text16, image)`);
  return {
    rounds: positiveFlag(values.rounds, '--rounds') ?? 3,
    duration: positiveFlag(values.duration, '--duration') ?? 12,
    warmup: positiveFlag(values.warmup, '--warmup') ?? 4,
    only: only as Scenario[],
    threads: positiveFlag(values.threads, '--threads') ?? availableParallelism(),
    tokens: positiveFlag(values.tokens, '--tokens') ?? 32,
    cache: resolve(values.cache ?? process.env.FINETUNER_BENCH_CACHE ?? join(tmpdir(), 'finetuner-bench')),
    out: resolve(values.out ?? join(packageRoot(), 'bench-results')),
  };
}

/** Texts of exactly `tokens` tokens (special tokens included): WordNet glosses, joined and cut word by word. */
function shortTexts(tokenizer: TextTokenizer, corpus: readonly string[], tokens: number, count: number): string[] {
  const words = corpus.join(' ').split(/\s+/);
  const texts: string[] = [];
  let at = 0;
  while (texts.length < count && at < words.length) {
    const text: string[] = [];
    while (at < words.length) {
      text.push(words[at++]!);
      const length = tokenizer.encode([text.join(' ')], { maxLength: 4 * tokens }).ids[0]!.length;
      if (length >= tokens) {
        if (length === tokens) texts.push(text.join(' '));
        break;
      }
    }
  }
  return texts;
}

/** `count` distinct 256 px JPEGs, as base64. */
async function images(count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const pixels = Buffer.alloc(256 * 256 * 3);
    for (let p = 0; p < pixels.length; p++) pixels[p] = (p * (i + 7) + (p >> 8) * 31) & 255;
    out.push((await sharp(pixels, { raw: { width: 256, height: 256, channels: 3 } }).jpeg({ quality: 85 }).toBuffer()).toString('base64'));
  }
  return out;
}


export async function runServeBench(argv: string[]): Promise<number> {
  let settings: Settings | undefined;
  try {
    settings = parseSettings(argv);
  } catch (error) {
    process.stderr.write(`bench serve: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (!settings) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  await mkdir(settings.cache, { recursive: true });
  const corpus = await glosses();
  const bert = await exportedBert(settings.cache, log, corpus);
  const tokenizer = await TextTokenizer.fromFile(join(bert, 'tokenizer.json'));
  const texts = shortTexts(tokenizer, corpus, settings.tokens, 4096);
  log(`${texts.length} texts of ${settings.tokens} tokens`);
  const plan: Array<{ scenario: Scenario; model: () => Promise<string>; connections: number; items: number; bodies: () => Promise<string[]> }> = [
    { scenario: 'text1', model: async () => bert, connections: 64, items: 1, bodies: async () => texts.map((t) => JSON.stringify({ inputs: [t] })) },
    {
      scenario: 'text16', model: async () => bert, connections: 16, items: 16,
      bodies: async () => Array.from({ length: Math.floor(texts.length / 16) }, (_, i) => JSON.stringify({ inputs: texts.slice(i * 16, i * 16 + 16) })),
    },
    {
      scenario: 'image', model: () => exportedResnet(settings.cache, log), connections: 16, items: 1,
      bodies: async () => (await images(64)).map((b) => JSON.stringify({ inputs: [b] })),
    },
  ];
  const rows: Row[] = [];
  const ratios: ScenarioRatio[] = [];
  let fullBatch: FullBatch | undefined;
  for (const step of plan.filter((p) => settings.only.includes(p.scenario))) {
    const model = await step.model();
    const bodies = await step.bodies();
    log(`${step.scenario}: starting a batched and an unbatched server`);
    const servers: Partial<Record<Mode, ServerChild>> = {};
    try {
      for (const mode of MODES) servers[mode] = await startServer(model, mode === 'batched', settings.threads);
      const server = (mode: Mode) => servers[mode]!;
      const fullBody = JSON.stringify({ inputs: texts.slice(0, 32) });
      const alone = async (when: string) => {
        const ms = await aloneLatencies(server('batched').url, fullBody, 5);
        log(`a full batch of 32 texts alone (${when}): p50 ${median(ms).toFixed(0)} ms`);
        return ms;
      };
      // The first runs of a TorchScript module optimise it: not in round 1's figures.
      for (const mode of MODES) await aloneLatencies(server(mode).url, bodies[0]!, 2);
      let before: number[] = [];
      if (step.scenario === 'text1') {
        await aloneLatencies(server('batched').url, fullBody, 2);
        before = await alone('before the rounds');
      }
      const runs: Record<Mode, ModeRound[]> = { batched: [], unbatched: [] };
      const idle: Record<Mode, { cpuSeconds: number; wallSeconds: number }> = { batched: { cpuSeconds: 0, wallSeconds: 0 }, unbatched: { cpuSeconds: 0, wallSeconds: 0 } };
      const rssStart: Partial<Record<Mode, number>> = {};
      for (let round = 1; round <= settings.rounds; round++) {
        for (const mode of roundOrder(round)) {
          const other: Mode = mode === 'batched' ? 'unbatched' : 'batched';
          log(`${step.scenario} round ${round} ${mode}: ${settings.warmup} + ${settings.duration} s at ${step.connections} connections x ${step.items} item(s)`);
          const idleBefore = await processUsage(server(other).pid);
          const idleSince = performance.now();
          const run = await loadRun(server(mode).url, bodies, step.connections, settings.warmup, settings.duration);
          await drained(server(mode).url, server(mode).pid);
          const idleAfter = await processUsage(server(other).pid);
          idle[other].cpuSeconds += idleAfter.cpuSeconds - idleBefore.cpuSeconds;
          idle[other].wallSeconds += (performance.now() - idleSince) / 1000;
          rssStart[mode] ??= run.atWarmupEnd.rssMb;
          const steady = steadyState(run.samples, run.warmupEndMs);
          const seconds = (run.endMs - run.warmupEndMs) / 1000;
          const r: ModeRound = {
            round, requestsPerSecond: steady.ok / seconds, itemsPerSecond: (steady.ok * step.items) / seconds, latenciesMs: steady.latenciesMs,
            batchSum: run.atEnd.batchSum - run.atWarmupEnd.batchSum, batchCount: run.atEnd.batchCount - run.atWarmupEnd.batchCount,
            batchSeconds: run.atEnd.batchSecondsSum - run.atWarmupEnd.batchSecondsSum, failed: steady.non2xx + run.errors,
          };
          runs[mode].push(r);
          log(`${step.scenario} round ${round} ${mode}: ${r.requestsPerSecond.toFixed(1)} req/s, ${r.itemsPerSecond.toFixed(1)} items/s, ` +
            `p50 ${percentile(r.latenciesMs, 50).toFixed(0)} ms, p99 ${percentile(r.latenciesMs, 99).toFixed(0)} ms, ` +
            `mean batch ${(r.batchSum / Math.max(1, r.batchCount)).toFixed(1)}, failed ${r.failed}`);
        }
      }
      if (step.scenario === 'text1') {
        const after = await alone('after the rounds');
        fullBatch = { beforeP50Ms: median(before), afterP50Ms: median(after), p50Ms: median([...before, ...after]) };
      }
      for (const mode of MODES) {
        const end = await scrape(server(mode).url);
        rows.push(summarise(step, mode, runs[mode], rssStart[mode]!, end.rssMb, idle[mode]));
      }
      ratios.push({ scenario: step.scenario, ...ratioOfRounds(runs.batched.map((r) => r.itemsPerSecond), runs.unbatched.map((r) => r.itemsPerSecond)) });
    } finally {
      for (const mode of MODES) {
        const code = await servers[mode]?.stop();
        if (code !== undefined && code !== 0) log(`the ${mode} server exited with ${code}`);
      }
    }
  }
  const markdown = toMarkdown(rows, ratios, settings, fullBatch);
  await mkdir(settings.out, { recursive: true });
  await writeFile(join(settings.out, 'serve.md'), markdown);
  await writeFile(join(settings.out, 'serve.json'), `${JSON.stringify({ date: new Date().toISOString(), settings, fullBatch, ratios, rows }, null, 2)}\n`);
  process.stdout.write(`\n${markdown}`);
  log(`wrote ${join(settings.out, 'serve.md')} and serve.json`);
  return 0;
}

interface FullBatch {
  /** p50 of 5 lone requests of 32 texts on the batched server, before and after the rounds, and of all 10. */
  beforeP50Ms: number;
  afterP50Ms: number;
  p50Ms: number;
}

function summarise(
  step: { scenario: Scenario; connections: number; items: number }, mode: Mode, runs: ModeRound[], rssStartMb: number, rssEndMb: number,
  idle: { cpuSeconds: number; wallSeconds: number },
): Row {
  const latencies = pooled(runs.map((r) => r.latenciesMs));
  const batchCount = runs.reduce((n, r) => n + r.batchCount, 0);
  return {
    scenario: step.scenario, mode, connections: step.connections, itemsPerRequest: step.items,
    requestsPerSecond: median(runs.map((r) => r.requestsPerSecond)), itemsPerSecond: median(runs.map((r) => r.itemsPerSecond)),
    p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99),
    meanBatch: runs.reduce((n, r) => n + r.batchSum, 0) / Math.max(1, batchCount),
    meanBatchMs: (1000 * runs.reduce((n, r) => n + r.batchSeconds, 0)) / Math.max(1, batchCount),
    failed: runs.reduce((n, r) => n + r.failed, 0), rssStartMb, rssEndMb,
    idleCpuSeconds: idle.cpuSeconds, idleWallSeconds: idle.wallSeconds,
    rounds: runs.map(({ latenciesMs: _, ...rest }) => rest),
  };
}

/** An idle server may use this share of one core (timers, the metrics' event-loop monitor) and still count as idle. */
const IDLE_CPU_SHARE = 0.01;
/** Growth of the resident memory over a scenario's rounds that still counts as flat. */
const FLAT_MEMORY_SHARE = 0.1;

function toMarkdown(rows: Row[], ratios: ScenarioRatio[], settings: Settings, fullBatch: FullBatch | undefined): string {
  const met = (ok: boolean) => (ok ? 'met' : 'missed');
  const lines = [
    `Load test: finetuner serve on 127.0.0.1, ${settings.threads} intra-op threads, fp32; ${settings.rounds} rounds per scenario, each running ` +
      `both modes (alternating which goes first) for ${settings.warmup} s of warm-up + ${settings.duration} s measured. requests/s and items/s: ` +
      'median over rounds; p50/p99: the steady-state latencies of all rounds; mean batch and batch ms: native batches, from /metrics ' +
      "(batch ms only when batched: the unbatched server's figure includes each request's wait for the compute thread).",
    '',
    '| scenario | mode | connections x items | requests/s | items/s | p50 ms | p99 ms | mean batch | batch ms | failed | RSS MB start -> end |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) =>
      `| ${r.scenario} | ${r.mode} | ${r.connections} x ${r.itemsPerRequest} | ${r.requestsPerSecond.toFixed(1)} | ${r.itemsPerSecond.toFixed(1)} | ` +
      `${r.p50Ms.toFixed(0)} | ${r.p99Ms.toFixed(0)} | ${r.meanBatch.toFixed(1)} | ${r.mode === 'batched' ? r.meanBatchMs.toFixed(0) : '–'} | ${r.failed} | ${r.rssStartMb.toFixed(0)} -> ${r.rssEndMb.toFixed(0)} |`),
    '',
  ];
  for (const ratio of ratios) {
    // A round with no steady-state response on either side (latencies longer than --duration) measured nothing.
    const measured = ratio.perRound.every((x) => Number.isFinite(x) && x > 0);
    lines.push(`- ${ratio.scenario}: batched / unbatched items/s = ${ratio.median.toFixed(2)}x (median of rounds: ${ratio.perRound.map((x) => `${x.toFixed(2)}x`).join(', ')})` +
      (measured ? '' : '; NOT MEASURED: a round had no steady-state response, raise --duration') +
      (ratio.scenario === 'text1' ? `; goal >= 4x: ${measured ? met(ratio.median >= 4) : 'not measured'}` : ''));
  }
  const text1 = rows.find((r) => r.scenario === 'text1' && r.mode === 'batched');
  if (text1 && fullBatch) {
    lines.push(`- text1 batched p99 ${text1.p99Ms.toFixed(0)} ms against 2 x the p50 of a full batch of 32 alone ` +
      `(${fullBatch.p50Ms.toFixed(0)} ms; ${fullBatch.beforeP50Ms.toFixed(0)} before the rounds, ${fullBatch.afterP50Ms.toFixed(0)} after): ${met(text1.p99Ms <= 2 * fullBatch.p50Ms)}`);
    lines.push(`- text1 batched p99 ${text1.p99Ms.toFixed(0)} ms against 2 x its mean native batch under load (${text1.meanBatchMs.toFixed(0)} ms): ${met(text1.p99Ms <= 2 * text1.meanBatchMs)}`);
  }
  const failed = rows.reduce((n, r) => n + r.failed, 0);
  lines.push(`- failed requests: ${failed}; goal 0: ${met(failed === 0)}`);
  const growth = Math.max(0, ...rows.map((r) => (r.rssEndMb - r.rssStartMb) / r.rssStartMb));
  lines.push(`- RSS growth from round 1's warm-up to the end, at most ${(100 * growth).toFixed(1)}%; goal flat (within ${100 * FLAT_MEMORY_SHARE}%): ${met(growth <= FLAT_MEMORY_SHARE)}`);
  const busy = rows.filter((r) => r.idleCpuSeconds > IDLE_CPU_SHARE * r.idleWallSeconds);
  lines.push(busy.length === 0
    ? `- the idle server used at most ${Math.max(0, ...rows.map((r) => r.idleCpuSeconds)).toFixed(2)} CPU s while the other mode ran (${100 * IDLE_CPU_SHARE}% of the time allowed)`
    : `- NOT IDLE: ${busy.map((r) => `the ${r.scenario} ${r.mode} server used ${r.idleCpuSeconds.toFixed(2)} CPU s in ${r.idleWallSeconds.toFixed(0)} s while the other mode ran`).join('; ')}`);
  lines.push('');
  return lines.join('\n');
}
