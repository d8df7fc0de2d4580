// `npm run bench -- serve`: the load test of `finetuner serve`. Starts the server as a child process on
// 127.0.0.1 (the real CLI, so the load generator does not share its event loop) and drives it with
// autocannon for a fixed time per scenario: 64 connections each sending one short (~32-token) text, 16
// connections sending 16 texts, then 16 connections sending one 224 px image each (bert-base-cased and
// resnet50 at full size with random weights, fp32), each served batched (the default) and unbatched
// (--no-batching: one native encode per request) in the same run. Reports requests/s, items/s, p50/p99
// latency, the mean native batch size (from /metrics), failed requests (non-2xx and errors) and the
// server's resident memory after the warm-up and at the end; and checks the goals: batched >= 4x the
// unbatched items/s at 64 clients, p99 <= 2x the p50 of a full batch, no failures, flat memory.

import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { packageRoot } from '../lib/addonLoader.js';
import { TextTokenizer } from '../lib/text/tokenizer.js';
import { exportedModel as exportedBert, glosses } from './bert.js';
import { exportedModel as exportedResnet } from './resnet.js';
import { positiveFlag, UsageError } from './shared.js';

const USAGE = `usage: npm run bench -- serve [options]

Load test of finetuner serve on 127.0.0.1 with autocannon, batched and unbatched side by side:
  text1   64 connections, one ~32-token text per request (bert-base-cased, full size, random weights, fp32)
  text16  16 connections, 16 texts per request (same model)
  image   16 connections, one 256 px JPEG per request, resized and cropped to 224 (resnet50, full size)

options:
  --duration S    measured seconds per scenario and mode (default 12)
  --warmup S      unmeasured seconds of the same load first (default 4)
  --only LIST     comma-separated scenarios: text1, text16, image (default: all)
  --threads N     the server's intra-op threads (default: os.availableParallelism() = ${availableParallelism()})
  --tokens N      tokens per short text, special tokens included (default 32)
  --cache DIR     exported models (default: $FINETUNER_BENCH_CACHE or <tmpdir>/finetuner-bench)
  --out DIR       where serve.md and serve.json go (default: bench-results/)
  -h, --help      this text`;

const SCENARIOS = ['text1', 'text16', 'image'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Settings {
  duration: number;
  warmup: number;
  only: Scenario[];
  threads: number;
  tokens: number;
  cache: string;
  out: string;
}

interface Row {
  scenario: Scenario;
  mode: 'batched' | 'unbatched';
  connections: number;
  itemsPerRequest: number;
  requestsPerSecond: number;
  itemsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  meanBatch: number;
  failed: number;
  rssStartMb: number;
  rssEndMb: number;
}

const log = (message: string) => process.stderr.write(`bench serve: ${message}\n`);

function parseSettings(argv: string[]): Settings | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' }, warmup: { type: 'string' }, only: { type: 'string' }, threads: { type: 'string' }, tokens: { type: 'string' },
      cache: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const only = (values.only ?? SCENARIOS.join(',')).split(',').map((s) => s.trim());
  for (const s of only) if (!(SCENARIOS as readonly string[]).includes(s)) throw new UsageError(`--only: unknown scenario ${s} (text1, text16, image)`);
  return {
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

interface ServerChild {
  url: string;
  stop(): Promise<number | null>;
}

async function startServer(model: string, batching: boolean, threads: number): Promise<ServerChild> {
  const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'cli', 'main.js');
  const args = [cli, 'serve', '--model', `m=${model}`, '--port', '0', '--device', 'cpu', '--max-queue', '8192', ...(batching ? [] : ['--no-batching'])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exit = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const url = await new Promise<string>((found, failed) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match) found(match[1]!);
    });
    void exit.then((code) => failed(new Error(`finetuner serve exited with ${code}: ${stderr}`)));
  });
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      return exit;
    },
  };
}

/** The sum and count of the batch-size histogram and the resident memory, from /metrics. */
async function scrape(url: string): Promise<{ batchSum: number; batchCount: number; rssMb: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    batchSum: value(/^finetuner_batch_size_sum\{[^}]*\} (\S+)/m),
    batchCount: value(/^finetuner_batch_size_count\{[^}]*\} (\S+)/m),
    rssMb: value(/^finetuner_process_resident_memory_bytes (\S+)/m) / 2 ** 20,
  };
}

/** Waits until the server has nothing queued (the warm-up's last requests may still be encoding). */
async function drained(url: string): Promise<void> {
  const started = performance.now();
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    if (!/^finetuner_queue_depth\{[^}]*\} [1-9]/m.test(text)) return;
    if (performance.now() - started > 300_000) throw new Error('the server did not drain its queue within 5 minutes');
    await new Promise((r) => setTimeout(r, 200));
  }
}

function load(url: string, bodies: readonly string[], connections: number, seconds: number): Promise<autocannon.Result> {
  let next = 0;
  return autocannon({
    url: `${url}/embed`,
    connections,
    duration: seconds,
    timeout: 120,
    requests: [{
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length]! }),
    }],
  });
}

/** Median latency of one request of `body` alone (the full-batch p50 the goal compares p99 with). */
async function aloneLatency(url: string, body: string, times: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    const response = await fetch(`${url}/embed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`a full batch failed with ${response.status}`);
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)]!;
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
  let fullBatchP50: number | undefined;
  for (const step of plan.filter((p) => settings.only.includes(p.scenario))) {
    const model = await step.model();
    const bodies = await step.bodies();
    for (const batching of [false, true]) {
      const mode = batching ? 'batched' : 'unbatched';
      log(`${step.scenario} ${mode}: starting the server`);
      const server = await startServer(model, batching, settings.threads);
      try {
        log(`${step.scenario} ${mode}: warm-up ${settings.warmup} s`);
        await load(server.url, bodies, step.connections, settings.warmup);
        await drained(server.url);
        if (step.scenario === 'text1' && batching) {
          fullBatchP50 = await aloneLatency(server.url, JSON.stringify({ inputs: texts.slice(0, 32) }), 5);
          log(`a full batch of 32 texts alone: p50 ${fullBatchP50.toFixed(0)} ms`);
        }
        const before = await scrape(server.url);
        log(`${step.scenario} ${mode}: ${settings.duration} s at ${step.connections} connections x ${step.items} item(s)`);
        const result = await load(server.url, bodies, step.connections, settings.duration);
        await drained(server.url);
        const after = await scrape(server.url);
        const ok = result['2xx'];
        const row: Row = {
          scenario: step.scenario, mode, connections: step.connections, itemsPerRequest: step.items,
          requestsPerSecond: ok / result.duration, itemsPerSecond: (ok * step.items) / result.duration,
          p50Ms: result.latency.p50, p99Ms: result.latency.p99,
          meanBatch: (after.batchSum - before.batchSum) / Math.max(1, after.batchCount - before.batchCount),
          failed: result.non2xx + result.errors, rssStartMb: before.rssMb, rssEndMb: after.rssMb,
        };
        rows.push(row);
        log(`${step.scenario} ${mode}: ${row.requestsPerSecond.toFixed(1)} req/s, ${row.itemsPerSecond.toFixed(1)} items/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, mean batch ${row.meanBatch.toFixed(1)}, failed ${row.failed}`);
      } finally {
        const code = await server.stop();
        if (code !== 0) log(`the server exited with ${code}`);
      }
    }
  }
  const markdown = toMarkdown(rows, settings, fullBatchP50);
  await mkdir(settings.out, { recursive: true });
  await writeFile(join(settings.out, 'serve.md'), markdown);
  await writeFile(join(settings.out, 'serve.json'), `${JSON.stringify({ date: new Date().toISOString(), settings, fullBatchP50Ms: fullBatchP50, rows }, null, 2)}\n`);
  process.stdout.write(`\n${markdown}`);
  log(`wrote ${join(settings.out, 'serve.md')} and serve.json`);
  return 0;
}

function toMarkdown(rows: Row[], settings: Settings, fullBatchP50: number | undefined): string {
  const lines = [
    `Load test: finetuner serve on 127.0.0.1, ${settings.threads} intra-op threads, ${settings.duration} s per row after ${settings.warmup} s of warm-up, fp32.`,
    '',
    '| scenario | mode | connections x items | requests/s | items/s | p50 ms | p99 ms | mean batch | failed | RSS MB start -> end |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) =>
      `| ${r.scenario} | ${r.mode} | ${r.connections} x ${r.itemsPerRequest} | ${r.requestsPerSecond.toFixed(1)} | ${r.itemsPerSecond.toFixed(1)} | ${r.p50Ms} | ${r.p99Ms} | ${r.meanBatch.toFixed(1)} | ${r.failed} | ${r.rssStartMb.toFixed(0)} -> ${r.rssEndMb.toFixed(0)} |`),
    '',
  ];
  for (const scenario of SCENARIOS) {
    const batched = rows.find((r) => r.scenario === scenario && r.mode === 'batched');
    const unbatched = rows.find((r) => r.scenario === scenario && r.mode === 'unbatched');
    if (batched && unbatched) lines.push(`- ${scenario}: batched / unbatched items/s = ${(batched.itemsPerSecond / unbatched.itemsPerSecond).toFixed(2)}x${scenario === 'text1' ? ' (goal >= 4x)' : ''}`);
  }
  const text1 = rows.find((r) => r.scenario === 'text1' && r.mode === 'batched');
  if (text1 && fullBatchP50 !== undefined) {
    lines.push(`- text1 batched p99 ${text1.p99Ms} ms against 2 x the p50 of a full batch of 32 alone (${fullBatchP50.toFixed(0)} ms): ${text1.p99Ms <= 2 * fullBatchP50 ? 'met' : 'missed'}`);
  }
  lines.push(`- failed requests: ${rows.reduce((n, r) => n + r.failed, 0)}; RSS growth over a row at most ${Math.max(0, ...rows.map((r) => r.rssEndMb - r.rssStartMb)).toFixed(0)} MB`, '');
  return lines.join('\n');
}
