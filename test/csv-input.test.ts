// Hostile and clumsy CSV input (issue 10): bytes that are not UTF-8 and absurd headers. Each case was
// reproduced against the readers before the fix (Latin-1 labels merged silently; a million-column
// header made an 8.9 MB error message).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLabelledCsv } from '../lib/data/csv.js';
import { firstInvalidUtf8 } from '../lib/data/csvRecords.js';
import { readTextCsv } from '../lib/data/textCsv.js';
import { readTextImageCsv } from '../lib/data/textImageCsv.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'finetuner-csv-input-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

async function file(name: string, bytes: Buffer | string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

describe('CSV bytes that are not UTF-8', () => {
  // "café" and "cafè" in Latin-1: decoded with replacement characters both read "caf\uFFFD".
  const latin1 = Buffer.from('text,label\nan espresso,caf\xe9\na bar,caf\xe8\nred car,vehicle\n', 'latin1');

  it('is an error naming the file, the row and the byte, for every reader', async () => {
    const path = await file('latin1.csv', latin1);
    const expected = new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} row 2: byte 0xe9 at column 16 is not valid UTF-8`);
    await expect(readTextCsv(path)).rejects.toThrow(expected);
    await expect(readLabelledCsv(path)).rejects.toThrow(expected);
    await expect(readTextImageCsv(path)).rejects.toThrow(expected);
  });

  it('accepts the same text saved as UTF-8, with or without a BOM, and keeps the labels apart', async () => {
    const utf8 = latin1.toString('latin1');
    for (const [name, bytes] of [['utf8.csv', Buffer.from(utf8, 'utf8')], ['bom.csv', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(utf8, 'utf8')])]] as const) {
      const data = await readTextCsv(await file(name, bytes));
      expect(data.kind).toBe('labelled');
      if (data.kind === 'labelled') expect([...data.classes].sort()).toEqual(["café", "cafè", "vehicle"].sort());
    }
  });

  it('finds the first invalid sequence: stray continuations, overlong forms, surrogates, truncation', () => {
    expect(firstInvalidUtf8(Buffer.from('héllo → 𝄞', 'utf8'))).toBe(-1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0x80]))).toBe(1); // lone continuation byte
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0xaf]))).toBe(1); // overlong '/'
    expect(firstInvalidUtf8(Buffer.from([0xe0, 0x80, 0xaf]))).toBe(0); // overlong, 3 bytes
    expect(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0); // UTF-16 surrogate
    expect(firstInvalidUtf8(Buffer.from([0x61, 0x62, 0xe2, 0x82]))).toBe(2); // cut short at the end
    expect(firstInvalidUtf8(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // past U+10FFFF
  });
});

describe('a CSV header of 100,000 columns', () => {
  it('gives a short error that still says how many columns there are', async () => {
    const header = Array.from({ length: 100_000 }, (_, i) => `column_number_${i}`).join(',');
    const path = await file('wide.csv', `${header}\na,b\n`);
    for (const read of [readTextCsv, readLabelledCsv, readTextImageCsv] as const) {
      const error = await read(path).then(() => undefined, (e: Error) => e);
      expect(error, read.name).toBeInstanceOf(Error);
      expect(error!.message.length, `${read.name}: ${error!.message.slice(0, 200)}`).toBeLessThan(600);
      expect(error!.message).toMatch(/100000 columns/);
      expect(error!.message).toContain(path);
    }
  });
});

describe('a broken image in a training CSV', () => {
  it('is named by its CSV row, not its position in a batch', async () => {
    const { exportTiny } = await import('./helpers/fixtures.js');
    const { fit } = await import('../lib/index.js');
    const sharp = (await import('sharp')).default;
    const backbone = exportTiny('resnet50', join(dir, 'resnet50-tiny'));
    const rows = ['image,label'];
    for (let i = 0; i < 8; i++) {
      const name = `img${i}.png`;
      if (i === 5) await writeFile(join(dir, name), 'not a png at all');
      else await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 30 * i, g: 100, b: 200 - 20 * i } } }).png().toFile(join(dir, name));
      rows.push(`${name},${i % 2}`);
    }
    const csv = await file('train-broken.csv', `${rows.join('\n')}\n`);
    await expect(fit({ model: backbone, trainData: csv, epochs: 1, batchSize: 4, numItemsPerClass: 2, imageSize: 16 }))
      .rejects.toThrow(new RegExp(`img5\\.png \\(${csv.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} row 7\\)`));
  }, 120_000);
});
