import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeLabelledData, readLabelledCsv } from '../lib/data/csv.js';
import { FASHION_MNIST_DIR, readFashionMnist } from '../examples/data/fashionMnist.js';
import { loadImageBatch, resizedSize, type RawImage } from '../lib/data/images.js';
import { ClassSampler, classBatches } from '../lib/data/sampler.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetuner-data-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function csvFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** Raw RGB image whose pixel (x, y) is colour(x, y). */
function rawImage(width: number, height: number, colour: (x: number, y: number) => [number, number, number]): RawImage {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.set(colour(x, y), (y * width + x) * 3);
  return { pixels, width, height, channels: 3 };
}

function pixelAt(batch: { pixels: Uint8Array; width: number; height: number }, n: number, x: number, y: number): number[] {
  const off = ((n * batch.height + y) * batch.width + x) * 3;
  return Array.from(batch.pixels.subarray(off, off + 3));
}

const RED: [number, number, number] = [255, 0, 0];
const BLUE: [number, number, number] = [0, 0, 255];

describe('readLabelledCsv', () => {
  it('reads image,label rows and resolves relative paths against the CSV folder', async () => {
    const file = await csvFile('ok.csv', 'image,label\nimgs/a.png,cat\n/abs/b.png,dog\n\n"with,comma.png",cat\n');
    const data = await readLabelledCsv(file);
    expect(data.items).toEqual([
      { image: join(dir, 'imgs/a.png'), label: 'cat', source: `${file} row 2` },
      { image: '/abs/b.png', label: 'dog', source: `${file} row 3` },
      { image: join(dir, 'with,comma.png'), label: 'cat', source: `${file} row 5` },
    ]);
    expect(data.classes).toEqual(['cat', 'dog']);
    expect(Array.from(data.labelIds)).toEqual([0, 1, 0]);
  });

  it('finds the columns by header name, and sorts integer labels numerically', async () => {
    const file = await csvFile('named.csv', 'label,note,path\n10,x,a.png\n2,y,b.png\n');
    const data = await readLabelledCsv(file);
    expect(data.items[0]).toEqual({ image: join(dir, 'a.png'), label: '10', source: `${file} row 2` });
    expect(data.classes).toEqual(['2', '10']);
    await expect(readLabelledCsv(file, { labelColumn: 'nope' })).rejects.toThrow(/no column named "nope" \(option `labelColumn`\)/);
  });

  it('names the file and the 1-based row of a missing label', async () => {
    const file = await csvFile('nolabel.csv', 'image,label\na.png,x\nb.png,\nc.png,y\n');
    await expect(readLabelledCsv(file)).rejects.toThrow(`${file} row 3: missing label (column "label")`);
  });

  it('names the row with the wrong number of columns', async () => {
    const file = await csvFile('cols.csv', 'image,label\na.png,x\nb.png,y\nc.png\n');
    await expect(readLabelledCsv(file)).rejects.toThrow(`${file} row 4: has 1 column(s), expected 2`);
  });

  it('rejects empty files, header-only files, a single class, missing files', async () => {
    await expect(readLabelledCsv(await csvFile('empty.csv', ''))).rejects.toThrow(/empty\.csv: the file is empty/);
    await expect(readLabelledCsv(await csvFile('header.csv', 'image,label\n'))).rejects.toThrow(/header row but no data rows/);
    await expect(readLabelledCsv(await csvFile('one.csv', 'image,label\na.png,x\nb.png,x\n'))).rejects.toThrow(
      /one\.csv: the labels need at least 2 classes to learn from, found only "x"/,
    );
    await expect(readLabelledCsv(join(dir, 'absent.csv'))).rejects.toThrow(/Cannot read CSV .*absent\.csv: file not found/);
  });

  it('rejects URLs and bad quoting with the row', async () => {
    const url = await csvFile('url.csv', 'image,label\nhttps://x/a.png,x\n');
    await expect(readLabelledCsv(url)).rejects.toThrow(/url\.csv row 2: https:\/\/x\/a\.png is a URL/);
    const bad = await csvFile('quote.csv', 'image,label\na.png,x\n"b.png,y\n');
    await expect(readLabelledCsv(bad)).rejects.toThrow(/quote\.csv row \d+: not valid CSV/);
  });
});

describe('normalizeLabelledData', () => {
  const raw: RawImage = { pixels: new Uint8Array(4 * 3), width: 2, height: 2, channels: 3 };
  it('accepts paths, Buffers and raw pixels with string or number labels', () => {
    const data = normalizeLabelledData([
      { image: 'a.png', label: 1 },
      { image: Buffer.from([1, 2, 3]), label: '0' },
      { image: raw, label: 1 },
    ]);
    expect(data.classes).toEqual(['0', '1']);
    expect(Array.from(data.labelIds)).toEqual([1, 0, 1]);
    expect(data.items[2]!.image).toBe(raw);
  });

  it('names the bad item', () => {
    expect(() => normalizeLabelledData([])).toThrow(/data is empty/);
    expect(() => normalizeLabelledData([{ image: 'a', label: 1 }, { image: { ...raw, width: 3 }, label: 2 }])).toThrow(
      /data\[1\]: raw image has 12 bytes, expected width \* height \* channels = 3 \* 2 \* 3 = 18/,
    );
    expect(() => normalizeLabelledData([{ image: 'a', label: 1 }, { image: 'b', label: ' ' }], { source: 'train' })).toThrow(
      /train\[1\]: missing label/,
    );
    expect(() => normalizeLabelledData([{ image: 'a', label: 1 }, { image: 'b', label: 1 }])).toThrow(/at least 2 classes/);
    expect(() => normalizeLabelledData([{ image: 42 as never, label: 1 }])).toThrow(/data\[0\]: expected a file path, a Buffer/);
  });
});

describe('ClassSampler', () => {
  const labels = Array.from({ length: 80 }, (_, i) => `c${i % 10}`);

  it('validates batchSize and numItemsPerClass', () => {
    expect(() => new ClassSampler(labels, { batchSize: 2, numItemsPerClass: 4 })).toThrow(/`batchSize` \(2\) must be at least `numItemsPerClass` \(4\)/);
    expect(() => new ClassSampler(labels, { batchSize: 10, numItemsPerClass: 4 })).toThrow(/`batchSize` \(10\) must be a multiple of `numItemsPerClass` \(4\)/);
    expect(() => new ClassSampler(labels, { batchSize: 0, numItemsPerClass: 4 })).toThrow(/`batchSize` must be a positive integer/);
    expect(() => new ClassSampler(labels, { batchSize: 48, numItemsPerClass: 4 })).toThrow(/12 classes per batch, but the data has only 10/);
  });

  it('fills every batch with batchSize / numItemsPerClass classes of numItemsPerClass items', () => {
    const sampler = new ClassSampler(labels, { batchSize: 12, numItemsPerClass: 4, seed: 7 });
    const batches = sampler.epoch(0);
    expect(batches).toHaveLength(Math.ceil(80 / 12));
    for (const batch of batches) {
      expect(batch).toHaveLength(12);
      const perClass = new Map<string, number>();
      for (const i of batch) perClass.set(labels[i]!, (perClass.get(labels[i]!) ?? 0) + 1);
      expect([...perClass.values()]).toEqual([4, 4, 4]);
    }
  });

  it('covers the items of an epoch about once', () => {
    const batches = classBatches(labels, { batchSize: 8, numItemsPerClass: 4, seed: 1 });
    expect(new Set(batches.flat()).size).toBeGreaterThanOrEqual(72); // >= 90% of 80
  });

  it('is deterministic for a seed and varies with seed and epoch', () => {
    const a = new ClassSampler(labels, { batchSize: 8, numItemsPerClass: 2, seed: 3 });
    const b = new ClassSampler(labels, { batchSize: 8, numItemsPerClass: 2, seed: 3 });
    expect(a.epoch(1)).toEqual(b.epoch(1));
    expect(a.epoch(1)).not.toEqual(a.epoch(2));
    expect(new ClassSampler(labels, { batchSize: 8, numItemsPerClass: 2, seed: 4 }).epoch(1)).not.toEqual(a.epoch(1));
  });

  it('repeats items of a class smaller than numItemsPerClass', () => {
    const small = ['x', 'y', 'y', 'y', 'y'];
    const [batch] = classBatches(small, { batchSize: 8, numItemsPerClass: 4 });
    expect(batch!.filter((i) => i === 0)).toHaveLength(4);
    expect(batch!.filter((i) => i > 0)).toHaveLength(4);
  });
});

describe('loadImageBatch', () => {
  const split = rawImage(40, 20, (x) => (x < 20 ? RED : BLUE)); // wide: red left half, blue right half

  it('resizes the shorter side, centre crops, and keeps the layout NHWC', async () => {
    expect(resizedSize(40, 20, 10)).toEqual({ width: 20, height: 10 });
    expect(resizedSize(30, 45, 10)).toEqual({ width: 10, height: 15 });
    const batch = await loadImageBatch([split], { resize: 10, crop: 10, interpolation: 'nearest' });
    expect(batch).toMatchObject({ rows: 1, height: 10, width: 10 });
    expect(batch.pixels).toHaveLength(10 * 10 * 3);
    // 40x20 -> 20x10, crop columns 5..14 = original columns 10..29: five red, then five blue.
    expect(pixelAt(batch, 0, 0, 0)).toEqual(RED);
    expect(pixelAt(batch, 0, 4, 9)).toEqual(RED);
    expect(pixelAt(batch, 0, 5, 0)).toEqual(BLUE);
    expect(pixelAt(batch, 0, 9, 9)).toEqual(BLUE);
  });

  it('decodes PNG and JPEG files, Buffers, grey and RGBA into RGB slots in input order', async () => {
    const tall = join(dir, 'tall.png'); // green top half, white bottom half
    await sharp(rawImage(20, 40, (_x, y) => (y < 20 ? [0, 255, 0] : [255, 255, 255])).pixels, {
      raw: { width: 20, height: 40, channels: 3 },
    }).png().toFile(tall);
    const greyJpeg = join(dir, 'grey.jpg');
    await sharp(new Uint8Array(30 * 24).fill(128), { raw: { width: 30, height: 24, channels: 1 } }).toColourspace('b-w')
      .jpeg({ quality: 95 }).toFile(greyJpeg);
    expect((await sharp(greyJpeg).metadata()).channels).toBe(1);
    const rgba = await sharp({ create: { width: 16, height: 16, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } })
      .png().toBuffer();
    const grey: RawImage = { pixels: new Uint8Array(9 * 9).fill(77), width: 9, height: 9, channels: 1 };

    const batch = await loadImageBatch([tall, greyJpeg, rgba, grey, split], { resize: 8, crop: 8, interpolation: 'bilinear' }, { concurrency: 2 });
    expect(batch).toMatchObject({ rows: 5, height: 8, width: 8 });
    expect(batch.pixels).toHaveLength(5 * 8 * 8 * 3);
    // tall: 20x40 -> 8x16, crop rows 4..11; row 0 is green, row 7 white (away from the blurred edge).
    expect(pixelAt(batch, 0, 3, 0)).toEqual([0, 255, 0]);
    expect(pixelAt(batch, 0, 3, 7)).toEqual([255, 255, 255]);
    for (const v of pixelAt(batch, 1, 4, 4)) expect(Math.abs(v - 128)).toBeLessThanOrEqual(2);
    // Alpha dropped, colour kept (within 1: libvips resizes alpha images premultiplied).
    pixelAt(batch, 2, 4, 4).forEach((v, c) => expect(Math.abs(v - [10, 200, 30][c]!)).toBeLessThanOrEqual(1));
    expect(pixelAt(batch, 3, 0, 0)).toEqual([77, 77, 77]);
    expect(pixelAt(batch, 4, 0, 0)).toEqual(RED);
  });

  it('names the file or input that failed', async () => {
    const prep = { resize: 8, crop: 8, interpolation: 'bicubic' } as const;
    const missing = join(dir, 'missing.png');
    await expect(loadImageBatch([split, missing], prep)).rejects.toThrow(`Cannot load image ${missing} (inputs[1]): file not found`);
    const text = await csvFile('not-an-image.png', 'hello');
    await expect(loadImageBatch([text], prep)).rejects.toThrow(/not-an-image\.png \(inputs\[0\]\): not an image/);
    await expect(loadImageBatch([Buffer.from('nope')], prep)).rejects.toThrow(/image Buffer inputs\[0\]: not an image/);
    await expect(loadImageBatch([split, { ...split, height: 3 }], prep)).rejects.toThrow(/inputs\[1\]: raw image has 2400 bytes/);
    await expect(loadImageBatch([split], { ...prep, crop: 9 })).rejects.toThrow(/prep\.crop \(9\) must not exceed prep\.resize \(8\)/);
  });
});

describe('readFashionMnist', () => {
  const have = existsSync(FASHION_MNIST_DIR);
  if (!have) console.warn(`data.test: ${FASHION_MNIST_DIR} missing (apt-get install dataset-fashion-mnist); skipping the real-data checks`);

  it.skipIf(!have)('reads the test split with its known first labels and pixels', async () => {
    const data = await readFashionMnist({ split: 'test' });
    expect(data.images).toHaveLength(10000);
    expect(data.labels.slice(0, 10)).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    expect(data.classNames[9]).toBe('Ankle boot');
    expect(data.images[0]).toMatchObject({ width: 28, height: 28, channels: 1 });
    expect(data.images[0]!.pixels).toHaveLength(784);
    expect(data.images[0]!.pixels[14 * 28 + 14]).toBe(110);
  });

  it.skipIf(!have)('honours limit on the train split', async () => {
    const data = await readFashionMnist({ split: 'train', limit: 3 });
    expect(data.labels).toEqual([9, 0, 0]);
    expect(data.images[0]!.pixels[14 * 28 + 14]).toBe(217);
  });

  it('explains a missing data set and rejects bad IDX files', async () => {
    const absent = join(dir, 'no-fmnist');
    await expect(readFashionMnist({ split: 'test', dir: absent })).rejects.toThrow(
      new RegExp(`${absent}/t10k-(images|labels)-idx\\d-ubyte\\.gz not found.*apt-get install dataset-fashion-mnist`),
    );
    const idx = (magic: number, dims: number[], body: number): Buffer => {
      const head = Buffer.alloc(4 + 4 * dims.length);
      head.writeUInt32BE(magic, 0);
      dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
      return Buffer.concat([head, Buffer.alloc(body)]);
    };
    await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx(0x801, [2, 28, 28], 2 * 784)));
    await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx(0x801, [2], 2)));
    await expect(readFashionMnist({ split: 'test', dir })).rejects.toThrow(/t10k-images-idx3-ubyte\.gz: bad IDX magic number 0x00000801, expected 0x00000803/);
    await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx(0x803, [2, 28, 28], 784)));
    await expect(readFashionMnist({ split: 'test', dir })).rejects.toThrow(/needs 1584 bytes, the file has 800/);
    await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx(0x803, [2, 28, 28], 2 * 784)));
    const ok = await readFashionMnist({ split: 'test', dir });
    expect(ok.labels).toEqual([0, 0]);
    await expect(readFashionMnist({ split: 'val' as never, dir })).rejects.toThrow(/`split` must be 'train' or 'test'/);
  });
});
