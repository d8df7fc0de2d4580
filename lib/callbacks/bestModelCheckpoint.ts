// Keeps the best model rather than the last: after each epoch, when the monitored metric improves, the
// model is written to fit's outputDir (atomically, lib/outputDir.ts). At the end outputDir holds the
// best epoch's model, its finetuner.json records which epoch was kept, and fit returns that model.
import type { KeptModel, TrainingCallback, TrainingContext } from './callback.js';
import { Monitor, type MonitorOptions } from './monitor.js';

export type BestModelCheckpointOptions = MonitorOptions;

export class BestModelCheckpoint implements TrainingCallback {
  readonly name = 'bestModelCheckpoint';
  readonly monitor: Monitor;
  /** The model kept so far, if any. */
  kept: KeptModel | undefined;

  /** monitor default: 'eval.map' with evalData, else 'loss' (the epoch's mean training loss, mode 'min'). */
  constructor(options: BestModelCheckpointOptions = {}) {
    this.monitor = new Monitor(options, 'BestModelCheckpoint');
  }

  async onEpochEnd(context: TrainingContext): Promise<void> {
    const value = this.monitor.read(context);
    if (!this.monitor.improves(value, this.kept?.value)) return;
    const kept = { epoch: context.epoch, globalStep: context.globalStep, monitor: this.monitor.name, value };
    await context.saveModel(kept);
    this.kept = kept;
  }

  state(): unknown {
    return { kept: this.kept };
  }

  restore(state: unknown): void {
    this.kept = (state as { kept?: KeptModel } | undefined)?.kept;
  }
}
