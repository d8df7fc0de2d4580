// serve(options): an embedding and search server on Node's own http module. Routes are a table (path ->
// method -> handler); everything a handler throws becomes a JSON error (lib/serve/errors.ts), so no
// request can crash the process. close() is graceful: stop accepting, let in-flight requests finish
// (their responses say Connection: close), close idle keep-alive sockets, drain the encoders, dispose
// the models. reload() swaps in freshly loaded models without failing a request (lib/serve/models.ts).

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadModel } from '../loadModel.js';
import { bearerAuth } from './auth.js';
import type { Handler, Reply, RouteContext, SearchableIndex } from './context.js';
import { batchedEncoder, unbatchedEncoder, type Encoder } from './encoder.js';
import { errorBody, HttpError, toHttpError } from './errors.js';
import { loadSearchIndex } from './searchIndex.js';
import { createMetrics } from './metrics.js';
import { modelFolders, ModelSet } from './models.js';
import { resolveServeOptions, type ServeOptions } from './options.js';
import { health, listModels, metrics } from './routes/info.js';
import { openaiEmbeddings } from './routes/openai.js';
import { search } from './routes/search.js';
import { teiEmbed } from './routes/tei.js';

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  /** Graceful: stops accepting, finishes every request in flight and queued, disposes the models. */
  close(): Promise<void>;
  /** Loads every model folder again and swaps the new models in; requests in flight finish on the old ones. */
  reload(): Promise<void>;
}

interface Route {
  methods: Partial<Record<string, Handler>>;
  /** /health answers without the API key. */
  open?: boolean;
}

const ROUTES: Record<string, Route> = {
  '/v1/embeddings': { methods: { POST: openaiEmbeddings } },
  '/embeddings': { methods: { POST: openaiEmbeddings } },
  '/embed': { methods: { POST: teiEmbed } },
  '/search': { methods: { POST: search } },
  '/health': { methods: { GET: health }, open: true },
  '/v1/models': { methods: { GET: listModels } },
  '/metrics': { methods: { GET: metrics } },
};

export async function serve(options: ServeOptions): Promise<RunningServer> {
  const settings = resolveServeOptions(options);
  const log = settings.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const folders = modelFolders(settings.models);
  let models: ModelSet | undefined;
  const serverMetrics = createMetrics(() => models);
  const limits = { maxBatchSize: settings.maxBatchSize, maxBatchTokens: settings.maxBatchTokens, maxWaitMs: settings.maxWaitMs, maxQueue: settings.maxQueue };
  const makeEncoder = (model: Parameters<typeof unbatchedEncoder>[0], name: string): Encoder => {
    const encoder = settings.batching ? batchedEncoder(model, limits) : unbatchedEncoder(model, limits);
    encoder.onBatch = (info) => serverMetrics.onBatch(name, info);
    return encoder;
  };
  models = await ModelSet.open(folders, (dir) => loadModel(dir, { device: settings.device, precision: settings.precision }), makeEncoder);
  const ready = models;
  let index: SearchableIndex | undefined;
  let indexModel: string | undefined;
  try {
    if (settings.index !== undefined) {
      index = typeof settings.index === 'string' ? await loadSearchIndex(settings.index) : settings.index;
      indexModel = settings.indexModel ?? ready.names()[0]!;
      const { served, release } = ready.acquire(indexModel, 'indexModel');
      release();
      if (served.model.outputDim !== index.dim) {
        throw new Error(`the index${typeof settings.index === 'string' ? ` ${settings.index}` : ''} has ${index.dim} dims but the model ${indexModel} embeds ${served.model.outputDim}`);
      }
    }
  } catch (error) {
    await ready.close();
    throw error instanceof HttpError ? new Error(`option 'indexModel': ${error.message}`) : error;
  }

  const auth = settings.apiKey !== undefined ? bearerAuth(settings.apiKey) : undefined;
  const requestLimits = { maxBodyBytes: settings.maxBodyBytes, maxInputs: settings.maxInputs, maxQueue: settings.maxQueue, truncate: settings.truncate };
  let inFlight = 0;
  let closing: Promise<void> | undefined;
  let idle: (() => void) | undefined;

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const started = performance.now();
    inFlight++;
    const path = (request.url ?? '/').split('?')[0]!;
    const route = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
    const routeLabel = route ? path : 'unmatched';
    const aborted = new AbortController();
    response.on('close', () => {
      if (!response.writableFinished) aborted.abort(new HttpError(499, 'the client closed the request'));
    });
    let reply: Reply;
    try {
      if (!route) throw new HttpError(404, `no route ${path}; routes: ${Object.keys(ROUTES).join(', ')}`, { code: 'not_found' });
      const handler = route.methods[request.method ?? ''];
      if (!handler) {
        const allow = Object.keys(route.methods).join(', ');
        throw new HttpError(405, `${path} takes ${allow}, not ${request.method}`, { code: 'method_not_allowed', headers: { Allow: allow } });
      }
      if (auth && !route.open) auth(request);
      reply = await handler(request, { models: ready, index, indexModel, limits: requestLimits, metrics: serverMetrics, signal: aborted.signal } satisfies RouteContext);
    } catch (thrown) {
      // A client that went away mid-request (its body cut, its rows no longer wanted) is no server error.
      const error = aborted.signal.aborted ? new HttpError(499, 'the client closed the request', { code: 'client_closed' }) : toHttpError(thrown);
      if (error.status >= 500 && error.status !== 503) log(`finetuner serve: ${request.method} ${path}: ${thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown)}`);
      for (const [name, value] of Object.entries(error.options.headers ?? {})) response.setHeader(name, value);
      // A body we did not read (refused early, or too large) is not worth draining: close the connection.
      if (!request.complete) response.setHeader('Connection', 'close');
      reply = { status: error.status, body: errorBody(error) };
    }
    try {
      send(response, reply, closing !== undefined);
    } finally {
      const status = String(reply.status ?? 200);
      serverMetrics.requests.inc({ route: routeLabel, method: route ? (request.method ?? '') : '', status });
      serverMetrics.latency.observe({ route: routeLabel }, (performance.now() - started) / 1000);
      if (--inFlight === 0) idle?.();
    }
  };

  const server = createServer({ keepAliveTimeout: 5000 }, (request, response) => {
    handle(request, response).catch((error: unknown) => {
      log(`finetuner serve: ${(error as Error)?.stack ?? String(error)}`);
      if (!response.headersSent) response.destroy();
    });
  });
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(settings.port, settings.host, () => {
      server.off('error', failed);
      listening();
    });
  }).catch(async (error: Error) => {
    await ready.close();
    throw new Error(`cannot listen on ${settings.host}:${settings.port}: ${error.message}`);
  });
  server.on('error', (error) => log(`finetuner serve: ${error.message}`));
  const { port } = server.address() as AddressInfo;
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;

  return {
    url: `http://${host}:${port}`,
    port,
    reload: () => ready.reload(),
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((done) => server.close(() => done()));
        server.closeIdleConnections();
        if (inFlight > 0) await new Promise<void>((done) => { idle = done; });
        server.closeAllConnections();
        await stopped;
        await ready.close();
      })();
      return closing;
    },
  };
}

function send(response: ServerResponse, reply: Reply, closing: boolean): void {
  if (response.destroyed || response.headersSent) return;
  const text = reply.contentType ? String(reply.body) : JSON.stringify(reply.body);
  response.statusCode = reply.status ?? 200;
  response.setHeader('Content-Type', reply.contentType ?? 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(text));
  if (closing) response.setHeader('Connection', 'close');
  response.end(text);
}
