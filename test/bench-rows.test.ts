// `npm run bench`'s row selection (bench/rows.ts) and the report's onnxruntime-node table: no model,
// no native code.
import { describe, expect, it } from 'vitest';
import { allPass, toMarkdown, type BenchReport } from '../bench/report.js';
import { cpuHasBf16 } from '../lib/precision.js';
import { rowGoal, rowRank, selectedRowIds, selectRows, UsageError, type BenchModel } from '../bench/rows.js';
import { summarise, type RoundResult } from '../bench/sideBySide.js';

function ids(models: string | undefined, only: string | undefined): string[] {
  const rows = selectRows(models, only);
  return (['resnet', 'bert', 'clip', 'ort'] as BenchModel[]).flatMap((m) => selectedRowIds(rows, m));
}

describe('bench row selection', () => {
  it('selects every row of every model by default, and all rows of one model with --models', () => {
    expect(ids(undefined, undefined)).toEqual([
      'resnet-train', 'resnet-encode', 'bert-train', 'bert-encode', 'clip-image-encode', 'clip-text-encode', 'clip-train',
      'ort-bert-encode', 'ort-resnet-encode', 'ort-clip-image-encode',
    ]);
    expect(ids('ort', undefined)).toEqual(['ort-bert-encode', 'ort-resnet-encode', 'ort-clip-image-encode']);
    expect(ids('onnxruntime-node,resnet50', undefined)).toEqual(['resnet-train', 'resnet-encode', 'ort-bert-encode', 'ort-resnet-encode', 'ort-clip-image-encode']);
  });

  it('reads rows, kinds and models in --only', () => {
    expect(ids(undefined, 'ort-clip-image-encode,clip-image-encode')).toEqual(['clip-image-encode', 'ort-clip-image-encode']);
    expect(ids('bert,ort', 'encode')).toEqual(['bert-encode', 'ort-bert-encode', 'ort-resnet-encode', 'ort-clip-image-encode']);
    expect(ids(undefined, 'vit-b-32-train,ort-bert-encode')).toEqual(['clip-train', 'ort-bert-encode']);
    expect(ids(undefined, 'ort-encode')).toEqual(['ort-bert-encode', 'ort-resnet-encode', 'ort-clip-image-encode']);
  });

  it('rejects rows that do not exist or that --models leaves out', () => {
    expect(() => selectRows('ort', 'train')).toThrow(UsageError);
    expect(() => selectRows(undefined, 'ort-image-encode')).toThrow(/ort has no image-encode row/);
    expect(() => selectRows('bert', 'ort-bert-encode')).toThrow(/leaves ort out/);
    expect(() => selectRows('tensorflow', undefined)).toThrow(/unknown model/);
  });

  it('gives the onnxruntime rows their own goals: 1.3 at the default where it is bf16 (else 1.0), 1.0 in fp32, none in int8', () => {
    expect(rowGoal('bert-base-encode')).toBe(0.95);
    expect(rowGoal('ort-bert-encode')).toBe(cpuHasBf16() ? 1.3 : 1.0);
    expect(rowGoal('ort-bert-encode-fp32')).toBe(1.0);
    expect(rowGoal('ort-bert-encode-int8')).toBeNull();
    expect(rowRank('ort', 'ort-clip-image-encode-fp32')).toBe(2);
    expect(rowRank('resnet', 'resnet50-train')).toBeLessThan(rowRank('resnet', 'resnet50-encode'));
  });
});

describe('bench report', () => {
  const round = (n: number, a: number, b: number): RoundResult => ({
    round: n, first: 'a', a: { seconds: 1, units: a, rate: a }, b: { seconds: 1, units: b, rate: b }, ratio: a / b,
  });
  const side = (label: string) => ({ label, measure: async () => ({ seconds: 1, units: 1 }) });
  const result = (id: string, a: string, b: string, pairs: [number, number][]) =>
    summarise({ id, title: id, unit: 'images/s', a: side(a), b: side(b) }, pairs.map(([x, y], i) => round(i + 1, x, y)));

  it('puts the onnxruntime rows in a table of their own, and checks each row against its goal', () => {
    const results = [
      result('resnet50-encode', 'addon', 'python', [[10, 9], [10, 10]]),
      result('ort-resnet-encode', 'addon auto (bf16)', 'onnxruntime-node', [[20, 10], [18, 10]]),
      result('ort-resnet-encode-fp32', 'addon fp32', 'onnxruntime-node', [[11, 10], [10, 10]]),
      result('ort-resnet-encode-int8', 'addon int8', 'onnxruntime-node', [[9, 10], [8, 10]]),
    ];
    const report: BenchReport = {
      title: 't',
      date: 'd',
      machine: { cpu: 'cpu', cores: 2, threads: 2, platform: 'linux', node: 'v20' },
      libtorch: { builtAgainst: '1.13.0', runtime: '1.13.0', addonPath: 'x' },
      python: { torch: '1.13.0' },
      goalRatio: 0.95,
      rowGoals: Object.fromEntries(results.map((r) => [r.id, rowGoal(r.id)])),
      rowQuality: {
        'ort-resnet-encode': { precision: 'bf16', meanCosine: 0.99991, minCosine: 0.9998, addonSeconds: 1.6, ortSeconds: 3.2, peakShare: 0.61, peakGflops: 410 },
        'ort-resnet-encode-fp32': { precision: 'fp32', addonSeconds: 3.05, ortSeconds: 3.2 },
      },
      settings: {},
      results,
      pass: false,
    };
    expect(allPass(report)).toBe(true);
    const markdown = toMarkdown({ ...report, pass: true });
    expect(markdown).toMatch(/\| ort-resnet-encode \| bf16 \| 1\.60 s \(19\.00 images\/s\) \| 3\.20 s \(10\.00 images\/s\) \| 1\.900 \| 1\.800 – 2\.000 \| 2 \| 0\.99991; 0\.99980 \| 61% of 410 GFLOP\/s \| PASS \|/);
    expect(markdown).toMatch(/\| ort-resnet-encode-fp32 \| fp32 \| 3\.05 s \(10\.50 images\/s\) \| 3\.20 s \(10\.00 images\/s\) \| 1\.050 \| 1\.000 – 1\.100 \| 2 \| n\/a \| n\/a \| PASS \|/);
    expect(markdown).toMatch(/\| ort-resnet-encode-int8 \| addon int8 \| n\/a \(8\.50 images\/s\) .* \| info \|/);
    expect(markdown).toMatch(/\| resnet50-encode \| 10\.00 images\/s \| 9\.50 images\/s/);
    const slow = result('ort-bert-encode', 'addon default (fp32)', 'onnxruntime-node', [[9, 10]]);
    expect(allPass({ ...report, results: [slow], rowGoals: { [slow.id]: rowGoal(slow.id) } })).toBe(false);
  });
});
