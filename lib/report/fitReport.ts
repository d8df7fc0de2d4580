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
  /** The evaluation of the model that is saved: after the last epoch, the kept one, or after WiSE-FT. */
  after?: EvaluationResult;
  /** With BestModelCheckpoint: the epoch kept. */
  kept?: KeptModel;
  /** Lines shown above the charts: adjustments, WiSE-FT. */
  notes: readonly string[];
}

export class FitReportRecorder {
  private readonly startedAt = new Date();
  private readonly started = performance.now();
  private readonly steps: ReportStep[] = [];
  /** Rows in the batches of each epoch, by 0-based epoch. */
  private readonly rows = new Map<number, number>();

  /** `stepsBefore`: steps a resumed run had done before this process (its curves start after them). */
  constructor(
    private readonly model: string,
    private readonly task: string,
    private readonly stepsBefore = 0,
  ) {}

  /** `forward` with every training step recorded on the way. */
  progress(forward: ((event: FitProgress) => void) | undefined): (event: FitProgress) => void {
    return (event) => {
      if (event.phase === 'train') {
        this.steps.push({ step: this.stepsBefore + this.steps.length + 1, epoch: event.epoch + 1, loss: event.loss, learningRate: event.learningRate });
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
    return writeTrainingReport(dir, {
      model: this.model,
      task: this.task,
      startedAt: this.startedAt,
      seconds: (performance.now() - this.started) / 1000,
      config: end.config,
      steps: this.steps,
      epochs,
      ...(end.before ? { before: metricsByName(end.before) } : {}),
      ...(end.after ? { after: metricsByName(end.after) } : {}),
      ...(end.kept ? { kept: { epoch: end.kept.epoch + 1, monitor: end.kept.monitor, value: end.kept.value } } : {}),
      notes: [...end.notes],
    });
  }
}
