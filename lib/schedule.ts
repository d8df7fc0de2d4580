// Learning-rate schedules, evaluated in JS once per step and pushed to the native optimizer (which
// keeps its moment estimates across changes). The shapes are those of Hugging Face transformers'
// get_scheduler (and so sentence-transformers'): constant, constant_with_warmup, linear, cosine,
// cosine_with_hard_restarts, polynomial. One difference: warm-up ramps to (step + 1) / (warmup + 1)
// instead of step / warmup, and decays stop at 1/1000 of the rate, because the native optimizer refuses
// a rate of zero (a zero-rate step would be wasted anyway).

/** Every schedule by name, with what it does: fit(), the CLI and its --help read this list. */
export const SCHEDULERS = {
  constant: 'the learning rate throughout (after any warm-up)',
  'constant-with-warmup': 'alias of constant, for those coming from transformers (give warmupSteps or warmupRatio)',
  linear: 'linear decay to zero at the last step',
  cosine: 'half a cosine from the rate down to zero',
  'cosine-with-restarts': 'cosine decay to zero, restarted `restarts` times (hard restarts)',
  polynomial: 'polynomial decay of degree `power` down to `endLearningRate`',
} as const;

export type Scheduler = keyof typeof SCHEDULERS;
export const SCHEDULER_NAMES = Object.keys(SCHEDULERS) as Scheduler[];

export interface ScheduleOptions {
  scheduler: Scheduler;
  learningRate: number;
  totalSteps: number;
  /** Steps of linear ramp from near zero up to learningRate before the schedule starts. */
  warmupSteps: number;
  /** cosine-with-restarts: how many cosine cycles over the steps after warm-up. Default 1. */
  restarts?: number;
  /** polynomial: the degree. Default 1 (linear down to endLearningRate). */
  power?: number;
  /** polynomial: the rate at the last step. Default 1e-7, as in transformers. */
  endLearningRate?: number;
}

/**
 * Warm-up steps from `warmupSteps` or `warmupRatio` (a fraction of all steps, as sentence-transformers'
 * `warmup_ratio`); at most one may be given.
 */
export function warmupStepsOf(options: { warmupSteps?: number; warmupRatio?: number }, totalSteps: number): number {
  if (options.warmupSteps !== undefined && options.warmupRatio !== undefined) {
    throw new TypeError("options 'warmupSteps' and 'warmupRatio' both set: give one");
  }
  if (options.warmupRatio !== undefined) return Math.round(options.warmupRatio * totalSteps);
  return options.warmupSteps ?? 0;
}

/** Learning rate for 0-based `step`. */
export function learningRateAt(options: ScheduleOptions, step: number): number {
  const { scheduler, learningRate, totalSteps, warmupSteps } = options;
  if (step < warmupSteps) return (learningRate * (step + 1)) / (warmupSteps + 1);
  if (scheduler === 'constant' || scheduler === 'constant-with-warmup') return learningRate;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  // Never exactly zero: the optimizer refuses a zero rate, and the last step would be wasted anyway.
  const floor = learningRate * 1e-3;
  switch (scheduler) {
    case 'linear':
      return Math.max(floor, learningRate * (1 - progress));
    case 'cosine':
      return Math.max(floor, learningRate * 0.5 * (1 + Math.cos(Math.PI * progress)));
    case 'cosine-with-restarts': {
      const cycles = options.restarts ?? 1;
      if (progress >= 1) return floor;
      return Math.max(floor, learningRate * 0.5 * (1 + Math.cos(Math.PI * ((cycles * progress) % 1))));
    }
    case 'polynomial': {
      // endLearningRate > 0 (checked with the options), so this never reaches zero either.
      const end = Math.min(options.endLearningRate ?? 1e-7, learningRate);
      return (learningRate - end) * (1 - progress) ** (options.power ?? 1) + end;
    }
  }
}
