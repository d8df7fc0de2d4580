// Learning-rate schedules, evaluated in JS once per step and pushed to the native optimizer (which
// keeps its moment estimates across changes).

export type Scheduler = 'constant' | 'linear' | 'cosine';

export interface ScheduleOptions {
  scheduler: Scheduler;
  learningRate: number;
  totalSteps: number;
  /** Steps of linear ramp from near zero up to learningRate before the schedule starts. */
  warmupSteps: number;
}

/** Learning rate for 0-based `step`. Linear and cosine decay to zero at totalSteps. */
export function learningRateAt(options: ScheduleOptions, step: number): number {
  const { scheduler, learningRate, totalSteps, warmupSteps } = options;
  if (step < warmupSteps) return (learningRate * (step + 1)) / (warmupSteps + 1);
  if (scheduler === 'constant') return learningRate;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  // Never exactly zero: the optimizer refuses a zero rate, and the last step would be wasted anyway.
  const floor = learningRate * 1e-3;
  if (scheduler === 'linear') return Math.max(floor, learningRate * (1 - progress));
  return Math.max(floor, learningRate * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
