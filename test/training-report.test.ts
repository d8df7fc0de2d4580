// report.html (issue 11): self-contained (no script, no external resource), every user-supplied text
// escaped, and rendered by a real browser: headless Chromium takes a screenshot, and the chart lines
// (drawn in the palette's colours, which nothing else on the page uses) must cover pixels, while the
// console shows no errors.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { niceTicks } from '../lib/report/svgChart.js';
import { renderTrainingReport, writeTrainingReport, type TrainingReport } from '../lib/report/trainingReport.js';
import { chartPixels, CHROMIUM, screenshot as takeScreenshot } from './helpers/chromium.js';
import { tempDir } from './helpers/fixtures.js';

const work = tempDir('training-report');
afterAll(() => work.cleanup());

function sampleReport(overrides: Partial<TrainingReport> = {}): TrainingReport {
  const steps = Array.from({ length: 60 }, (_, i) => ({ step: i + 1, epoch: Math.floor(i / 20) + 1, loss: 1.2 * Math.exp(-i / 25) + 0.05 * Math.sin(i), learningRate: 1e-4 * (1 - i / 60) + 1e-7 }));
  return {
    model: 'resnet50',
    task: 'image-to-image',
    startedAt: new Date('2026-12-03T09:00:00Z'),
    seconds: 93.5,
    config: { loss: 'TripletMarginLoss', miner: 'batch-hard', learningRate: 1e-4, scheduler: 'linear', batchSize: 32, note: '<script>alert(1)</script>' },
    steps,
    epochs: [1, 2, 3].map((epoch) => ({ epoch, loss: 1 / epoch, steps: 20, items: 640, seconds: 30, metrics: { mAP: 0.4 + 0.1 * epoch, 'precision@10': 0.5 + 0.05 * epoch } })),
    before: { mAP: 0.41, 'precision@10': 0.52 },
    after: { mAP: 0.7, 'precision@10': 0.65 },
    kept: { epoch: 3, monitor: 'mAP', value: 0.7 },
    ...overrides,
  };
}

describe('renderTrainingReport', () => {
  it('is one self-contained document: no script, no external resource, user text escaped', () => {
    const html = renderTrainingReport(sampleReport());
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html.match(/<svg class="chart"/g)).toHaveLength(4);
    expect(html).toContain('+0.29'); // mAP 0.41 -> 0.7
  });

  it('round ticks', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97, 4)).toEqual([20, 40, 60, 80]);
  });
});

const chromium = CHROMIUM;
if (!chromium) console.warn('training-report.test.ts: browser checks skipped: Debian chromium is not installed (scripts/setup.sh installs it)');
const screenshot = (file: string, name: string) => takeScreenshot(file, work.dir, name);

describe.skipIf(!chromium)('report.html in headless Chromium', () => {
  it('draws the charts and logs no console errors', async () => {
    const dir = join(work.dir, 'run');
    mkdirSync(dir);
    const file = await writeTrainingReport(dir, sampleReport());
    const shot = screenshot(file, 'report');
    expect(shot.console).toEqual([]);
    const drawn = await chartPixels(shot.png);
    // An empty report draws no lines: the count is the charts, not the page around them.
    const emptyDir = join(work.dir, 'empty');
    mkdirSync(emptyDir);
    const empty = screenshot(await writeTrainingReport(emptyDir, sampleReport({ steps: [], epochs: [], before: undefined, after: undefined })), 'empty');
    const blank = await chartPixels(empty.png);
    expect(blank).toBeLessThan(50);
    expect(drawn, `chart pixels ${drawn} vs ${blank} with no data`).toBeGreaterThan(1500);
  }, 120_000);

  it('would see a console error (the check itself can fail)', () => {
    const file = join(work.dir, 'broken.html');
    writeFileSync(file, '<!DOCTYPE html><html><body><script>console.error("boom"); undefinedFunction();</script></body></html>');
    expect(screenshot(file, 'broken').console.join('\n')).toMatch(/boom|undefinedFunction/);
    expect(readFileSync(file, 'utf8')).toContain('boom');
  }, 120_000);
});
