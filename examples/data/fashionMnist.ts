// Fashion-MNIST (Zalando, 28 x 28 grey images of 10 clothing classes), read from the IDX files that the
// Debian package dataset-fashion-mnist installs in /usr/share/datasets/fashion-mnist. It is the demo's
// and the tests' data set: real images, no download at run time.
//
// IDX format: big-endian int32 magic (0x00000803 for a 3-d ubyte tensor of images, 0x00000801 for a 1-d
// ubyte tensor of labels), then one big-endian int32 per dimension, then the bytes.

import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { RawImage } from '../../lib/data/images.js';

const gunzipAsync = promisify(gunzip);

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

// Zalando's label order: 7 is Sneaker and 8 is Bag (the mean image of label 7 is a low, wide shoe shape).
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

export interface FashionMnistOptions {
  split: 'train' | 'test';
  /** Read only the first `limit` examples. */
  limit?: number;
  /** Folder of the IDX files; default $FINETUNER_FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist. */
  dir?: string;
}

export interface FashionMnistImage extends RawImage {
  width: 28;
  height: 28;
  channels: 1;
}

export interface FashionMnist {
  /** Views into one buffer (no copy per image). */
  images: FashionMnistImage[];
  /** Class index (0-9) of each image. */
  labels: number[];
  classNames: string[];
}

/** Reads `name`.gz, or `name` uncompressed when only that is there. */
async function readIdx(dir: string, name: string): Promise<{ path: string; data: Buffer }> {
  for (const [file, gz] of [[`${name}.gz`, true], [name, false]] as const) {
    const path = join(dir, file);
    try {
      await access(path);
    } catch {
      continue;
    }
    try {
      const raw = await readFile(path);
      return { path, data: gz ? await gunzipAsync(raw) : raw };
    } catch (err) {
      throw new Error(`Cannot read Fashion-MNIST file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  throw new Error(
    `Fashion-MNIST file ${join(dir, `${name}.gz`)} not found. Install the data set with ` +
      '`sudo apt-get install dataset-fashion-mnist` (or pass `dir` / set FINETUNER_FASHION_MNIST_DIR to a ' +
      'folder holding the IDX files).',
  );
}

function header(path: string, data: Buffer, magic: number, dims: number): number[] {
  const need = 4 + 4 * dims;
  if (data.length < need) throw new Error(`${path}: not an IDX file (only ${data.length} bytes)`);
  const found = data.readUInt32BE(0);
  if (found !== magic) {
    throw new Error(`${path}: bad IDX magic number 0x${found.toString(16).padStart(8, '0')}, expected 0x${magic.toString(16).padStart(8, '0')}`);
  }
  const shape = Array.from({ length: dims }, (_, i) => data.readUInt32BE(4 + 4 * i));
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== need + size) {
    throw new Error(`${path}: IDX shape ${shape.join(' x ')} needs ${need + size} bytes, the file has ${data.length}`);
  }
  return shape;
}

/** Reads a split of Fashion-MNIST (train: 60,000 images, test: 10,000). */
export async function readFashionMnist(options: FashionMnistOptions): Promise<FashionMnist> {
  const { split, limit } = options;
  if (split !== 'train' && split !== 'test') {
    throw new Error(`readFashionMnist: \`split\` must be 'train' or 'test' (got ${JSON.stringify(split)})`);
  }
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new Error(`readFashionMnist: \`limit\` must be a non-negative integer (got ${limit})`);
  }
  const dir = options.dir ?? process.env.FINETUNER_FASHION_MNIST_DIR ?? FASHION_MNIST_DIR;
  const prefix = split === 'train' ? 'train' : 't10k';
  const [images, labels] = await Promise.all([
    readIdx(dir, `${prefix}-images-idx3-ubyte`),
    readIdx(dir, `${prefix}-labels-idx1-ubyte`),
  ]);
  const [count, rows, cols] = header(images.path, images.data, IMAGES_MAGIC, 3) as [number, number, number];
  const [labelCount] = header(labels.path, labels.data, LABELS_MAGIC, 1) as [number];
  if (rows !== 28 || cols !== 28) throw new Error(`${images.path}: images are ${rows} x ${cols}, expected 28 x 28`);
  if (labelCount !== count) throw new Error(`${images.path} has ${count} images but ${labels.path} has ${labelCount} labels`);

  const n = Math.min(count, limit ?? count);
  // One copy of the pixels used (so a small `limit` does not keep the whole decompressed file alive), and
  // each image a view into it.
  const pixels = new Uint8Array(images.data.subarray(16, 16 + n * 784)); // copies (Buffer.slice would not)
  const out: FashionMnistImage[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      pixels: new Uint8Array(pixels.buffer, pixels.byteOffset + i * 784, 784),
      width: 28,
      height: 28,
      channels: 1,
    };
  }
  const labelBytes = labels.data.subarray(8, 8 + n);
  for (let i = 0; i < n; i++) {
    if (labelBytes[i]! > 9) throw new Error(`${labels.path}: label ${labelBytes[i]} of example ${i} is outside 0-9`);
  }
  return { images: out, labels: Array.from(labelBytes), classNames: [...FASHION_MNIST_CLASSES] };
}
