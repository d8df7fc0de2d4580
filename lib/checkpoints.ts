// Resumable training checkpoints. A checkpoint is a folder <checkpointDir>/step-N (N: steps done over all
// epochs) holding
//   model.pt, finetuner.json [, tokenizer.json]   the model as model.save() writes it (loadable as is)
//   training-state.pt                             optimizer, loss parameters, CPU generator state,
//                                                 WiSE-FT's initial weights (native training_state.cc)
//   checkpoint.json                               the run's options and data fingerprints, the position
//                                                 (epoch, step), the epoch's partial sums, the history
//                                                 and the callbacks' state
// Each is written into a staging folder and swapped in exactly as a model is (lib/outputDir.ts), so a
// crash or kill -9 mid-write never replaces or damages a complete checkpoint; staging litter of dead
// processes is removed by the next run that writes checkpoints there.
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from './atomicFile.js';
import type { EpochRecord } from './fit.js';
import { readJsonFile } from './jsonFile.js';
import type { EmbeddingModel, SaveOptions } from './model.js';
import { removeStaleLitter, stageOutputDir } from './outputDir.js';

export const CHECKPOINT_FILE = 'checkpoint.json';
export const TRAINING_STATE_FILE = 'training-state.pt';
const CHECKPOINT_FORMAT = 'finetuner-checkpoint';
const CHECKPOINT_VERSION = 1;
const STEP_DIR = /^step-(\d+)$/;
const LITTER = /^\.(step-\d+)\.finetuner-(staging|old)-\d+-[0-9a-f]{8}$/;

/** Where checkpoints go when fit has an outputDir but no checkpointDir: a sibling folder. */
export function defaultCheckpointDir(outputDir: string): string {
  return `${resolve(outputDir)}.checkpoints`;
}

/** Next step to run: step `step` (0-based) of epoch `epoch`; the epoch's end has not run yet. */
export interface TrainingPosition {
  epoch: number;
  step: number;
  globalStep: number;
}

/** Sums over the steps of the current epoch done so far. */
export interface EpochProgress {
  lossSum: number;
  exampleSum: number;
  truncated: number;
  seconds: number;
}

/** What a run is: a resumed run must match it (run identity) to continue it. */
export type RunIdentity = Record<string, unknown>;

export interface CheckpointRecord {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  run: RunIdentity;
  position: TrainingPosition;
  partial: EpochProgress;
  history: EpochRecord[];
  metrics: Record<string, number>;
  /** Each callback's state() by its name. */
  callbacks: Record<string, unknown>;
  createdAt: string;
}

/** A checkpoint found on disk. */
export interface Checkpoint {
  dir: string;
  record: CheckpointRecord;
}

/**
 * A fingerprint of training or evaluation data: the bytes of a CSV file, or of an in-memory array
 * (texts, labels, raw pixels), so a resumed run can tell that it was given other data.
 */
export async function fingerprintData(input: unknown): Promise<string> {
  const hash = createHash('sha256');
  if (typeof input === 'string') {
    hash.update('file:');
    hash.update(await readFile(input));
  } else {
    const walk = (value: unknown): void => {
      if (ArrayBuffer.isView(value)) hash.update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      else if (Array.isArray(value)) {
        hash.update(`[${value.length}`);
        value.forEach(walk);
      } else if (value !== null && typeof value === 'object') {
        for (const key of Object.keys(value).sort()) {
          hash.update(`{${key}:`);
          walk((value as Record<string, unknown>)[key]);
        }
      } else hash.update(`${typeof value}:${String(value)};`);
    };
    walk(input);
  }
  return hash.digest('hex').slice(0, 32);
}

/** Compares what a checkpoint's run was with this run; an Error naming each difference. */
export function checkSameRun(saved: RunIdentity, current: RunIdentity, where: string): void {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(current)])].sort();
  const differences = keys
    .filter((key) => JSON.stringify(saved[key]) !== JSON.stringify(current[key]))
    .map((key) => `${key}: checkpoint ${JSON.stringify(saved[key]) ?? 'unset'}, now ${JSON.stringify(current[key]) ?? 'unset'}`);
  if (differences.length > 0) {
    throw new Error(`resumeFrom ${where}: this run differs from the checkpoint's (give the same data and options to resume): ${differences.join('; ')}`);
  }
}

/** step-N folders of `dir`, newest first. */
async function stepFolders(dir: string): Promise<Array<{ name: string; step: number }>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, match: STEP_DIR.exec(name) }))
    .filter((entry) => entry.match !== null)
    .map((entry) => ({ name: entry.name, step: Number(entry.match![1]) }))
    .sort((a, b) => b.step - a.step);
}

/** Removes staging and old folders that dead processes left in `dir`, whatever step they were for. */
export async function removeCheckpointLitter(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const targets = new Set(names.map((name) => LITTER.exec(name)?.[1]).filter((name): name is string => name !== undefined));
  for (const target of targets) await removeStaleLitter(join(dir, target));
}

async function readCheckpoint(dir: string): Promise<CheckpointRecord> {
  const record = (await readJsonFile(join(dir, CHECKPOINT_FILE), 'finetuner checkpoint')) as CheckpointRecord;
  if (record?.format !== CHECKPOINT_FORMAT) throw new Error(`${dir}: not a finetuner checkpoint (${CHECKPOINT_FILE} has no format '${CHECKPOINT_FORMAT}')`);
  if (record.version !== CHECKPOINT_VERSION) throw new Error(`${dir}: checkpoint version ${record.version}; this finetuner reads version ${CHECKPOINT_VERSION}`);
  await stat(join(dir, TRAINING_STATE_FILE));
  return record;
}

/**
 * The checkpoint `path` names: a checkpoint folder itself, or a checkpoint directory, whose newest
 * complete checkpoint is taken.
 */
export async function openCheckpoint(path: string): Promise<Checkpoint> {
  const dir = resolve(path);
  try {
    await stat(join(dir, CHECKPOINT_FILE));
    return { dir, record: await readCheckpoint(dir) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const problems: string[] = [];
  for (const folder of await stepFolders(dir)) {
    try {
      return { dir: join(dir, folder.name), record: await readCheckpoint(join(dir, folder.name)) };
    } catch (error) {
      problems.push(`${folder.name}: ${(error as Error).message}`);
    }
  }
  throw new Error(`resumeFrom ${path}: no checkpoint there (neither a ${CHECKPOINT_FILE} nor a complete step-N folder)${problems.length ? `: ${problems.join('; ')}` : ''}`);
}

/** Writes checkpoints of one run into `dir`, keeping the newest `keep`. */
export class CheckpointWriter {
  private cleaned = false;

  constructor(readonly dir: string, private readonly keep = Infinity) {}

  async write(model: EmbeddingModel, record: Omit<CheckpointRecord, 'format' | 'version' | 'createdAt'>, save: SaveOptions): Promise<string> {
    if (!this.cleaned) {
      await removeCheckpointLitter(this.dir);
      this.cleaned = true;
    }
    const target = join(this.dir, `step-${record.position.globalStep}`);
    const staged = await stageOutputDir(target, { option: 'checkpointDir' });
    try {
      await model.writeStaged(staged, save);
      await model.nativeModel.saveTrainingState(join(staged.staging, TRAINING_STATE_FILE));
      const full: CheckpointRecord = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, ...record, createdAt: new Date().toISOString() };
      await writeFileAtomic(join(staged.staging, CHECKPOINT_FILE), `${JSON.stringify(full, null, 2)}\n`);
      await staged.commit();
    } catch (error) {
      await staged.abort();
      throw error;
    }
    for (const old of (await stepFolders(this.dir)).slice(this.keep)) {
      await rm(join(this.dir, old.name), { recursive: true, force: true });
    }
    return target;
  }
}
