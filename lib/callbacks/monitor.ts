// A monitored quantity ('loss', 'eval.map', ...) and what counts as better: shared by BestModelCheckpoint
// and EarlyStopping so both read metrics and compare them the same way.
import type { TrainingContext } from './callback.js';

export type MonitorMode = 'max' | 'min';

export interface MonitorOptions {
  /**
   * A name of TrainingContext.metrics: 'loss', 'eval.map', 'eval.recallAtK', ... (case-insensitive).
   * Default: 'eval.map' when there is an evaluation (evalData), else 'loss'.
   */
  monitor?: string;
  /** Default 'min' for a loss, 'max' for anything else. */
  mode?: MonitorMode;
}

export class Monitor {
  private readonly given: MonitorOptions;

  constructor(options: MonitorOptions, private readonly owner: string) {
    if (options.monitor !== undefined && (typeof options.monitor !== 'string' || options.monitor === '')) {
      throw new TypeError(`${owner}: option 'monitor' must be a metric name such as 'loss' or 'eval.map'`);
    }
    if (options.mode !== undefined && options.mode !== 'max' && options.mode !== 'min') {
      throw new TypeError(`${owner}: option 'mode' must be 'max' or 'min', got ${JSON.stringify(options.mode)}`);
    }
    this.given = { ...options };
  }

  /** The metric's name (once known: a default is settled by the first read). */
  get name(): string {
    return this.given.monitor ?? 'eval.map';
  }

  get mode(): MonitorMode {
    return this.given.mode ?? (/loss$/i.test(this.name) ? 'min' : 'max');
  }

  /** The monitored value now; an error listing what there is when the name is unknown. */
  read(context: TrainingContext): number {
    this.given.monitor ??= Object.hasOwn(context.metrics, 'eval.map') ? 'eval.map' : 'loss';
    const wanted = this.name.toLowerCase();
    const key = Object.keys(context.metrics).find((name) => name.toLowerCase() === wanted);
    if (key === undefined) {
      const known = Object.keys(context.metrics).join(', ');
      throw new Error(`${this.owner}: no metric '${this.name}' (there is ${known}; eval.* metrics need evalData or an EvaluationCallback)`);
    }
    return context.metrics[key]!;
  }

  /** Whether `value` beats `best` by more than `minDelta`. */
  improves(value: number, best: number | undefined, minDelta = 0): boolean {
    if (best === undefined) return true;
    return this.mode === 'max' ? value - minDelta > best : value + minDelta < best;
  }
}
