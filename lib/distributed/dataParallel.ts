// Data parallel training: every rank draws the same global batches (the samplers are deterministic from
// the seed, with batchSize x worldSize rows each), and prepares only its own contiguous slice of each;
// the training step gathers the slices back into the global batch for the loss (native/distributed/).
import type { TrainingTask } from '../trainingTasks.js';

/** Rows [start, end) of a global batch of `rows` that rank `rank` of `worldSize` takes. */
export function rankSlice(rows: number, rank: number, worldSize: number): { start: number; end: number } {
  return { start: Math.floor((rows * rank) / worldSize), end: Math.floor((rows * (rank + 1)) / worldSize) };
}

/**
 * The task of one rank: the global batches (a batch with fewer rows than ranks, which would leave a rank
 * without rows, is skipped on every rank alike), each prepared for this rank's slice.
 */
export function shardTask(task: TrainingTask, rank: number, worldSize: number): TrainingTask {
  if (worldSize === 1) return task;
  const batches = (epoch: number) => task.batches(epoch).filter((batch) => batch.length >= worldSize);
  const first = batches(0);
  if (first.length === 0) throw new Error(`trainData: no batch has a row for each of the ${worldSize} ranks; use a larger batchSize or fewer processes`);
  return {
    batchesPerEpoch: first.length,
    batches: (epoch) => (epoch === 0 ? first : batches(epoch)),
    prepare: (indices) => {
      const { start, end } = rankSlice(indices.length, rank, worldSize);
      return task.prepare(indices.slice(start, end));
    },
  };
}
