// The bench report: a markdown table (stdout and bench-results/latest.md) and the same data with every
// round as JSON (bench-results/latest.json).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RowQuality } from './shared.js';
import type { ComparisonResult } from './sideBySide.js';

export interface MachineInfo {
  cpu: string;
  /** Logical CPUs the process may use (os.availableParallelism()). */
  cores: number;
  /** Intra-op threads both sides were set to. */
  threads: number;
  platform: string;
  node: string;
}

export interface BenchReport {
  title: string;
  date: string;
  machine: MachineInfo;
  /** LibTorch of the addon: version at build time and at run time. */
  libtorch: { builtAgainst: string; runtime: string; addonPath: string };
  /** The Python side: interpreter and torch versions, threads it reported. */
  python: Record<string, unknown>;
  /** The goal each ratio is checked against (addon rate / python rate >= goal), unless rowGoals says otherwise. */
  goalRatio: number;
  /** Goals of rows that have their own, by row id; null: a row shown for information, with no goal. */
  rowGoals?: Record<string, number | null>;
  /** bf16 against fp32 embeddings of the batch, by row id, for the rows that measured it. */
  rowQuality?: Record<string, RowQuality>;
  /** Settings of the whole run (thread policy, quick). */
  settings: Record<string, unknown>;
  /** Settings of each model's rows, by model name. */
  models?: Record<string, Record<string, unknown>>;
  results: ComparisonResult[];
  /** Lines printed after the tables (e.g. the share of encode time spent tokenizing). */
  notes?: string[];
  /** Further measurements, by model, for the JSON report. */
  extra?: Record<string, unknown>;
  /** Every row's median ratio meets its goal. */
  pass: boolean;
}

/** The onnxruntime-node rows (bench/onnx.ts): `ort-<row>` at the default precision, `-fp32` and `-int8` beside it. */
function isOrtRow(r: ComparisonResult): boolean {
  return r.id.startsWith('ort-');
}

/** The goal of a row: its own, or the report's; null when it has none. */
export function goalOf(report: Pick<BenchReport, 'goalRatio' | 'rowGoals'>, id: string): number | null {
  const own = report.rowGoals?.[id];
  return own === undefined ? report.goalRatio : own;
}

/** Every row with a goal meets it. */
export function allPass(report: Pick<BenchReport, 'goalRatio' | 'rowGoals' | 'results'>): boolean {
  return report.results.every((r) => {
    const goal = goalOf(report, r.id);
    return goal === null || r.medianRatio >= goal;
  });
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value >= 100) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

function settingsText(settings: Record<string, unknown>): string {
  return Object.entries(settings)
    .map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}

function mark(ratio: number, goal: number): string {
  return ratio >= goal ? 'PASS' : 'FAIL';
}

export function toMarkdown(report: BenchReport): string {
  const { machine, libtorch, python } = report;
  const pythonRows = report.results.filter((r) => !isOrtRow(r));
  const ortRows = report.results.filter((r) => isOrtRow(r));
  const lines = [
    `# ${report.title}`,
    '',
    `- date: ${report.date}`,
    `- machine: ${machine.cpu}, ${machine.cores} logical CPUs, ${machine.platform}; threads used by both sides: ${machine.threads}`,
    `- addon: LibTorch ${libtorch.runtime} (built against ${libtorch.builtAgainst}), Node ${machine.node}`,
  ];
  if (python.torch !== undefined) {
    lines.push(
      `- python: torch ${String(python.torch)}${python.torchvision === undefined ? '' : `, torchvision ${String(python.torchvision)}`}, ` +
        `Python ${String(python.python)}, torch.get_num_threads() = ${String(python.threads)}`,
    );
  }
  lines.push(
    `- settings: ${settingsText(report.settings)}`,
    ...Object.entries(report.models ?? {}).map(([name, settings]) => `- ${name}: ${settingsText(settings)}`),
  );
  const use = (u: { total: number; system: number } | undefined) => (u ? `${u.total.toFixed(2)}x; ${u.system.toFixed(2)}x` : 'n/a');
  if (pythonRows.length > 0) {
    lines.push(
      '',
      `| benchmark | addon | python eager | ratio addon/python (median over rounds) | range | rounds | goal >= ${report.goalRatio} |`,
      '|---|---:|---:|---:|---:|---:|:---:|',
    );
    for (const r of pythonRows) {
      lines.push(
        `| ${r.title} | ${fmt(r.medianRate.a)} ${r.unit} | ${fmt(r.medianRate.b)} ${r.unit} | ${r.medianRatio.toFixed(3)} | ` +
          `${r.minRatio.toFixed(3)} – ${r.maxRatio.toFixed(3)} | ${r.rounds.length} | ${mark(r.medianRatio, goalOf(report, r.id) ?? report.goalRatio)} |`,
      );
    }
    lines.push('', '| benchmark | addon CPU use (user+sys / wall; sys) | python CPU use (user+sys / wall; sys) |', '|---|---:|---:|');
    for (const r of pythonRows) lines.push(`| ${r.title} | ${use(r.cpuPerWall?.a)} | ${use(r.cpuPerWall?.b)} |`);
  }
  if (ortRows.length > 0) {
    const goals = [...new Set(ortRows.map((r) => goalOf(report, r.id)).filter((g) => g !== null))];
    lines.push(
      '',
      '| vs onnxruntime-node (fp32) | addon precision | addon time / batch | onnxruntime-node time / batch | ratio addon/ORT (median) | range | rounds | ' +
        `cosine to the addon's fp32 (mean; min) | share of the GEMM peak of its precision | goal (${goals.join(', ')}) |`,
      '|---|---|---:|---:|---:|---:|---:|---:|---:|:---:|',
    );
    for (const r of ortRows) {
      const q = report.rowQuality?.[r.id];
      const goal = goalOf(report, r.id);
      const seconds = (s: number | undefined) => (s === undefined ? 'n/a' : s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`);
      lines.push(
        `| ${r.title} | ${q?.precision ?? r.labels.a} | ${seconds(q?.addonSeconds)} (${fmt(r.medianRate.a)} ${r.unit}) | ` +
          `${seconds(q?.ortSeconds)} (${fmt(r.medianRate.b)} ${r.unit}) | ${r.medianRatio.toFixed(3)} | ${r.minRatio.toFixed(3)} – ${r.maxRatio.toFixed(3)} | ` +
          `${r.rounds.length} | ${q?.meanCosine !== undefined ? `${q.meanCosine.toFixed(5)}; ${q.minCosine!.toFixed(5)}` : 'n/a'} | ` +
          `${q?.peakShare !== undefined ? `${(q.peakShare * 100).toFixed(0)}% of ${q.peakGflops!.toFixed(0)} GFLOP/s` : 'n/a'} | ` +
          `${goal === null ? 'info' : mark(r.medianRatio, goal)} |`,
      );
    }
    lines.push('', '| vs onnxruntime-node | addon CPU use (user+sys / wall; sys) | onnxruntime-node CPU use |', '|---|---:|---:|');
    for (const r of ortRows) lines.push(`| ${r.title} | ${use(r.cpuPerWall?.a)} | ${use(r.cpuPerWall?.b)} |`);
  }
  lines.push(
    '',
    `CPU use is the median over the rounds; with ${report.machine.threads} threads a side that had the CPUs to itself shows about ` +
      `${report.machine.threads}.00x. Much less means other processes on the machine took CPU time from that side.`,
  );
  if (report.notes && report.notes.length > 0) lines.push('', ...report.notes.map((n) => `- ${n}`));
  lines.push('', `**${report.pass ? 'PASS' : 'FAIL'}**: the addon ${report.pass ? 'is' : 'is not'} within its goal on every row that has one.`);
  lines.push('', 'Rates are medians over the rounds; the ratio is the median of the per-round ratios (the sides alternate A B / B A; with onnxruntime-node, every side in a turning order).');
  return `${lines.join('\n')}\n`;
}

/** Writes latest.md and latest.json into `dir` (created if needed); returns their paths. */
export async function writeReport(report: BenchReport, dir: string): Promise<{ markdown: string; json: string }> {
  await mkdir(dir, { recursive: true });
  const markdown = join(dir, 'latest.md');
  const json = join(dir, 'latest.json');
  await writeFile(markdown, toMarkdown(report));
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  return { markdown, json };
}
