// finetuner serve: the embedding and search server (lib/serve/) on the command line. Runs until SIGTERM or
// Ctrl-C, which close it gracefully (requests in flight and queued finish; exit 0); SIGHUP reloads the
// models from their folders.

import { existsSync } from 'node:fs';
import { SERVE_RANGES } from '../optionRanges.js';
import { API_KEY_ENV, DEFAULT_HOST, DEFAULT_PORT, SERVE_LIMITS, type ServeOptions } from '../serve/options.js';
import {
  DEVICE_OPTION, DEVICES, PRECISION_OPTION, PRECISIONS, UsageError, choiceOption, flag, note, numberOption, out, stringList, stringOption,
  type Command, type OptionSpec,
} from './command.js';
import { interruptSignal } from './interrupt.js';

const LIMIT_OPTIONS: Record<string, OptionSpec> = Object.fromEntries(
  Object.values(SERVE_LIMITS).map((spec) => [spec.flag, { type: 'string', value: 'N', description: spec.description, default: String(spec.default) } satisfies OptionSpec]),
);

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Serve models over HTTP: OpenAI-compatible /v1/embeddings, /embed (text-embeddings-inference), /search, /metrics.',
  usage: ['serve --model DIR [--model NAME=DIR ...] [--port 8080] [--host 127.0.0.1] [--index DIR] [options]'],
  details:
    'Each --model is a saved model or exported backbone folder, served under its folder name (or NAME with\n' +
    'NAME=DIR); requests name it in `model` (optional when one model is served). Concurrent requests are\n' +
    'coalesced into shared native batches (--no-batching: one encode per request). --index loads an\n' +
    'EmbeddingIndex folder for POST /search. With --api-key (or $' + API_KEY_ENV + ') every route but /health\n' +
    'needs `Authorization: Bearer KEY`. SIGTERM or Ctrl-C: stop accepting, finish what is queued, exit 0;\n' +
    'SIGHUP: reload the models from their folders without dropping requests.',
  options: {
    model: { type: 'string', value: 'DIR|NAME=DIR', description: 'a model to serve (repeat for several)', required: true, multiple: true },
    port: { type: 'string', value: 'N', description: 'TCP port (0: any free port)', default: String(DEFAULT_PORT) },
    host: { type: 'string', value: 'HOST', description: 'address to listen on (0.0.0.0: every interface)', default: DEFAULT_HOST },
    index: { type: 'string', value: 'DIR', description: 'an EmbeddingIndex folder to search (POST /search)' },
    'index-model': { type: 'string', value: 'NAME', description: 'the model whose space the index is in', default: 'the first --model' },
    'api-key': { type: 'string', value: 'KEY', description: `bearer token required on every route but /health (or $${API_KEY_ENV})`, default: 'none' },
    'no-batching': { type: 'boolean', description: 'one native encode per request instead of shared batches' },
    'no-truncate': { type: 'boolean', description: "refuse texts longer than the model's maximum (413) instead of truncating them" },
    ...LIMIT_OPTIONS,
    device: DEVICE_OPTION,
    precision: PRECISION_OPTION,
  },
  async run(args) {
    const options = serveOptions(args);
    const { serve } = await import('../serve/server.js'); // the addon loads only for verbs that need it
    const stop = interruptSignal('stopping: finishing the requests in flight');
    const server = await serve(options);
    out(`finetuner serve: listening on ${server.url} (${Object.keys(typeof options.models === 'string' ? { [options.models]: '' } : options.models).join(', ')})`);
    const reload = () => {
      note('finetuner serve: SIGHUP: reloading the models');
      server.reload().then(() => note('finetuner serve: models reloaded'), (error: Error) => note(`finetuner serve: reload failed, still serving the old models: ${error.message}`));
    };
    process.on('SIGHUP', reload);
    try {
      await new Promise<void>((done) => {
        if (stop.aborted) done();
        else stop.addEventListener('abort', () => done(), { once: true });
      });
    } finally {
      process.off('SIGHUP', reload);
      await server.close();
      note('finetuner serve: stopped');
    }
  },
};

function serveOptions(args: Parameters<Command['run']>[0]): ServeOptions {
  const models: Record<string, string> = {};
  for (const entry of stringList(args, 'model')) {
    const match = /^([^=/]+)=(.+)$/.exec(entry);
    const [name, dir] = match ? [match[1]!, match[2]!] : [undefined, entry];
    if (!existsSync(dir)) throw new Error(`--model ${entry}: no such folder ${dir}`);
    const key = name ?? dir.replace(/\/+$/, '').split('/').pop()!;
    if (Object.hasOwn(models, key)) throw new UsageError(`--model ${entry}: the name ${key} is given twice; name them with NAME=DIR`);
    models[key] = dir;
  }
  const limits = Object.fromEntries(
    Object.entries(SERVE_LIMITS).map(([name, spec]) => [name, numberOption(args, spec.flag, SERVE_RANGES[name as keyof typeof SERVE_LIMITS])]),
  );
  const index = stringOption(args, 'index');
  if (index !== undefined && !existsSync(index)) throw new Error(`--index ${index}: no such folder`);
  return {
    models,
    port: numberOption(args, 'port', SERVE_RANGES.port),
    host: stringOption(args, 'host'),
    index,
    indexModel: stringOption(args, 'index-model'),
    apiKey: stringOption(args, 'api-key') ?? (process.env[API_KEY_ENV] || undefined),
    batching: !flag(args, 'no-batching'),
    truncate: !flag(args, 'no-truncate'),
    device: choiceOption(args, 'device', DEVICES),
    precision: choiceOption(args, 'precision', PRECISIONS),
    ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)),
  };
}
