// Reading the files a model directory names: finetuner.json, tokenizer.json, model.pt. One place for the
// rules that keep hostile or broken folders harmless:
// - a path taken from a metadata file must stay inside its folder (no "../../x/model.pt");
// - a file is checked to be a regular file before anything reads it (a FIFO would block the reader, and
//   the compute thread behind it, forever; stat does not open it);
// - JSON errors name the file and position but never echo its contents (a "tokenizer" that is really
//   /etc/passwd must not end up in a log);
// - a UTF-8 byte-order mark, as some editors write, is accepted.
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

function kindOf(info: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Resolves to `path` when it is a regular file (after symbolic links); otherwise an Error naming it.
 * `notFound` replaces the message for a missing file.
 */
export async function requireRegularFile(path: string, what: string, notFound?: string): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(notFound ?? `${what} ${path} not found`, { cause: error });
    throw new Error(`cannot read ${what} ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (!info.isFile()) throw new Error(`${what} ${path} is ${kindOf(info)}, not a regular file`);
  return path;
}

/** The file `name` (from field `field` of `metadataFile`) inside `dir`, or an Error if it would leave it. */
export function insideFolder(dir: string, name: unknown, field: string, metadataFile: string): string {
  if (typeof name !== 'string' || name === '' || name.includes('\0')) {
    throw new Error(`${metadataFile}: field "${field}" must be a file name inside ${dir}, got ${JSON.stringify(name)}`);
  }
  const root = resolve(dir);
  const path = resolve(root, name);
  const rel = relative(root, path);
  if (isAbsolute(name) || rel === '' || rel === '..' || rel.startsWith(`..${sep}`)) {
    throw new Error(`${metadataFile}: field "${field}" names ${JSON.stringify(name)}, which is outside ${dir}; a model folder may only name its own files`);
  }
  return join(root, rel);
}

/** Parses a JSON file; errors name the file (and the position) without quoting what it holds. */
export async function readJsonFile(file: string, what: string, notFound?: string): Promise<unknown> {
  await requireRegularFile(file, what, notFound);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${what} ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    const position = /at position (\d+)/.exec((error as Error).message)?.[1];
    throw new Error(`${file}: not a ${what}: invalid JSON${position ? ` (syntax error at character ${position})` : ''}`);
  }
}
