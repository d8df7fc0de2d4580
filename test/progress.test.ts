import { describe, expect, it } from 'vitest';
import { formatDuration, Progress } from '../lib/progress.js';

function fakeStream(isTTY: boolean, columns?: number): { writes: string[]; isTTY: boolean; columns?: number; write(t: string): void } {
  const writes: string[] = [];
  return { writes, isTTY, columns, write: (t: string) => void writes.push(t) };
}

describe('Progress', () => {
  it('redraws one line in place on a terminal, throttled, and ends it on finish', () => {
    let t = 0;
    const stream = fakeStream(true);
    const p = new Progress({ label: 'epoch 1/2', total: 10, unit: 'batch', stream, now: () => t });
    t = 2000;
    p.update(4, { loss: 0.123456 });
    t = 2050; // within the 100 ms redraw interval: no redraw
    p.update(5);
    expect(stream.writes).toEqual([`\repoch 1/2 [${'#'.repeat(10)}${'-'.repeat(14)}] 4/10 40% 2.00 batch/s ETA 0:03 loss=0.1235\x1b[K`]);
    t = 5000;
    p.finish({ loss: 0.05 });
    expect(stream.writes.slice(1)).toEqual([`\repoch 1/2 [${'#'.repeat(12)}${'-'.repeat(12)}] 5/10 50% 1.00 batch/s ETA 0:05 loss=0.05000\x1b[K`, '\n']);
    p.update(10);
    expect(stream.writes).toHaveLength(3); // nothing after finish
  });

  it('prints plain lines at most every plainIntervalMs when not a terminal, and at the end', () => {
    let t = 0;
    const stream = fakeStream(false);
    const p = new Progress({ label: 'train', total: 100, stream, now: () => t, plainIntervalMs: 5000 });
    for (let i = 1; i <= 100; i++) {
      t = i * 100; // 10 steps per second for 10 s
      p.update(i);
    }
    p.finish();
    expect(stream.writes).toEqual([
      'train 1/100 1% 10.0 it/s ETA 0:10\n',
      'train 51/100 51% 10.0 it/s ETA 0:05\n',
      'train 100/100 100% 10.0 it/s in 0:10\n',
    ]);
  });

  it('cuts the line to the terminal width and works without a total', () => {
    const stream = fakeStream(true, 20);
    const p = new Progress({ label: 'a very long label indeed', total: 0, stream, now: () => 1000 });
    p.tick(3);
    expect(stream.writes[0]).toBe('\ra very long label i\x1b[K');
    expect(p.line()).toMatch(/^a very long label indeed 3 \S+ it\/s in 0:00$/);
  });

  it('formats durations', () => {
    expect(formatDuration(5)).toBe('0:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Number.NaN)).toBe('--:--');
  });
});
