// Scores retrieval on held-out data during training: after every epoch (default) or every N steps. fit's
// evalData option is this callback with its defaults; its results land in the epoch record (`eval`, or
// `metrics[name]` for another name) and in TrainingContext.metrics as '<name>.<metric>'.
import { evaluate, type EvaluateOptions, type EvaluationResult } from '../evaluate.js';
import { modalityNamed } from '../modalities/index.js';
import type { EmbeddingModel } from '../model.js';
import type { TrainingCallback, TrainingContext } from './callback.js';
import { checkNumber, numberOr } from '../numericOption.js';
import { OPTION_RANGES } from '../optionRanges.js';

export interface EvaluationCallbackOptions {
  /** As evaluate()'s queries: labelled items, text pairs or text-image pairs (CSV path or array). */
  queries: EvaluateOptions['queries'];
  /** As evaluate()'s index; default: the queries search each other. */
  index?: EvaluateOptions['index'];
  /** k of the @k metrics. Default 10. */
  k?: number;
  /** Evaluate every N steps as well as (with everyEpoch) or instead of after each epoch. */
  everySteps?: number;
  /** Evaluate after each epoch. Default true unless everySteps is given. */
  everyEpoch?: boolean;
  /** Prefix of its metrics ('eval.map'). Default 'eval'. */
  name?: string;
}

/** One evaluation: when it ran and what it measured. */
export interface EvaluationRecord {
  epoch: number;
  globalStep: number;
  result: EvaluationResult;
}

/** '<prefix>.<metric>' for every number of the result, nested results included (eval.imageToText.map). */
export function flattenMetrics(prefix: string, result: object, into: Record<string, number> = {}): Record<string, number> {
  for (const [key, value] of Object.entries(result)) {
    if (typeof value === 'number') into[`${prefix}.${key}`] = value;
    else if (value !== null && typeof value === 'object') flattenMetrics(`${prefix}.${key}`, value, into);
  }
  return into;
}

export class EvaluationCallback implements TrainingCallback {
  readonly name: string;
  readonly k: number;
  readonly everySteps: number | undefined;
  readonly everyEpoch: boolean;
  /** Every evaluation of the run so far, in order. */
  readonly results: EvaluationRecord[] = [];
  private readonly options: EvaluationCallbackOptions;
  private queries: EvaluateOptions['queries'] | undefined;

  constructor(options: EvaluationCallbackOptions) {
    if (typeof options !== 'object' || options === null || options.queries === undefined) {
      throw new TypeError("EvaluationCallback needs { queries } (a CSV path or an array, as evaluate's)");
    }
    this.options = options;
    this.name = options.name ?? 'eval';
    this.k = numberOr(options.k, 'EvaluationCallback.k', OPTION_RANGES.k, 10);
    if (options.everySteps !== undefined) checkNumber(options.everySteps, 'EvaluationCallback.everySteps', OPTION_RANGES.everySteps);
    this.everySteps = options.everySteps;
    this.everyEpoch = options.everyEpoch ?? options.everySteps === undefined;
  }

  /** Reads the data once, before the first step: bad data fails before training, not after an epoch. */
  async prepare(model: EmbeddingModel, what = 'evalData'): Promise<void> {
    if (this.queries !== undefined) return;
    const modality = modalityNamed(model.modality);
    this.queries = modality.evaluationInput(await modality.readData(this.options.queries, what));
  }

  async onTrainBegin(context: TrainingContext): Promise<void> {
    await this.prepare(context.model);
  }

  async onBatchEnd(context: TrainingContext): Promise<void> {
    if (this.everySteps !== undefined && context.globalStep % this.everySteps === 0) await this.run(context);
  }

  async onEpochEnd(context: TrainingContext): Promise<void> {
    if (!this.everyEpoch) return;
    const result = await this.run(context);
    const record = context.record!;
    if (this.name === 'eval') record.eval = result;
    else (record.metrics ??= {})[this.name] = result;
  }

  /** Scores the model now; used by WiSE-FT after interpolating too. */
  async evaluateNow(model: EmbeddingModel, onProgress?: (done: number, total: number) => void): Promise<EvaluationResult> {
    await this.prepare(model);
    return evaluate(model, { queries: this.queries!, index: this.options.index, k: this.k, onProgress });
  }

  private async run(context: TrainingContext): Promise<EvaluationResult> {
    const result = await this.evaluateNow(context.model, (done, total) =>
      context.onProgress?.({ phase: 'eval', epoch: context.epoch, epochs: context.epochs, done, total }),
    );
    this.results.push({ epoch: context.epoch, globalStep: context.globalStep, result });
    flattenMetrics(this.name, result, context.metrics);
    return result;
  }

  state(): unknown {
    return { results: this.results };
  }

  restore(state: unknown): void {
    const saved = (state as { results?: EvaluationRecord[] } | undefined)?.results;
    if (Array.isArray(saved)) this.results.splice(0, this.results.length, ...saved);
  }
}
