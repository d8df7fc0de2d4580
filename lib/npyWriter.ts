// A float32 .npy matrix written row batch by row batch, for encodes too large to hold in memory. The
// header is written first with room for a 12-digit row count (its dict is padded with spaces, which numpy
// allows), each batch's bytes are appended as they come, and close() rewrites the header in place with
// the real row count. Everything goes to FILE.tmp-xxxxxxxx, renamed to FILE only once complete, so a
// failure or abort never leaves a half-written FILE.

import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { dirname, resolve } from 'node:path';
import { npyHeader } from './npy.js';

/** Largest row count the reserved header has room for (12 digits). */
export const NPY_WRITER_MAX_ROWS = 999_999_999_999;

const LITTLE_ENDIAN = endianness() === 'LE';
const PREAMBLE = 10; // magic (6), version (2), header length (uint16)

/**
 * npyHeader's header for `shape`, padded with spaces to exactly `length` bytes (a multiple of 64, so the
 * data stays aligned), ending in '\n'.
 */
function paddedHeader(shape: readonly number[], length: number): Buffer {
  const minimal = npyHeader(shape);
  if (minimal.length > length) throw new RangeError(`npy header for shape (${shape.join(', ')}) needs ${minimal.length} bytes, ${length} reserved`);
  const header = Buffer.alloc(length, 0x20);
  minimal.copy(header, 0, 0, minimal.length - 1); // all but its final '\n'
  header[length - 1] = 0x0a;
  header.writeUInt16LE(length - PREAMBLE, 8);
  return header;
}

export interface NpyWriterResult {
  file: string;
  rows: number;
  dim: number;
}

/** Appends float32 rows of width `dim` to a .npy file; close() publishes it, abort() removes it. */
export class NpyWriter {
  /** The final path, written by close(). */
  readonly file: string;
  /** The temporary file rows are written to. */
  readonly tempFile: string;
  readonly dim: number;
  #handle: FileHandle | undefined;
  #headerLength: number;
  #position: number;
  #rows = 0;
  #state: 'open' | 'closed' | 'aborted' = 'open';

  private constructor(file: string, tempFile: string, dim: number, handle: FileHandle, headerLength: number) {
    this.file = file;
    this.tempFile = tempFile;
    this.dim = dim;
    this.#handle = handle;
    this.#headerLength = headerLength;
    this.#position = headerLength;
  }

  /** Creates FILE.tmp-xxxxxxxx beside `file` and writes a placeholder header for rows of width `dim`. */
  static async create(file: string, dim: number): Promise<NpyWriter> {
    if (typeof file !== 'string' || file === '') throw new TypeError('NpyWriter: the file must be a non-empty path');
    if (!Number.isSafeInteger(dim) || dim < 1) throw new TypeError(`NpyWriter(${file}): dim must be a positive integer, got ${JSON.stringify(dim)}`);
    const tempFile = `${file}.tmp-${randomBytes(4).toString('hex')}`;
    let handle: FileHandle;
    try {
      handle = await open(tempFile, 'wx');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? `directory ${dirname(resolve(file))} does not exist` : (error as Error).message;
      throw new Error(`cannot write ${file}: ${reason}`, { cause: error });
    }
    const headerLength = npyHeader([NPY_WRITER_MAX_ROWS, dim]).length;
    const writer = new NpyWriter(file, tempFile, dim, handle, headerLength);
    try {
      await writer.#writeAt(paddedHeader([0, dim], headerLength), 0);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer;
  }

  /** Rows written so far. */
  get rows(): number {
    return this.#rows;
  }

  /**
   * Appends rows (row-major, a multiple of dim floats). The bytes are written straight from the array
   * (no copy on little-endian machines); the array may be dropped once the promise resolves.
   */
  async write(data: Float32Array): Promise<void> {
    this.#checkOpen('write');
    if (!(data instanceof Float32Array)) throw new TypeError(`NpyWriter(${this.file}): write needs a Float32Array`);
    if (data.length % this.dim !== 0) {
      throw new RangeError(`NpyWriter(${this.file}): ${data.length} values are not whole rows of ${this.dim}`);
    }
    const rows = data.length / this.dim;
    if (this.#rows + rows > NPY_WRITER_MAX_ROWS) throw new RangeError(`NpyWriter(${this.file}): more than ${NPY_WRITER_MAX_ROWS} rows`);
    const position = this.#position;
    // Reserved before the write so that concurrent writes land one after another.
    this.#position += data.byteLength;
    this.#rows += rows;
    await this.#writeAt(littleEndianBytes(data), position);
  }

  /** Rewrites the header with the real row count, syncs, and renames the file into place. */
  async close(): Promise<NpyWriterResult> {
    this.#checkOpen('close');
    this.#state = 'closed';
    const handle = this.#handle!;
    try {
      try {
        await this.#writeAt(paddedHeader([this.#rows, this.dim], this.#headerLength), 0);
        await handle.sync(); // the rename must not publish a file whose data is still only in the page cache
      } finally {
        this.#handle = undefined;
        await handle.close();
      }
      await rename(this.tempFile, this.file);
    } catch (error) {
      await rm(this.tempFile, { force: true });
      throw error;
    }
    return { file: this.file, rows: this.#rows, dim: this.dim };
  }

  /** Closes and removes the temporary file; FILE is left as it was. Safe to call twice, and after close(). */
  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    const handle = this.#handle;
    this.#handle = undefined;
    try {
      await handle?.close();
    } finally {
      await rm(this.tempFile, { force: true });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort();
  }

  #checkOpen(what: string): void {
    if (this.#state !== 'open') throw new Error(`NpyWriter(${this.file}): ${what} after ${this.#state === 'closed' ? 'close' : 'abort'}`);
  }

  // A positional write, repeated until every byte is written (write(2) may write fewer).
  async #writeAt(bytes: Uint8Array, position: number): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      const handle = this.#handle;
      if (!handle) throw new Error(`NpyWriter(${this.file}): aborted`);
      const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset, position + offset);
      offset += bytesWritten;
    }
  }
}

/** The data as little-endian bytes ('<f4'): a view on little-endian machines, a swapped copy otherwise. */
function littleEndianBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = Buffer.alloc(data.byteLength);
  for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i]!, i * 4);
  return out;
}
