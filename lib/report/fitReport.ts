// What fit() records for report.html while it runs: every step's loss and learning rate (from the
// progress events it already emits), the rows of each epoch's batches (from the training task), the
// evaluation before training, and at the end the history; then it renders the report into the staged
// output folder, so report.html is swapped in with the model it describes. Kept apart from the loop:
// fit() wraps its progress callback and its task, and calls write() before saving.
import type { KeptModel } from '../callbacks/callback.js';
import { metricsByName, type EvaluationResult } from '../evaluate.js';
import type { EpochRecord, FitProgress } from '../fit.js';
import type { TrainingTask } from '../trainingTasks.js';
import { writeTrainingReport, type ReportEpoch, type ReportStep } from './trainingReport.js';

export interface FitReportEnd {
  /** The training record saved in finetuner.json (loss, its options, resolved settings). */
  config: Record<string, unknown>;
  history: readonly EpochRecord[];
  /** The model's evaluation before the first epoch (with evalData). */
  before?: EvaluationResult;
  /** With BestModelCheckpoint: the epoch kept ("after" is its evaluation). */
  kept?: KeptModel;
  /** With WiSE-FT: alpha and the evaluation of the interpolated model ("after"). */
  wiseFt?: { alpha: number; eval?: EvaluationResult };
}

export interface FitReportRun {
  /** The model's name, e.g. "bert-base-cased". */
  model: string;
  task: string;
  /** Adjustments fit made (shown above the charts); read when the report is written. */
  warnings: readonly string[];
  /** A resumed run: where it started (its step curves start after the checkpoint's steps). */
  resumed?: { dir: string; globalStep: number };
}

export class FitReportRecorder {
  private readonly startedAt = new Date();
  private readonly started = performance.now();
  private readonly steps: ReportStep[] = [];
  /** Rows in the batches of each epoch, by 0-based epoch. */
  private readonly rows = new Map<number, number>();

  constructor(private readonly run: FitReportRun) {}

  /** `forward` with every training step recorded on the way. */
  progress(forward: ((event: FitProgress) => void) | undefined): (event: FitProgress) => void {
    return (event) => {
      if (event.phase === 'train') {
        this.steps.push({ step: (this.run.resumed?.globalStep ?? 0) + this.steps.length + 1, epoch: event.epoch + 1, loss: event.loss, learningRate: event.learningRate });
      }
      forward?.(event);
    };
  }

  /** `task`, counting the rows of the batches each epoch is cut into (the report's examples/s). */
  watch(task: TrainingTask): TrainingTask {
    return {
      ...task,
      batches: (epoch) => {
        const batches = task.batches(epoch);
        this.rows.set(epoch, batches.reduce((sum, batch) => sum + batch.length, 0));
        return batches;
      },
    };
  }

  /** Renders report.html into `dir` and resolves to its path there. */
  async write(dir: string, end: FitReportEnd): Promise<string> {
    const epochs: ReportEpoch[] = end.history.map((record) => ({
      epoch: record.epoch + 1,
      loss: record.loss,
      steps: record.steps,
      seconds: record.seconds,
      items: this.rows.get(record.epoch) ?? 0,
      ...(record.eval ? { metrics: metricsByName(record.eval) } : {}),
    }));
    const { kept, wiseFt } = end;
    // The saved model's evaluation: WiSE-FT's interpolated one, the kept epoch's, or the last epoch's.
    const after = wiseFt?.eval ?? (kept ? end.history.find((r) => r.epoch === kept.epoch) : end.history.at(-1))?.eval;
    const notes = [...this.run.warnings];
    if (this.run.resumed) notes.push(`resumed from the checkpoint ${this.run.resumed.dir} at step ${this.run.resumed.globalStep}: the step curves start there`);
    if (wiseFt) notes.push(`WiSE-FT: weights interpolated with alpha ${wiseFt.alpha}; 'after' scores the interpolated model`);
    return writeTrainingReport(dir, {
      model: this.run.model,
      task: this.run.task,
      startedAt: this.startedAt,
      seconds: (performance.now() - this.started) / 1000,
      config: end.config,
      steps: this.steps,
      epochs,
      ...(end.before ? { before: metricsByName(end.before) } : {}),
      ...(after ? { after: metricsByName(after) } : {}),
      ...(kept ? { kept: { epoch: kept.epoch + 1, monitor: kept.monitor, value: kept.value } } : {}),
      notes,
    });
  }
}
