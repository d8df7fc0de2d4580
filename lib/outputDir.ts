// Where a model is written: save(), fit({ outputDir }) and the CLI all go through here, so the rules hold
// in one place:
// - the target is checked before any work: a path that is not a directory, or a non-empty directory that
//   is not a finetuner model, is refused (we never delete what we did not create), and so is a target
//   that contains the input model (replacing it would delete the input);
// - everything is written into a staging folder beside the target, created first, so an unwritable
//   place fails before training rather than after it;
// - the staging folder replaces the target in one step (renameat2 RENAME_EXCHANGE): at every instant the
//   target is either the old model or the new one. Where the filesystem cannot exchange, two renames
//   with recovery: a crash between them leaves the old model in a folder that the next run moves back;
// - litter a crash leaves (staging and old folders of dead processes, named by us) is removed by the next
//   run that writes the same target.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { loadBinding } from './addonLoader.js';
import { INDEX_FILE, INDEX_FORMAT } from './embeddingIndexFormat.js';
import { METADATA_FILE } from './metadata.js';

const STAGING = 'finetuner-staging';
const OLD = 'finetuner-old';

/** A staging folder for one output; `commit` swaps it in, `abort` removes it. */
export interface StagedOutput {
  readonly target: string;
  readonly staging: string;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface OutputCheckOptions {
  /** How the path is named in errors, e.g. 'outputDir' or '--output-dir'. */
  option: string;
  /** The directory the model was loaded from: the target must not contain it. */
  inputDir?: string;
}

/** An Error for a path option that holds a NUL byte (the OS would silently cut the path there). */
export function checkPathText(path: unknown, option: string): string {
  if (typeof path !== 'string' || path === '') throw new TypeError(`${option} must be a non-empty path string`);
  if (path.includes('\0')) throw new TypeError(`${option} contains a NUL byte: ${JSON.stringify(path)}`);
  return path;
}

/**
 * Whether `dir` holds something finetuner wrote: a model (finetuner.json of a saved model or an exported
 * backbone) or an embedding index (index.json, lib/embeddingIndex.ts).
 */
async function isFinetunerModelDir(dir: string): Promise<boolean> {
  const formatOf = async (file: string): Promise<unknown> => {
    try {
      return (JSON.parse((await readFile(join(dir, file), 'utf8')).replace(/^\uFEFF/, '')) as { format?: unknown })?.format;
    } catch {
      return undefined;
    }
  };
  const model = await formatOf(METADATA_FILE);
  return model === 'finetuner-embedding' || model === 'finetuner-backbone' || (await formatOf(INDEX_FILE)) === INDEX_FORMAT;
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

/**
 * Refuses a target that saving would harm: not a directory, a non-empty directory that is not a model
 * of ours, or one that contains the input model. Resolves to the absolute target.
 */
export async function checkOutputDir(dir: string, options: OutputCheckOptions): Promise<string> {
  const target = resolve(checkPathText(dir, options.option));
  if (options.inputDir !== undefined) {
    const input = resolve(options.inputDir);
    if (input !== target && isInside(input, target)) {
      throw new Error(`${options.option} ${dir} contains the input model ${options.inputDir}; replacing it would delete the input: choose another directory`);
    }
  }
  let info;
  try {
    info = await lstat(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return target;
    throw unwritable(error, dir, options.option);
  }
  if (info.isSymbolicLink()) {
    // Swapping would replace the link, not what it points to: ask for the real path instead.
    throw new Error(`${options.option} ${dir} is a symbolic link; give the path of the directory it points to, or a new path`);
  }
  if (!info.isDirectory()) {
    throw new Error(`${options.option} ${dir} exists and is not a directory; it would be replaced, so choose a new or empty directory`);
  }
  if ((await readdir(target)).length > 0 && !(await isFinetunerModelDir(target))) {
    throw new Error(
      `${options.option} ${dir} is a non-empty directory that is not a finetuner model; it would be replaced, ` +
        'so choose a new or empty directory',
    );
  }
  return target;
}

/** Whether process `pid` still runs (this one counts as running); staging it left is litter once it is gone. */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const siblingPattern = (target: string) =>
  new RegExp(`^\\.${basename(target).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(${STAGING}|${OLD})-(\\d+)-[0-9a-f]{8}$`);

/**
 * Removes what a crashed run left beside `target`: staging folders and old models of processes that are
 * gone. If the target itself is missing (a crash between the two renames of the fallback swap), the old
 * model is moved back first.
 */
export async function removeStaleLitter(target: string): Promise<string[]> {
  const parent = dirname(target);
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const pattern = siblingPattern(target);
  const removed: string[] = [];
  for (const name of names) {
    const match = pattern.exec(name);
    if (!match || processAlive(Number(match[2]))) continue;
    const path = join(parent, name);
    if (match[1] === OLD && !existsSync(target) && (await isFinetunerModelDir(path))) {
      await rename(path, target);
      continue;
    }
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

function siblingName(target: string, kind: string): string {
  return join(dirname(target), `.${basename(target)}.${kind}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Names the problem with a place we cannot write to, instead of a later, misleading ENOENT. */
function unwritable(error: unknown, dir: string, option: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only filesystem'
    : code === 'ENOSPC' ? 'no space left on the device' : code === 'ENOTDIR' ? 'a part of the path is a file' : (error as Error).message;
  return new Error(`${option} ${dir}: cannot write there (${why})`, { cause: error });
}

/**
 * Checks the target, clears stale litter and creates the staging folder beside it, so a place that
 * cannot be written fails now. Write into `staging`, then `commit()`; on failure `abort()`.
 */
export async function stageOutputDir(dir: string, options: OutputCheckOptions): Promise<StagedOutput> {
  const target = await checkOutputDir(dir, options);
  try {
    await mkdir(dirname(target), { recursive: true });
  } catch (error) {
    throw unwritable(error, dir, options.option);
  }
  await removeStaleLitter(target);
  const staging = siblingName(target, STAGING);
  try {
    await mkdir(staging);
  } catch (error) {
    throw unwritable(error, dir, options.option);
  }
  let settled = false;
  return {
    target,
    staging,
    async commit() {
      if (settled) throw new Error(`${options.option} ${dir}: this output was already committed or aborted`);
      // The target may have changed while we worked (another process, the user): check it again.
      await checkOutputDir(dir, options);
      await swapIn(staging, target);
      settled = true;
    },
    async abort() {
      if (settled) return;
      settled = true;
      await rm(staging, { recursive: true, force: true });
    },
  };
}

async function swapIn(staging: string, target: string): Promise<void> {
  let targetExists = true;
  try {
    await stat(target);
  } catch {
    targetExists = false;
  }
  if (!targetExists) {
    await rename(staging, target);
    return;
  }
  try {
    await loadBinding().exchangePaths(staging, target);
    // `staging` now holds the old model; it carries a name of ours, so a crash here leaves litter the
    // next run removes.
    await rm(staging, { recursive: true, force: true });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOTSUP') throw error;
  }
  // No exchange on this filesystem: two renames. A crash between them leaves no target but the old
  // model under a name of ours, which removeStaleLitter moves back.
  const old = siblingName(target, OLD);
  await rename(target, old);
  try {
    await rename(staging, target);
  } catch (error) {
    await rename(old, target);
    throw error;
  }
  await rm(old, { recursive: true, force: true });
}
