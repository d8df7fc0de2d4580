// The server (lib/serve/) in-process on tiny models: the OpenAI client round trip (float and base64,
// Matryoshka `dimensions`), /embed with texts and images (base64, data: URLs, multipart), /search, the
// info routes, auth, limits and every bad request (the server still answers afterwards), and the queue's
// 429. Embeddings are compared with model.encode of the same folder, loaded on its own.
import { join } from 'node:path';
import OpenAI from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { writeClipTokenizer } from '../examples/tokenizers/clipBpe.js';
import { EmbeddingIndex, loadModel, serve, type EmbeddingModel, type RunningServer } from '../lib/index.js';
import type { SearchHit } from '../lib/serve/context.js';
import { exportTiny, maxAbsDiff, PYTHON, REPO_ROOT, tempDir } from './helpers/fixtures.js';
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';

const work = tempDir('serve');
const WORDS = 'the a red blue green cat dog bird runs jumps sleeps over under quickly slowly house tree river stone light dark small large'.split(' ');
const sentence = (i: number, words = 6) => Array.from({ length: words }, (_, j) => WORDS[(i * 7 + j * 3) % WORDS.length]).join(' ');

let textDir: string; // a saved text model with a MatryoshkaLoss training record
let plainTextDir: string; // the backbone, no training record
let imageDir: string;
let textModel: EmbeddingModel;
let imageModel: EmbeddingModel;
let png: Buffer;
let jpeg: Buffer;

beforeAll(async () => {
  const tokenizer = join(work.dir, 'tokenizer.json');
  await writeBertTokenizer(tokenizer, Array.from({ length: 200 }, (_, i) => sentence(i)), { vocabSize: 200, lowercase: true });
  plainTextDir = join(work.dir, 'bert');
  execFileSync(PYTHON, [join(REPO_ROOT, 'scripts', 'export_torchscript'), 'bert-base-cased', '--out', plainTextDir, '--size', 'tiny', '--random-init', '--tokenizer', tokenizer], { stdio: ['ignore', 'ignore', 'pipe'] });
  textDir = join(work.dir, 'matryoshka');
  const backbone = await loadModel(plainTextDir, { precision: 'fp32', device: 'cpu' });
  await backbone.save(textDir, { training: { loss: 'MultipleNegativesRankingLoss', matryoshkaDims: [16, 8], history: [] } });
  backbone.dispose();
  imageDir = exportTiny('resnet50', join(work.dir, 'resnet'));
  textModel = await loadModel(textDir, { precision: 'fp32', device: 'cpu' });
  imageModel = await loadModel(imageDir, { precision: 'fp32', device: 'cpu' });
  png = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 20, b: 90 } } }).png().toBuffer();
  jpeg = await sharp({ create: { width: 30, height: 50, channels: 3, background: { r: 10, g: 120, b: 240 } } }).jpeg().toBuffer();
}, 60_000);
afterAll(() => {
  textModel?.dispose();
  imageModel?.dispose();
  work.cleanup();
});

const rowsOf = (data: Float32Array, dim: number) => Array.from({ length: data.length / dim }, (_, i) => data.subarray(i * dim, (i + 1) * dim));
const normalised = (row: ArrayLike<number>) => {
  const norm = Math.hypot(...Array.from(row));
  return Float32Array.from(row, (v) => v / norm);
};

async function post(server: RunningServer, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, json, headers: response.headers };
}

describe('serve: text and image models', () => {
  let server: RunningServer;
  const logged: string[] = [];
  beforeAll(async () => {
    server = await serve({ models: { text: textDir, plain: plainTextDir, image: imageDir }, port: 0, device: 'cpu', log: (line) => logged.push(line) });
  });
  afterAll(() => server?.close());

  it('answers the OpenAI client as OpenAI would, float and base64, with the rows of model.encode', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' });
    const texts = [sentence(1), sentence(2, 3), sentence(3, 9)];
    const reference = await textModel.encode(texts);
    const float = await client.embeddings.create({ model: 'text', input: texts, encoding_format: 'float' });
    expect(float.object).toBe('list');
    expect(float.model).toBe('text');
    expect(float.data.map((d) => d.index)).toEqual([0, 1, 2]);
    expect(float.usage.prompt_tokens).toBe(textModel.tokenizer.encode(texts).ids.reduce((n, ids) => n + ids.length, 0));
    rowsOf(reference.data, reference.dim).forEach((row, i) => expect(maxAbsDiff(Float32Array.from(float.data[i]!.embedding), row)).toBeLessThan(1e-5));
    // The client asks for base64 by default and decodes it itself.
    const decoded = await client.embeddings.create({ model: 'text', input: texts[0]! });
    expect(maxAbsDiff(Float32Array.from(decoded.data[0]!.embedding), rowsOf(reference.data, reference.dim)[0]!)).toBeLessThan(1e-5);
    // Raw base64: little-endian float32, bit for bit the float response's values.
    const raw = await post(server, '/v1/embeddings', { model: 'text', input: texts, encoding_format: 'base64' });
    const bytes = Buffer.from(raw.json.data[2].embedding, 'base64');
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4))).toEqual(float.data[2]!.embedding);
  });

  it('cuts and re-normalises for `dimensions` on a Matryoshka-trained model, and refuses it on another', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' });
    const reference = await textModel.encode([sentence(4)]);
    const cut = await client.embeddings.create({ model: 'text', input: sentence(4), dimensions: 8, encoding_format: 'float' });
    expect(cut.data[0]!.embedding).toHaveLength(8);
    expect(maxAbsDiff(Float32Array.from(cut.data[0]!.embedding), normalised(reference.data.subarray(0, 8)))).toBeLessThan(1e-5);
    const error = await client.embeddings.create({ model: 'plain', input: 'x', dimensions: 8 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('dimensions');
    expect((error as Error).message).toMatch(/MatryoshkaLoss/);
    const same = await client.embeddings.create({ model: 'plain', input: 'x y', dimensions: textModel.outputDim, encoding_format: 'float' });
    expect(same.data[0]!.embedding).toHaveLength(textModel.outputDim);
  });

  it('embeds images sent as base64, data: URLs and multipart files, as model.encode does', async () => {
    const reference = await imageModel.encode([png, jpeg]);
    const expected = rowsOf(reference.data, reference.dim);
    const json = await post(server, '/embed', { model: 'image', inputs: [png.toString('base64'), `data:image/jpeg;base64,${jpeg.toString('base64')}`] });
    expect(json.status).toBe(200);
    json.json.forEach((row: number[], i: number) => expect(maxAbsDiff(Float32Array.from(row), expected[i]!)).toBeLessThan(1e-5));
    const form = new FormData();
    form.append('model', 'image');
    form.append('inputs', new Blob([new Uint8Array(jpeg)]), 'b.jpg');
    const multipart = await fetch(`${server.url}/embed`, { method: 'POST', body: form });
    expect(multipart.status).toBe(200);
    expect(maxAbsDiff(Float32Array.from((await multipart.json())[0]), expected[1]!)).toBeLessThan(1e-5);
    const openai = await post(server, '/v1/embeddings', { model: 'image', input: png.toString('base64'), encoding_format: 'float' });
    expect(maxAbsDiff(Float32Array.from(openai.json.data[0].embedding), expected[0]!)).toBeLessThan(1e-5);
    expect(openai.json.usage.prompt_tokens).toBe(0);
  });

  it('/embed takes TEI requests for texts', async () => {
    const reference = await textModel.encode([sentence(5), sentence(6)]);
    const response = await post(server, '/embed', { model: 'text', inputs: [sentence(5), sentence(6)], normalize: true });
    expect(response.status).toBe(200);
    expect(response.json).toHaveLength(2);
    rowsOf(reference.data, reference.dim).forEach((row, i) => expect(maxAbsDiff(Float32Array.from(response.json[i]), row)).toBeLessThan(1e-5));
  });

  it('lists its models, says it is healthy and exposes Prometheus metrics', async () => {
    const models = await (await fetch(`${server.url}/v1/models`)).json();
    expect(models.data.map((m: { id: string }) => m.id)).toEqual(['text', 'plain', 'image']);
    expect(models.data[0]).toMatchObject({ object: 'model', modality: 'text', dimensions: textModel.outputDim, matryoshka_dimensions: [16, 8] });
    expect(models.data[1].matryoshka_dimensions).toBeUndefined();
    expect(await (await fetch(`${server.url}/health`)).json()).toMatchObject({ status: 'ok', models: ['text', 'plain', 'image'] });
    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await metrics.text();
    expect(text).toMatch(/finetuner_http_requests_total\{route="\/v1\/embeddings",method="POST",status="200"\} [1-9]/);
    expect(text).toMatch(/finetuner_batch_size_count\{model="text",kind="text"\} [1-9]/);
    expect(text).toMatch(/finetuner_embedded_items_total\{model="image",kind="image"\} [1-9]/);
    expect(text).toMatch(/finetuner_queue_depth\{model="text"\} 0/);
    expect(text).toMatch(/finetuner_http_request_duration_seconds_bucket/);
    expect(text).toMatch(/finetuner_process_resident_memory_bytes/);
  });

  it('answers every bad request with a 4xx naming the field, and keeps serving', async () => {
    const cases: Array<[string, unknown, number, string | null, RegExp?]> = [
      ['/v1/embeddings', '{"input": ["a",', 400, null, /not valid JSON/],
      ['/v1/embeddings', '[1, 2]', 400, null, /JSON object/],
      ['/v1/embeddings', '', 400, null, /empty/],
      ['/v1/embeddings', { model: 'text' }, 400, 'input', /input is required/],
      ['/v1/embeddings', { model: 'text', input: [] }, 400, 'input'],
      ['/v1/embeddings', { model: 'text', input: ['a', 'b', 7] }, 400, 'input[2]', /input\[2\] must be a string/],
      ['/v1/embeddings', { model: 'text', input: ['ok', ''] }, 400, 'input[1]', /empty string/],
      ['/v1/embeddings', { model: 'text', input: [[101, 2023]] }, 400, 'input[0]', /token-id arrays/],
      ['/embed', { model: 'text', inputs: 5 }, 400, 'inputs', /got a number, not text/],
      ['/v1/embeddings', { model: 'text', input: [101, 2023] }, 400, 'input', /got numbers, not text \(token-id arrays/],
      ['/v1/embeddings', { model: 'text', input: [{ text: 'a' }] }, 400, 'input[0]'],
      ['/v1/embeddings', { model: 'nope', input: 'a' }, 404, 'model', /"nope" does not exist.*"text", "plain", "image"/],
      ['/v1/embeddings', { input: 'a' }, 400, 'model', /model is required/],
      ['/v1/embeddings', { model: 7, input: 'a' }, 400, 'model'],
      ['/v1/embeddings', { model: 'text', input: 'a', encoding_format: 'hex' }, 400, 'encoding_format'],
      ['/v1/embeddings', { model: 'text', input: 'a', dimensions: 0 }, 400, 'dimensions'],
      ['/v1/embeddings', { model: 'text', input: 'a', dimensions: 1000 }, 400, 'dimensions'],
      ['/v1/embeddings', { model: 'text', input: Array.from({ length: 300 }, () => 'a') }, 413, 'input', /--max-inputs/],
      ['/embed', { model: 'image', inputs: ['not base64 at all!'] }, 400, 'inputs[0]', /not base64/],
      ['/embed', { model: 'image', inputs: [png.toString('base64'), Buffer.from('hello, not an image').toString('base64')] }, 422, 'inputs[1]', /not an image/],
      ['/embed', { model: 'image', inputs: [''] }, 400, 'inputs[0]', /empty/],
      ['/embed', { model: 'image', inputs: [42] }, 400, 'inputs[0]'],
      ['/embed', { model: 'text', inputs: 'a', normalize: 'yes' }, 400, 'normalize'],
      ['/embed', { model: 'text', inputs: 'a', kind: 'image' }, 400, 'kind', /embeds texts/],
      ['/embed', { model: 'text', inputs: 'a', kind: 'audio' }, 400, 'kind'],
      ['/search', { query: 'a' }, 404, null, /no search index/],
    ];
    for (const [path, body, status, param, message] of cases) {
      const response = await post(server, path, body);
      expect(response.status, `${path} ${JSON.stringify(body).slice(0, 80)}`).toBe(status);
      expect(response.json.error.param, JSON.stringify(response.json)).toBe(param);
      if (message) expect(response.json.error.message).toMatch(message);
    }
    const big = await post(server, '/v1/embeddings', { model: 'text', input: 'x'.repeat(17 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect(big.json.error.message).toMatch(/--max-body-bytes/);
    const unknown = await fetch(`${server.url}/v2/nothing`);
    expect(unknown.status).toBe(404);
    const method = await fetch(`${server.url}/v1/embeddings`);
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toBe('POST');
    const form = await fetch(`${server.url}/embed`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: 'garbage' });
    expect(form.status).toBe(400);
    // Clients that go away: one mid-body, one while its texts are queued.
    const socket = connect(server.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inputs": ["half');
    await new Promise((r) => setTimeout(r, 20));
    socket.destroy();
    const gone = new AbortController();
    const abandoned = fetch(`${server.url}/embed`, { method: 'POST', signal: gone.signal, body: JSON.stringify({ model: 'text', inputs: Array.from({ length: 200 }, (_, i) => sentence(i)) }) });
    setTimeout(() => gone.abort(), 5);
    await expect(abandoned).rejects.toThrow();
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await post(server, '/embed', { model: 'text', inputs: 'still serving' })).status).toBe(200);
    // None of it was a server error (those are logged).
    expect(logged).toEqual([]);
  });
});

/**
 * `hits` are the top k of `all` (every id's brute-force score, best first): the same scores in the same
 * order, each id scoring what the reference says (ties, equal to float rounding, may come in either order).
 */
function expectHits(hits: SearchHit[], all: SearchHit[], k: number): void {
  expect(hits).toHaveLength(k);
  const reference = new Map(all.map((h) => [h.id, h.score]));
  hits.forEach((hit, j) => {
    expect(hit.score).toBeCloseTo(all[j]!.score, 5);
    expect(reference.get(hit.id)).toBeCloseTo(hit.score, 5);
  });
}

describe('serve: auth, truncation, queue limits, search', () => {
  it('requires the bearer token on every route but /health, compared in constant time', async () => {
    const server = await serve({ models: textDir, port: 0, device: 'cpu', apiKey: 'sekret-123', log: () => undefined });
    try {
      const missing = await post(server, '/embed', { inputs: 'a' });
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await post(server, '/embed', { inputs: 'a' }, { authorization: 'Bearer sekret-12' })).status).toBe(401);
      expect((await post(server, '/embed', { inputs: 'a' }, { authorization: 'Bearer sekret-1234' })).status).toBe(401);
      expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      const wrong = await new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'nope' }).embeddings.create({ model: 'matryoshka', input: 'a' }).catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
      // One model served under its folder's name; `model` may also be left out.
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'sekret-123' });
      expect((await client.embeddings.create({ model: 'matryoshka', input: 'a b' })).data).toHaveLength(1);
      expect((await post(server, '/v1/embeddings', { input: 'a' }, { authorization: 'Bearer sekret-123' })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  for (const batching of [true, false]) {
    it(`truncates long texts, or refuses them with 413 naming the input when told to (batching ${batching})`, async () => {
      const long = Array.from({ length: 300 }, (_, i) => WORDS[i % WORDS.length]).join(' ');
      expect(textModel.tokenizer.encode([long]).truncated).toBe(1);
      const strict = await serve({ models: textDir, port: 0, device: 'cpu', truncate: false, batching, log: () => undefined });
      try {
        const refused = await post(strict, '/v1/embeddings', { input: ['short', long] });
        expect(refused.status).toBe(413);
        expect(refused.json.error.param).toBe('input[1]');
        expect(refused.json.error.message).toMatch(/tokens/);
        // TEI's per-request `truncate` overrides the server's setting.
        const cut = await post(strict, '/embed', { inputs: [long], truncate: true });
        expect(cut.status).toBe(200);
        const reference = await textModel.encode([long]);
        expect(maxAbsDiff(Float32Array.from(cut.json[0]), reference.data)).toBeLessThan(1e-5);
      } finally {
        await strict.close();
      }
    });
  }

  for (const batching of [true, false]) it(`answers 429 with Retry-After when the queue is full, and serves the rest (batching ${batching})`, async () => {
    const server = await serve({ models: textDir, port: 0, device: 'cpu', maxQueue: 8, batching, log: () => undefined });
    try {
      const responses = await Promise.all(Array.from({ length: 12 }, (_, i) => post(server, '/embed', { inputs: [sentence(i), sentence(i + 1), sentence(i + 2), sentence(i + 3)] })));
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
      expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
      const busy = responses.find((r) => r.status === 429)!;
      const never = await post(server, '/embed', { inputs: Array.from({ length: 9 }, (_, i) => sentence(i)) });
      expect(never.status).toBe(413);
      expect(never.json.error.message).toMatch(/--max-queue/);
      expect(Number(busy.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(busy.json.error.code).toBe('queue_full');
    } finally {
      await server.close();
    }
  });

  it('searches an index by text and by vector, as a brute-force cosine search ranks it', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `doc-${i}`);
    const docs = await textModel.encode(ids.map((_, i) => sentence(i + 50, 5)));
    const dim = docs.dim;
    // The reference: every score, sorted.
    const bruteForce = (query: Float32Array, k: number): SearchHit[] =>
      ids.map((id, i) => {
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += query[j]! * docs.data[i * dim + j]!;
        return { id, score: dot };
      }).sort((a, b) => b.score - a.score).slice(0, k);
    // A real EmbeddingIndex saved to a folder, loaded by the server as --index DIR does.
    const built = new EmbeddingIndex(dim);
    built.add(ids, docs);
    const indexDir = join(work.dir, 'index');
    await built.save(indexDir);
    const server = await serve({ models: { text: textDir }, index: indexDir, port: 0, device: 'cpu', log: () => undefined });
    try {
      const query = await textModel.encode([sentence(53, 5), sentence(7)]);
      const byText = await post(server, '/search', { query: [sentence(53, 5), sentence(7)], k: 5 });
      expect(byText.status).toBe(200);
      rowsOf(query.data, dim).forEach((q, i) => expectHits(byText.json.results[i], bruteForce(q, ids.length), 5));
      // The first query's text is in the index: its own row scores 1.
      expect(byText.json.results[0][0].score).toBeCloseTo(1, 5);
      const byVector = await post(server, '/search', { vector: Array.from(query.data.subarray(0, dim)), k: 3 });
      expectHits(byVector.json.results[0], bruteForce(query.data.subarray(0, dim), ids.length), 3);
      const wrong = await post(server, '/search', { vector: [1, 2, 3] });
      expect(wrong.status).toBe(400);
      expect(wrong.json.error.param).toBe('vector');
      expect((await post(server, '/search', { vector: [Array(dim).fill(0), Array(dim).fill('x')] })).json.error.param).toBe('vector[1][0]');
      expect((await post(server, '/search', { query: 'a', vector: [1] })).status).toBe(400);
      expect((await post(server, '/search', { query: 'a', k: 0 })).json.error.param).toBe('k');
    } finally {
      await server.close();
    }
  });
});

describe('serve: a CLIP model', () => {
  let clip: EmbeddingModel;
  let server: RunningServer;
  beforeAll(async () => {
    const tokenizer = join(work.dir, 'clip-tokenizer.json');
    await writeClipTokenizer(tokenizer, Array.from({ length: 200 }, (_, i) => sentence(i)), { vocabSize: 600 });
    const dir = join(work.dir, 'clip');
    execFileSync(PYTHON, [join(REPO_ROOT, 'scripts', 'export_torchscript'), 'ViT-B-32::openai', '--out', dir, '--size', 'tiny', '--random-init', '--tokenizer', tokenizer], { stdio: ['ignore', 'ignore', 'pipe'] });
    clip = await loadModel(dir, { precision: 'fp32', device: 'cpu' });
    server = await serve({ models: { clip: dir }, port: 0, device: 'cpu', log: () => undefined });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    clip?.dispose();
  });

  it('embeds texts and images into the shared space: `kind`, data: URLs and files choose the tower', async () => {
    const texts = await clip.encodeText([sentence(1), sentence(2)]);
    const images = await clip.encodeImage([png, jpeg]);
    const imageRows = rowsOf(images.data, images.dim);
    const byText = await post(server, '/embed', { inputs: [sentence(1), sentence(2)] });
    rowsOf(texts.data, texts.dim).forEach((row, i) => expect(maxAbsDiff(Float32Array.from(byText.json[i]), row)).toBeLessThan(1e-5));
    const byUrl = await post(server, '/embed', { inputs: [`data:image/png;base64,${png.toString('base64')}`] });
    expect(maxAbsDiff(Float32Array.from(byUrl.json[0]), imageRows[0]!)).toBeLessThan(1e-5);
    const byKind = await post(server, '/v1/embeddings', { input: [jpeg.toString('base64')], kind: 'image', encoding_format: 'float' });
    expect(byKind.status).toBe(200);
    const byKindEmbed = await post(server, '/embed', { inputs: [jpeg.toString('base64')], kind: 'image' });
    expect(maxAbsDiff(Float32Array.from(byKindEmbed.json[0]), imageRows[1]!)).toBeLessThan(1e-5);
    const form = new FormData();
    form.append('inputs', new Blob([new Uint8Array(png)]), 'a.png');
    const multipart = await fetch(`${server.url}/embed`, { method: 'POST', body: form });
    expect(maxAbsDiff(Float32Array.from((await multipart.json())[0]), imageRows[0]!)).toBeLessThan(1e-5);
    const models = await (await fetch(`${server.url}/v1/models`)).json();
    expect(models.data[0]).toMatchObject({ id: 'clip', modality: 'text-image', dimensions: clip.outputDim });
  });
});
