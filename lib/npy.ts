// NumPy .npy files for float32 matrices (what `finetuner encode` writes), without a dependency.
// Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//   magic "\x93NUMPY", version (1, 0), header length (uint16 LE), then a Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (R, D), } padded with spaces and ending in '\n'
//   so that the data starts on a 64-byte boundary (numpy mmaps and reads aligned), then the raw data.

import { endianness } from 'node:os';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomicFile.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ALIGNMENT = 64;
const LITTLE_ENDIAN = endianness() === 'LE';

export interface NpyArray {
  data: Float32Array;
  shape: number[];
}

function checkShape(shape: readonly number[], length: number, what: string): void {
  if (!Array.isArray(shape) || !shape.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new TypeError(`${what}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== length) {
    throw new RangeError(`${what}: shape [${shape.join(', ')}] holds ${count} values but the data has ${length}`);
  }
}

/** Python's repr of a tuple of ints: (), (3,), (3, 4). */
function shapeTuple(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** The magic, version and header of a v1.0 float32 C-order file, padded so the data is 64-byte aligned. */
export function npyHeader(shape: readonly number[]): Buffer {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeTuple(shape)}, }`;
  const preamble = MAGIC.length + 2 + 2;
  const unpadded = preamble + dict.length + 1; // + '\n'
  const total = Math.ceil(unpadded / ALIGNMENT) * ALIGNMENT;
  const headerText = dict + ' '.repeat(total - unpadded) + '\n';
  const buffer = Buffer.alloc(total);
  MAGIC.copy(buffer, 0);
  buffer[6] = 1; // major version
  buffer[7] = 0; // minor version
  buffer.writeUInt16LE(headerText.length, 8);
  buffer.write(headerText, preamble, 'latin1');
  return buffer;
}

/** The data as little-endian bytes ('<f4'): a view on little-endian machines, a swapped copy otherwise. */
function littleEndianBytes(data: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = Buffer.alloc(data.byteLength);
  for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i]!, i * 4);
  return out;
}

/**
 * Writes `data` (row-major, `shape`'s product values) as a float32 .npy file that `np.load` reads. The
 * file is written under a temporary name in the same directory and renamed into place, so a reader never
 * sees a half-written file and a failure leaves the old file (if any) untouched.
 */
export async function writeNpy(file: string, data: Float32Array, shape: number[]): Promise<void> {
  if (!(data instanceof Float32Array)) throw new TypeError(`writeNpy(${file}): data must be a Float32Array`);
  checkShape(shape, data.length, `writeNpy(${file})`);
  await writeFileAtomic(file, npyHeader(shape), littleEndianBytes(data));
}

function headerField(header: string, key: string, file: string): string {
  const match = new RegExp(`['"]${key}['"]\\s*:\\s*('[^']*'|"[^"]*"|True|False|\\([^)]*\\))`).exec(header);
  if (!match) throw new Error(`${file}: the .npy header has no '${key}' (header: ${header.trim()})`);
  return match[1]!;
}

/**
 * Reads a float32 .npy file (versions 1.0 to 3.0, C order, little- or big-endian) as written by writeNpy or
 * by numpy (`np.save(f, a.astype(np.float32))`). Throws an Error naming the file when it is anything else.
 */
export async function readNpy(file: string): Promise<NpyArray> {
  const bytes = await readFile(file);
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC)) throw new Error(`${file} is not a .npy file (no \\x93NUMPY magic)`);
  const major = bytes[6]!;
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerLength = bytes.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    headerLength = bytes.readUInt32LE(8);
    headerStart = 12;
  } else {
    throw new Error(`${file}: unsupported .npy format version ${major}.${bytes[7]}`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) throw new Error(`${file}: truncated .npy header`);
  const header = bytes.subarray(headerStart, dataStart).toString(major === 3 ? 'utf8' : 'latin1');

  const descr = headerField(header, 'descr', file).slice(1, -1);
  if (descr !== '<f4' && descr !== '>f4' && !(descr === '=f4' && LITTLE_ENDIAN)) {
    throw new Error(`${file}: dtype ${descr} is not float32; save it with a.astype(np.float32)`);
  }
  if (headerField(header, 'fortran_order', file) !== 'False') {
    throw new Error(`${file}: the array is in Fortran order; save it with np.ascontiguousarray(a)`);
  }
  const tuple = headerField(header, 'shape', file).slice(1, -1);
  const shape = tuple
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      if (!/^\d+$/.test(s)) throw new Error(`${file}: bad shape (${tuple}) in the .npy header`);
      return Number(s);
    });
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - dataStart !== count * 4) {
    throw new Error(`${file}: shape (${tuple}) needs ${count * 4} bytes of data, the file has ${bytes.length - dataStart}`);
  }
  // Copied into a fresh buffer: the file's bytes need not be 4-byte aligned in Node's buffer pool.
  const data = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart, count * 4);
  const little = descr !== '>f4';
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, little);
  return { data, shape };
}
