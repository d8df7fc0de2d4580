// The models a server serves, by name, each with its encoder. Loaded once at start; `reload()` (SIGHUP)
// loads every folder again, swaps the new models in, and retires the old ones: a request holds the entry
// it started with (acquire/release), so it finishes on the old model, whose encoder drains and which is
// disposed only when the last such request is done. No request sees a closed encoder.

import { basename, resolve } from 'node:path';
import type { EmbeddingModel } from '../model.js';
import { modalityNamed } from '../modalities/index.js';
import type { Encoder, InputKind } from './encoder.js';
import { HttpError } from './errors.js';

export interface ServedModel {
  readonly name: string;
  readonly dir: string;
  readonly model: EmbeddingModel;
  readonly encoder: Encoder;
  /** Input kinds the model embeds: ['image'], ['text'] or, for CLIP, ['text', 'image']. */
  readonly kinds: readonly InputKind[];
  /** Widths it was trained at with MatryoshkaLoss (from finetuner.json's training record); empty if none. */
  readonly matryoshkaDims: readonly number[];
  /** When it was loaded (seconds since the epoch), for /v1/models' `created`. */
  readonly created: number;
}

interface Entry {
  served: ServedModel;
  active: number;
  retired?: () => void;
}

/** `models` as name -> folder: a string is one folder named after its base name. */
export function modelFolders(models: string | Record<string, string>): Map<string, string> {
  if (typeof models === 'string') return new Map([[basename(resolve(models)), models]]);
  if (typeof models !== 'object' || models === null || Object.keys(models).length === 0) {
    throw new TypeError("option 'models' must be a model folder or an object of name -> folder with at least one entry");
  }
  const folders = new Map<string, string>();
  for (const [name, dir] of Object.entries(models)) {
    if (!/^[\w.:/@+-]{1,128}$/.test(name)) throw new TypeError(`option 'models': the name ${JSON.stringify(name)} must be 1-128 letters, digits or . : / @ + - _`);
    if (typeof dir !== 'string' || dir === '') throw new TypeError(`option 'models.${name}' must be a model folder`);
    folders.set(name, dir);
  }
  return folders;
}

/** The widths of a MatryoshkaLoss training record (`training.matryoshkaDims`), or none. */
export function matryoshkaDimsOf(model: EmbeddingModel): number[] {
  const training = model.metadata.training as { matryoshkaDims?: unknown } | undefined;
  const dims = training?.matryoshkaDims;
  if (!Array.isArray(dims)) return [];
  return dims.filter((d): d is number => Number.isInteger(d) && d > 0 && d <= model.outputDim).sort((a, b) => b - a);
}

export class ModelSet {
  private entries = new Map<string, Entry>();
  private reloading?: Promise<void>;

  private constructor(
    private readonly folders: Map<string, string>,
    private readonly load: (dir: string) => Promise<EmbeddingModel>,
    private readonly makeEncoder: (model: EmbeddingModel, name: string) => Encoder,
  ) {}

  static async open(
    folders: Map<string, string>, load: (dir: string) => Promise<EmbeddingModel>, makeEncoder: (model: EmbeddingModel, name: string) => Encoder,
  ): Promise<ModelSet> {
    const set = new ModelSet(folders, load, makeEncoder);
    set.entries = await set.loadAll();
    return set;
  }

  /** The models now served, in the order given. */
  list(): ServedModel[] {
    return [...this.entries.values()].map((e) => e.served);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * The model `name` names (undefined: the only one), held until `release` is called. Unknown: 404 naming
   * it and what is served.
   */
  acquire(name: unknown, param = 'model'): { served: ServedModel; release: () => void } {
    let entry: Entry | undefined;
    if (name === undefined || name === null) {
      if (this.entries.size !== 1) throw new HttpError(400, `${param} is required: this server serves ${this.describe()}`, { param, code: 'model_required' });
      entry = this.entries.values().next().value;
    } else if (typeof name !== 'string') {
      throw new HttpError(400, `${param} must be a string, got ${typeof name}`, { param });
    } else {
      entry = this.entries.get(name);
      if (!entry) throw new HttpError(404, `the model ${JSON.stringify(name)} does not exist: this server serves ${this.describe()}`, { param, code: 'model_not_found' });
    }
    const held = entry!;
    held.active++;
    let released = false;
    return {
      served: held.served,
      release: () => {
        if (released) return;
        released = true;
        if (--held.active === 0) held.retired?.();
      },
    };
  }

  private describe(): string {
    return this.names().map((n) => JSON.stringify(n)).join(', ');
  }

  /**
   * Loads every folder again and swaps the new models in; the old ones finish their requests, then are
   * closed and disposed. A failed load keeps the old models (and rejects); one reload at a time.
   */
  reload(): Promise<void> {
    const run = (this.reloading ?? Promise.resolve()).then(async () => {
      const fresh = await this.loadAll();
      const old = this.entries;
      this.entries = fresh;
      await Promise.all([...old.values()].map((entry) => this.retire(entry)));
    });
    this.reloading = run.catch(() => undefined);
    return run;
  }

  /** Closes every encoder (finishing what was accepted) and disposes the models. */
  async close(): Promise<void> {
    await this.reloading;
    await Promise.all([...this.entries.values()].map((entry) => this.retire(entry)));
  }

  private async retire(entry: Entry): Promise<void> {
    if (entry.active > 0) await new Promise<void>((done) => { entry.retired = done; });
    await entry.served.encoder.close();
    entry.served.model.dispose();
  }

  private async loadAll(): Promise<Map<string, Entry>> {
    const loaded = new Map<string, Entry>();
    try {
      for (const [name, dir] of this.folders) {
        let model: EmbeddingModel;
        try {
          model = await this.load(dir);
        } catch (error) {
          throw new Error(`model ${name} (${dir}): ${(error as Error).message}`);
        }
        const kinds = modalityNamed(model.modality).inputs.map((unit) => unit.kind);
        const served: ServedModel = {
          name, dir, model, kinds, encoder: this.makeEncoder(model, name), matryoshkaDims: matryoshkaDimsOf(model), created: Math.floor(Date.now() / 1000),
        };
        loaded.set(name, { served, active: 0 });
      }
    } catch (error) {
      for (const entry of loaded.values()) {
        await entry.served.encoder.close();
        entry.served.model.dispose();
      }
      throw error;
    }
    return loaded;
  }
}
