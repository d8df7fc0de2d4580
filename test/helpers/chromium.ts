// Headless Chromium for the report tests: a screenshot of a page and the console lines it logged, and a
// count of the pixels drawn in the chart palette's first two colours (which nothing else on the report
// uses), so "the charts rendered" is a number a test can compare.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** Screenshot of `file` (written under `workDir`) in headless Chromium, and the console messages it logged. */
export function screenshot(file: string, workDir: string, name: string): { png: string; console: string[] } {
  const png = join(workDir, `${name}.png`);
  const profile = join(workDir, `profile-${name}`);
  mkdirSync(profile, { recursive: true });
  const run = spawnSync(CHROMIUM!, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--enable-logging=stderr', '--v=0',
    '--hide-scrollbars', '--window-size=1280,1600', `--screenshot=${png}`, `file://${file}`,
  ], { encoding: 'utf8', timeout: 60_000 });
  if (!existsSync(png)) throw new Error(`chromium wrote no screenshot (status ${run.status}): ${run.stderr.slice(-2000)}`);
  return { png, console: run.stderr.split('\n').filter((l) => /CONSOLE|Uncaught/.test(l)) };
}

/** Pixels of `png` near the chart palette's first two colours, in all or in the rows [top, bottom). */
export async function chartPixels(png: string, rows?: { top: number; bottom: number }): Promise<number> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const palette = [[0x00, 0x72, 0xb2], [0xd5, 0x5e, 0x00]];
  const first = (rows?.top ?? 0) * info.width * 3;
  const end = Math.min(rows?.bottom ?? info.height, info.height) * info.width * 3;
  let count = 0;
  for (let i = first; i < end; i += 3) {
    if (palette.some(([r, g, b]) => Math.abs(data[i]! - r!) + Math.abs(data[i + 1]! - g!) + Math.abs(data[i + 2]! - b!) < 40)) count++;
  }
  return count;
}
