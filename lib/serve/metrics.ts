// The server's Prometheus metrics, in a prom-client registry of its own (not the global one, so two
// servers in one process, or an application's own metrics, do not mix): requests by route and status,
// request latency, native batch sizes and times, queue depth per model, and items embedded; plus
// prom-client's process metrics (resident memory, CPU, event-loop lag).

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchReport } from './encoder.js';
import type { ModelSet } from './models.js';

export interface ServerMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  latency: Histogram<'route'>;
  batchSize: Histogram<'model' | 'kind'>;
  batchSeconds: Histogram<'model' | 'kind'>;
  items: Counter<'model' | 'kind'>;
  /** Called by each encoder after a native batch. */
  onBatch(model: string, info: BatchReport): void;
}

export function createMetrics(models: () => ModelSet | undefined): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'finetuner_' });
  const batchSize = new Histogram({
    name: 'finetuner_batch_size', help: 'Inputs per native encode batch', labelNames: ['model', 'kind'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers,
  });
  const batchSeconds = new Histogram({
    name: 'finetuner_batch_seconds', help: 'Time of one native encode batch (preparation and encode)', labelNames: ['model', 'kind'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers,
  });
  new Gauge({
    name: 'finetuner_queue_depth', help: 'Inputs accepted and not yet in a native batch, per model', labelNames: ['model'] as const, registers,
    collect() {
      this.reset();
      for (const served of models()?.list() ?? []) this.set({ model: served.name }, served.encoder.queued);
    },
  });
  return {
    registry,
    requests: new Counter({ name: 'finetuner_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'] as const, registers }),
    latency: new Histogram({
      name: 'finetuner_http_request_duration_seconds', help: 'Time from request to response, by route', labelNames: ['route'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    }),
    batchSize,
    batchSeconds,
    items: new Counter({ name: 'finetuner_embedded_items_total', help: 'Inputs embedded, per model and kind', labelNames: ['model', 'kind'] as const, registers }),
    onBatch(model, info) {
      batchSize.observe({ model, kind: info.kind }, info.rows);
      batchSeconds.observe({ model, kind: info.kind }, info.encodeMs / 1000);
    },
  };
}
