// Test fixtures generated on the fly (nothing binary is committed): tiny exported backbones and a
// synthetic labelled image set whose classes differ by colour and pattern, so a few training steps can
// separate them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import type { RawImage } from '../../lib/data/images.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const PYTHON = process.env.FINETUNER_PYTHON ?? '/usr/bin/python3';

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `finetuner-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Exports a tiny random-init backbone with the real exporter and returns its directory. */
export function exportTiny(name: string, outDir: string, seed = 0): string {
  execFileSync(
    PYTHON,
    [join(REPO_ROOT, 'scripts', 'export_torchscript'), name, '--out', outDir, '--size', 'tiny', '--random-init', '--seed', String(seed)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return outDir;
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Synthetic images of `classes` classes: each class has a base colour and a stripe orientation, plus
 * per-image noise and a random offset, so classes are separable but not trivially identical.
 */
export function syntheticImages(classes: number, perClass: number, size: number, seed: number): Array<{ image: RawImage; label: string }> {
  const rand = random(seed);
  const items: Array<{ image: RawImage; label: string }> = [];
  for (let c = 0; c < classes; c++) {
    const base = [(c * 97) % 256, (c * 57 + 80) % 256, (c * 151 + 30) % 256];
    const period = 3 + (c % 4) * 2;
    for (let n = 0; n < perClass; n++) {
      const pixels = new Uint8Array(size * size * 3);
      const offset = Math.floor(rand() * period);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const along = c % 2 === 0 ? x : y;
          const stripe = ((along + offset) % period) < period / 2 ? 60 : -60;
          for (let ch = 0; ch < 3; ch++) {
            const noise = (rand() - 0.5) * 120;
            pixels[(y * size + x) * 3 + ch] = Math.max(0, Math.min(255, base[ch]! + stripe + noise));
          }
        }
      }
      items.push({ image: { pixels, width: size, height: size, channels: 3 }, label: `class-${c}` });
    }
  }
  return items;
}

/** Largest element-wise difference of two equally long float arrays. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** A raw float32 file (as numpy's tofile writes it). */
export function readFloats(file: string): Float32Array {
  const bytes = readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}
