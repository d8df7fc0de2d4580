// Image decoding for training and encoding batches, with sharp (libvips): every image is resized so its
// shorter side is `resize` (torchvision's Resize(int)), centre cropped to `crop` x `crop` and converted
// to 8-bit sRGB with 3 channels, and the batch comes back as one contiguous NHWC uint8 buffer, the layout
// NativeImageBatch expects. Pixels never go through a JS loop: sharp writes each image's raw buffer and
// it is copied into its slot of the batch with one TypedArray.set.

import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import type { Interpolation } from '../registry.js';
import { numberOr, POSITIVE_INTEGER } from '../numericOption.js';

/** Raw pixels, row-major, interleaved channels (1: grey, 3: RGB, 4: RGBA). */
export interface RawImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** A file path, an encoded image (PNG, JPEG, WebP, ...) in a Buffer, or raw pixels. */
export type ImageInput = string | Buffer | RawImage;

export interface ImagePrep {
  /** Length the shorter side is resized to, keeping the aspect ratio. */
  resize: number;
  /** Side of the centre crop taken after the resize; at most `resize`. */
  crop: number;
  interpolation: Interpolation;
}

export interface ImageBatch {
  /** rows * height * width * 3 bytes, NHWC, RGB. */
  pixels: Uint8Array;
  rows: number;
  height: number;
  width: number;
}

export interface LoadImageOptions {
  /** Images decoded at the same time (default: the number of CPUs, at most 8). */
  concurrency?: number;
  /** Where each input came from (e.g. "train.csv row 7"), named in errors instead of inputs[i]. */
  sources?: ReadonlyArray<string | undefined>;
}

const KERNEL: Record<Interpolation, keyof sharp.KernelEnum> = {
  nearest: 'nearest',
  bilinear: 'linear',
  // sharp's 'cubic' is Catmull-Rom (a = -0.5), the same cubic as PIL's BICUBIC that torchvision uses.
  bicubic: 'cubic',
};

function isRawImage(input: unknown): input is RawImage {
  return typeof input === 'object' && input !== null && !Buffer.isBuffer(input) && 'pixels' in input;
}

/**
 * Why `input` is not an ImageInput, or null when it is one. Checks shape only (a path may still be
 * missing); used by loadImageBatch and by normalizeLabelledData to reject bad data before any decoding.
 */
export function imageInputProblem(input: unknown): string | null {
  if (typeof input === 'string') return input.length > 0 ? null : 'the image path is empty';
  if (Buffer.isBuffer(input)) return input.length > 0 ? null : 'the image Buffer is empty';
  if (!isRawImage(input)) {
    return 'expected a file path, a Buffer holding an encoded image, or { pixels, width, height, channels }';
  }
  const { pixels, width, height, channels } = input;
  if (!(pixels instanceof Uint8Array)) return 'raw image `pixels` must be a Uint8Array';
  if (!Number.isInteger(width) || width <= 0 || !Number.isInteger(height) || height <= 0) {
    return `raw image width and height must be positive integers (got ${width} x ${height})`;
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) return `raw image channels must be 1, 3 or 4 (got ${channels})`;
  const expected = width * height * channels;
  if (pixels.length !== expected) {
    return `raw image has ${pixels.length} bytes, expected width * height * channels = ${width} * ${height} * ${channels} = ${expected}`;
  }
  return null;
}

function describeInput(input: ImageInput, index: number, source: string | undefined): string {
  const where = source ?? `inputs[${index}]`;
  if (typeof input === 'string') return `image ${input} (${where})`;
  if (Buffer.isBuffer(input)) return `image Buffer ${where}`;
  return `raw image ${where}`;
}

function validatePrep(prep: ImagePrep): void {
  for (const key of ['resize', 'crop'] as const) {
    const v = prep[key];
    if (!Number.isInteger(v) || v <= 0) throw new Error(`loadImageBatch: prep.${key} must be a positive integer (got ${v})`);
  }
  if (prep.crop > prep.resize) {
    throw new Error(`loadImageBatch: prep.crop (${prep.crop}) must not exceed prep.resize (${prep.resize})`);
  }
  if (!(prep.interpolation in KERNEL)) {
    throw new Error(
      `loadImageBatch: prep.interpolation must be one of ${Object.keys(KERNEL).join(', ')} (got ${String(prep.interpolation)})`,
    );
  }
}

/** torchvision Resize(int): the shorter side becomes `size`, the longer is scaled and truncated. */
export function resizedSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.max(size, Math.floor((size * height) / width)) };
  return { width: Math.max(size, Math.floor((size * width) / height)), height: size };
}

function openImage(input: ImageInput): sharp.Sharp {
  if (isRawImage(input)) {
    return sharp(input.pixels, { raw: { width: input.width, height: input.height, channels: input.channels } });
  }
  // failOn 'error': a truncated or corrupt file is an error rather than a half-grey image in the batch.
  // No .rotate(): PIL, which the Python pipelines use, ignores EXIF orientation too.
  return sharp(input, { failOn: 'error' });
}

async function decodeOne(input: ImageInput, prep: ImagePrep, index: number, source?: string): Promise<Buffer> {
  const problem = imageInputProblem(input);
  if (problem) throw new Error(`loadImageBatch: inputs[${index}]: ${problem}`);
  try {
    // The crop offsets depend on the size after the resize, so the header is read first (cheap: sharp
    // does not decode the pixels for metadata()).
    let width: number;
    let height: number;
    if (isRawImage(input)) {
      ({ width, height } = input);
    } else {
      const meta = await openImage(input).metadata();
      if (!meta.width || !meta.height) throw new Error('the image has no dimensions');
      ({ width, height } = meta);
    }
    const size = resizedSize(width, height, prep.resize);
    const { data, info } = await openImage(input)
      .resize({ width: size.width, height: size.height, fit: 'fill', kernel: KERNEL[prep.interpolation] })
      .extract({
        // torchvision CenterCrop rounds the offsets.
        left: Math.round((size.width - prep.crop) / 2),
        top: Math.round((size.height - prep.crop) / 2),
        width: prep.crop,
        height: prep.crop,
      })
      // Grey and CMYK become sRGB, alpha is dropped (as PIL's convert('RGB'); libvips resizes with
      // premultiplied alpha first, which can move a colour by 1), 16-bit becomes 8-bit.
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== prep.crop || info.height !== prep.crop) {
      throw new Error(`decoded to ${info.width} x ${info.height} x ${info.channels}, expected ${prep.crop} x ${prep.crop} x 3`);
    }
    return data;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    let reason = e.message;
    if (typeof input === 'string') {
      if (/missing|ENOENT|no such file/i.test(reason)) reason = 'file not found';
      else if (/unsupported image format/i.test(reason)) reason = 'not an image (unsupported or unrecognised format)';
    } else if (/unsupported image format/i.test(reason)) {
      reason = 'not an image (unsupported or unrecognised format)';
    }
    throw new Error(`Cannot load ${describeInput(input, index, source)}: ${reason}`, { cause: err });
  }
}

/** Runs `fn` over 0..count-1 with at most `limit` calls in flight; rejects with the first error. */
async function forEachLimited(count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const i = next++;
      try {
        await fn(i);
      } catch (err) {
        failed = true; // stop the other workers from starting more work
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

/**
 * Decodes, resizes, centre crops and converts `inputs` into one NHWC uint8 RGB batch of
 * inputs.length x crop x crop x 3. Rejects with an Error naming the file (or inputs[i]) that failed.
 */
export async function loadImageBatch(
  inputs: readonly ImageInput[],
  prep: ImagePrep,
  options: LoadImageOptions = {},
): Promise<ImageBatch> {
  validatePrep(prep);
  const concurrency = numberOr(options.concurrency, 'concurrency', POSITIVE_INTEGER, Math.min(8, availableParallelism()));
  const side = prep.crop;
  const stride = side * side * 3;
  const pixels = new Uint8Array(inputs.length * stride);
  await forEachLimited(inputs.length, concurrency, async (i) => {
    pixels.set(await decodeOne(inputs[i]!, prep, i, options.sources?.[i]), i * stride);
  });
  return { pixels, rows: inputs.length, height: side, width: side };
}
