// report.html of a training run: one self-contained file (inline CSS and SVG, no script, no network)
// with the loss and learning-rate curves, evaluation metrics per epoch, a before/after table, the
// configuration, timings and throughput. fit() collects a TrainingReport as it goes and writes it into
// the output directory; renderTrainingReport is pure, so it is tested on its own.
import { writeFileAtomic } from '../atomicFile.js';
import { escapeXml, formatNumber, lineChart } from './svgChart.js';

export const REPORT_FILE = 'report.html';

export interface ReportStep {
  /** 1-based step over the whole run. */
  step: number;
  epoch: number;
  loss: number;
  learningRate: number;
}

export interface ReportEpoch {
  /** 1-based. */
  epoch: number;
  loss: number;
  steps: number;
  seconds: number;
  /** Examples (rows of the training data: items or pairs) in the epoch's batches. */
  items: number;
  /** Evaluation metrics after the epoch, by name (mAP, MRR, ...). */
  metrics?: Record<string, number>;
}

export interface TrainingReport {
  /** The model's name, e.g. "resnet50". */
  model: string;
  task: string;
  startedAt: Date;
  seconds: number;
  config: Record<string, unknown>;
  steps: ReportStep[];
  epochs: ReportEpoch[];
  /** Evaluation metrics before the first step, and of the model that was kept. */
  before?: Record<string, number>;
  after?: Record<string, number>;
  /** Which epoch was kept, when a checkpoint callback chose one. */
  kept?: { epoch: number; monitor: string; value: number };
  /** Anything else worth a line (e.g. "stopped early after epoch 4"). */
  notes?: string[];
}

function table(header: string[], rows: Array<Array<string | number>>, className = ''): string {
  const cell = (v: string | number) => (typeof v === 'number' ? `<td class="num">${escapeXml(formatNumber(v))}</td>` : `<td>${escapeXml(v)}</td>`);
  return `<table class="${className}"><thead><tr>${header.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</tbody></table>`;
}

function configValue(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? String(value);
}

function metricsTable(before: Record<string, number> | undefined, after: Record<string, number> | undefined): string {
  const names = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])];
  if (names.length === 0) return '<p class="muted">No evaluation data was given (evalData), so there are no metrics to compare.</p>';
  const rows = names.map((name) => {
    const b = before?.[name];
    const a = after?.[name];
    const delta = a !== undefined && b !== undefined ? a - b : undefined;
    const sign = delta === undefined ? '' : delta > 0 ? 'up' : delta < 0 ? 'down' : '';
    return `<tr><td>${escapeXml(name)}</td><td class="num">${b === undefined ? '' : escapeXml(formatNumber(b))}</td>` +
      `<td class="num">${a === undefined ? '' : escapeXml(formatNumber(a))}</td>` +
      `<td class="num ${sign}">${delta === undefined ? '' : `${delta > 0 ? '+' : ''}${escapeXml(formatNumber(delta))}`}</td></tr>`;
  });
  return `<table class="metrics"><thead><tr><th>metric</th><th>before</th><th>after</th><th>change</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${Math.round(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;margin:0;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.muted{color:#666}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #e2e4e8;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}
.chart-box{background:#fff;border:1px solid #e2e4e8;border-radius:8px;padding:6px}
table{border-collapse:collapse;background:#fff;border:1px solid #e2e4e8}th,td{padding:5px 10px;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.up{color:#0a7a3d}td.down{color:#b3261e}
.chart-title{font-size:13px;font-weight:600;fill:#222}.chart-empty{fill:#999}
`;

/** The whole report as one HTML document. */
export function renderTrainingReport(report: TrainingReport): string {
  const items = report.epochs.reduce((n, e) => n + e.items, 0);
  // Throughput over the training steps only: evaluation, loading and saving are in `time`, not here.
  const trainSeconds = report.epochs.reduce((n, e) => n + e.seconds, 0);
  const stepCount = report.steps.length;
  const cards = [
    ['model', report.model],
    ['task', report.task],
    ['epochs', String(report.epochs.length)],
    ['steps', String(stepCount)],
    ['time', duration(report.seconds)],
    ['throughput', trainSeconds > 0 ? `${formatNumber(items / trainSeconds)} examples/s` : ''],
  ];
  if (report.kept) cards.push(['kept', `epoch ${report.kept.epoch} (${report.kept.monitor} ${formatNumber(report.kept.value)})`]);
  const metricNames = [...new Set(report.epochs.flatMap((e) => Object.keys(e.metrics ?? {})))];
  const charts = [
    lineChart([{ name: 'loss', points: report.steps.map((s) => [s.step, s.loss]) }], { title: 'Training loss per step', xLabel: 'step', yLabel: 'loss' }),
    lineChart([{ name: 'learning rate', points: report.steps.map((s) => [s.step, s.learningRate]) }], { title: 'Learning rate', xLabel: 'step', yLabel: 'learning rate' }),
    lineChart(
      // The evaluation before training sits at epoch 0, so each line starts where the model started.
      metricNames.map((name) => ({
        name,
        points: [
          ...(report.before?.[name] !== undefined && report.epochs.length > 0 ? [[0, report.before[name]!] as const] : []),
          ...report.epochs.filter((e) => e.metrics?.[name] !== undefined).map((e) => [e.epoch, e.metrics![name]!] as const),
        ],
      })),
      { title: 'Evaluation per epoch (0: before training)', xLabel: 'epoch', markers: true, integerX: true },
    ),
    lineChart([{ name: 'mean loss', points: report.epochs.map((e) => [e.epoch, e.loss]) }], { title: 'Mean loss per epoch', xLabel: 'epoch', markers: true, integerX: true }),
  ];
  const epochRows = report.epochs.map((e) => [e.epoch, e.loss, e.steps, e.items, e.seconds, e.seconds > 0 ? e.items / e.seconds : 0, ...metricNames.map((m) => e.metrics?.[m] ?? '')]);
  return [
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
    `<meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeXml(`finetuner report: ${report.model}`)}</title>`,
    `<style>${STYLE}</style></head><body><main>`,
    `<h1>Fine-tuning ${escapeXml(report.model)}</h1>`,
    `<p class="muted">Started ${escapeXml(report.startedAt.toISOString())}, ${escapeXml(duration(report.seconds))} in all.</p>`,
    `<div class="cards">${cards.map(([k, v]) => `<div class="card">${escapeXml(k!)}<b>${escapeXml(v!)}</b></div>`).join('')}</div>`,
    ...(report.notes?.length ? [`<ul>${report.notes.map((n) => `<li>${escapeXml(n)}</li>`).join('')}</ul>`] : []),
    '<h2>Before and after</h2>',
    metricsTable(report.before, report.after),
    '<h2>Curves</h2>',
    `<div class="charts">${charts.map((c) => `<div class="chart-box">${c}</div>`).join('')}</div>`,
    '<h2>Epochs</h2>',
    table(['epoch', 'mean loss', 'steps', 'examples', 'seconds', 'examples/s', ...metricNames], epochRows, 'epochs'),
    '<h2>Configuration</h2>',
    table(['option', 'value'], Object.entries(report.config).filter(([, v]) => v !== undefined).map(([k, v]) => [k, configValue(v)]), 'config'),
    '</main></body></html>',
  ].join('\n');
}

/** Writes report.html into `dir` (atomically) and resolves to its path. */
export async function writeTrainingReport(dir: string, report: TrainingReport): Promise<string> {
  const file = `${dir.replace(/\/+$/, '')}/${REPORT_FILE}`;
  await writeFileAtomic(file, renderTrainingReport(report));
  return file;
}
