// lib/npy.ts against numpy itself: what writeNpy writes, np.load reads (shape, dtype, values), the header
// is 64-byte aligned, and readNpy reads what np.save writes.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { npyHeader, readNpy, writeNpy } from '../lib/npy.js';
import { PYTHON, random, tempDir } from './helpers/fixtures.js';

const tmp = tempDir('npy');
afterAll(() => tmp.cleanup());

/** np.load(file) as { shape, dtype, fortran, values } (values as a flat list of float64s). */
function numpyLoad(file: string): { shape: number[]; dtype: string; fortran: boolean; values: number[] } {
  const code =
    'import json, sys, numpy as np\n' +
    'a = np.load(sys.argv[1])\n' +
    'print(json.dumps({"shape": list(a.shape), "dtype": a.dtype.str, "fortran": bool(a.flags.f_contiguous and a.ndim > 1 and not a.flags.c_contiguous), "values": a.ravel().astype(float).tolist()}))';
  return JSON.parse(execFileSync(PYTHON, ['-c', code, file], { encoding: 'utf8' }));
}

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const rand = random(seed);
  return Float32Array.from({ length: rows * cols }, () => (rand() - 0.5) * 1000);
}

describe('writeNpy', () => {
  it('writes a float32 C-order matrix that numpy loads with the same shape and values', async () => {
    const data = randomMatrix(5, 7, 1);
    data[3] = -0;
    data[4] = 1e-30;
    const file = join(tmp.dir, 'matrix.npy');
    await writeNpy(file, data, [5, 7]);
    const loaded = numpyLoad(file);
    expect(loaded.shape).toEqual([5, 7]);
    expect(loaded.dtype).toBe('<f4');
    expect(loaded.fortran).toBe(false);
    expect(Float32Array.from(loaded.values)).toEqual(data);
  });

  it('pads the header to 64 bytes, newline last', async () => {
    for (const shape of [[3], [0, 4], [2, 3], [1000000, 1], [2, 3, 4]]) {
      const header = npyHeader(shape);
      expect(header.length % 64).toBe(0);
      expect(header.subarray(0, 8)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]));
      expect(header.readUInt16LE(8)).toBe(header.length - 10);
      expect(header[header.length - 1]).toBe(0x0a);
    }
    const file = join(tmp.dir, 'aligned.npy');
    await writeNpy(file, new Float32Array(6), [2, 3]);
    const bytes = readFileSync(file);
    const dataStart = 10 + bytes.readUInt16LE(8);
    expect(dataStart % 64).toBe(0);
    expect(bytes.length - dataStart).toBe(24);
    expect(bytes.subarray(10, dataStart).toString('latin1')).toMatch(
      /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/,
    );
  });

  it('writes 1-D and empty arrays numpy reads', async () => {
    const vector = join(tmp.dir, 'vector.npy');
    await writeNpy(vector, Float32Array.from([1.5, -2, 3]), [3]);
    expect(numpyLoad(vector)).toMatchObject({ shape: [3], values: [1.5, -2, 3] });
    const empty = join(tmp.dir, 'empty.npy');
    await writeNpy(empty, new Float32Array(0), [0, 16]);
    expect(numpyLoad(empty)).toMatchObject({ shape: [0, 16], values: [] });
  });

  it('replaces an existing file atomically and leaves no temporary file behind', async () => {
    const dir = join(tmp.dir, 'atomic');
    mkdirSync(dir);
    const file = join(dir, 'e.npy');
    await writeNpy(file, Float32Array.from([1, 2]), [1, 2]);
    await writeNpy(file, Float32Array.from([3, 4, 5, 6]), [2, 2]);
    expect(readdirSync(dir)).toEqual(['e.npy']);
    expect((await readNpy(file)).shape).toEqual([2, 2]);
  });

  it('rejects a shape that does not match the data, naming the file', async () => {
    const file = join(tmp.dir, 'bad.npy');
    await expect(writeNpy(file, new Float32Array(5), [2, 3])).rejects.toThrow(/bad\.npy.*shape \[2, 3\] holds 6 values but the data has 5/);
    await expect(writeNpy(file, new Float32Array(2), [2, -1])).rejects.toThrow(/non-negative integers/);
  });
});

describe('readNpy', () => {
  it('reads back what writeNpy wrote', async () => {
    const data = randomMatrix(4, 3, 2);
    const file = join(tmp.dir, 'roundtrip.npy');
    await writeNpy(file, data, [4, 3]);
    const read = await readNpy(file);
    expect(read.shape).toEqual([4, 3]);
    expect(read.data).toEqual(data);
  });

  it("reads numpy's own files, big-endian included", async () => {
    const file = join(tmp.dir, 'numpy.npy');
    const big = join(tmp.dir, 'numpy-be.npy');
    execFileSync(PYTHON, [
      '-c',
      'import sys, numpy as np\n' +
        'a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7\n' +
        'np.save(sys.argv[1], a); np.save(sys.argv[2], a.astype(">f4"))',
      file,
      big,
    ]);
    const expected = Float32Array.from({ length: 12 }, (_, i) => Math.fround(Math.fround(i) / 7));
    for (const f of [file, big]) {
      const read = await readNpy(f);
      expect(read.shape).toEqual([3, 4]);
      expect(read.data).toEqual(expected);
    }
  });

  it('names the file and the problem for other dtypes and non-.npy files', async () => {
    const f64 = join(tmp.dir, 'f64.npy');
    execFileSync(PYTHON, ['-c', 'import sys, numpy as np; np.save(sys.argv[1], np.zeros((2, 2)))', f64]);
    await expect(readNpy(f64)).rejects.toThrow(/f64\.npy: dtype <f8 is not float32/);
    const text = join(tmp.dir, 'text.npy');
    writeFileSync(text, 'hello world');
    await expect(readNpy(text)).rejects.toThrow(/text\.npy is not a \.npy file/);
  });
});
