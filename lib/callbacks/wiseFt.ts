// WiSE-FT (Wortsman et al. 2022) as a callback: at the end of training the weights become
// (1 - alpha) * pretrained + alpha * fine-tuned, then (with an evaluation) the result is scored. fit's
// wiseFt option is this callback. fit keeps the pretrained weights when a WiseFt callback is present.
import type { RetrievalMetrics } from '../evaluate.js';
import type { TrainingCallback, TrainingContext } from './callback.js';
import type { EvaluationCallback } from './evaluationCallback.js';

export interface WiseFtOptions {
  /** 1 keeps the fine-tuned model, 0 the pretrained one; 0.5 is the usual choice. */
  alpha: number;
  /** Scores the interpolated model with this evaluation (fit passes its evalData's). */
  evaluation?: EvaluationCallback;
}

export class WiseFt implements TrainingCallback {
  readonly name = 'wiseFt';
  readonly alpha: number;
  private readonly evaluation: EvaluationCallback | undefined;
  /** After training: alpha and the evaluation of the interpolated model. */
  result: { alpha: number; eval?: RetrievalMetrics } | undefined;

  constructor(options: WiseFtOptions) {
    const alpha = options?.alpha;
    if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) throw new TypeError(`option 'wiseFt' must be a number in [0, 1], got ${JSON.stringify(alpha)}`);
    this.alpha = alpha;
    this.evaluation = options.evaluation;
  }

  async onTrainEnd(context: TrainingContext): Promise<void> {
    await context.model.nativeModel.interpolateWeights(this.alpha);
    this.result = { alpha: this.alpha };
    if (this.evaluation !== undefined) this.result.eval = await this.evaluation.evaluateNow(context.model);
  }
}
