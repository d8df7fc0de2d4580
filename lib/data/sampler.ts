// The class sampler of the original finetuner (finetuner.tuner.dataset.samplers.ClassSampler): every batch
// holds batchSize / numItemsPerClass distinct classes with numItemsPerClass items each, so the triplet
// miner always finds positives and negatives in a batch.
//
// How an epoch is drawn, deterministically from (seed, epoch):
// - each class keeps a shuffled queue of its items; a class gives its next numItemsPerClass items and
//   reshuffles its queue when it runs out, so a class with fewer items than numItemsPerClass (or one
//   drawn more often than its size) repeats items: sampling with replacement within the class;
// - an epoch has ceil(items / batchSize) batches; the classes of a batch are drawn without replacement,
//   weighted by the number of item groups each class still has to give this epoch, so over an epoch every
//   item is seen about once, and large classes are drawn proportionally more often.

export interface ClassSamplerOptions {
  batchSize: number;
  numItemsPerClass: number;
  /** Seed of the shuffles; the same seed, labels and epoch give the same batches. Default 0. */
  seed?: number;
}

/** mulberry32: small, fast, good enough for shuffles, and identical on every platform. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle(values: number[], random: () => number): void {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = values[i]!;
    values[i] = values[j]!;
    values[j] = tmp;
  }
}

function checkCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`\`${name}\` must be a positive integer (got ${value})`);
}

export class ClassSampler {
  readonly batchSize: number;
  readonly numItemsPerClass: number;
  readonly classesPerBatch: number;
  readonly batchesPerEpoch: number;
  readonly seed: number;
  /** Item indices of each class, in first-seen order of the labels. */
  private readonly groups: number[][];

  constructor(labels: ArrayLike<string | number>, options: ClassSamplerOptions) {
    const { batchSize, numItemsPerClass } = options;
    checkCount('batchSize', batchSize);
    checkCount('numItemsPerClass', numItemsPerClass);
    if (batchSize < numItemsPerClass) {
      throw new Error(`\`batchSize\` (${batchSize}) must be at least \`numItemsPerClass\` (${numItemsPerClass})`);
    }
    if (batchSize % numItemsPerClass !== 0) {
      throw new Error(`\`batchSize\` (${batchSize}) must be a multiple of \`numItemsPerClass\` (${numItemsPerClass})`);
    }
    const byLabel = new Map<string | number, number[]>();
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i]!;
      let group = byLabel.get(label);
      if (!group) byLabel.set(label, (group = []));
      group.push(i);
    }
    this.groups = [...byLabel.values()];
    this.batchSize = batchSize;
    this.numItemsPerClass = numItemsPerClass;
    this.classesPerBatch = batchSize / numItemsPerClass;
    if (this.groups.length < this.classesPerBatch) {
      throw new Error(
        `\`batchSize\` / \`numItemsPerClass\` = ${batchSize} / ${numItemsPerClass} = ${this.classesPerBatch} classes ` +
          `per batch, but the data has only ${this.groups.length} class(es); lower \`batchSize\` or raise \`numItemsPerClass\``,
      );
    }
    this.batchesPerEpoch = Math.ceil(labels.length / batchSize);
    this.seed = options.seed ?? 0;
    if (!Number.isInteger(this.seed)) throw new Error(`\`seed\` must be an integer (got ${this.seed})`);
  }

  get numClasses(): number {
    return this.groups.length;
  }

  /** The batches of epoch `epoch` (0-based): batchesPerEpoch arrays of batchSize item indices. */
  epoch(epoch: number): number[][] {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`epoch must be a non-negative integer (got ${epoch})`);
    // Mix seed and epoch so consecutive epochs (and seeds) do not give related streams.
    const random = mulberry32(Math.imul(this.seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(epoch + 1, 0xc2b2ae35));
    const k = this.numItemsPerClass;
    const queues = this.groups.map((g) => {
      const q = [...g];
      shuffle(q, random);
      return q;
    });
    const positions = new Array<number>(queues.length).fill(0);
    // Groups of k items each class has left to give this epoch.
    const remaining = this.groups.map((g) => Math.ceil(g.length / k));

    const take = (c: number, batch: number[]): void => {
      const q = queues[c]!;
      for (let n = 0; n < k; n++) {
        if (positions[c] === q.length) {
          shuffle(q, random);
          positions[c] = 0;
        }
        batch.push(q[positions[c]!++]!);
      }
      remaining[c] = Math.max(0, remaining[c]! - 1);
    };

    const batches: number[][] = [];
    const chosen = new Uint8Array(queues.length);
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      const batch: number[] = [];
      chosen.fill(0);
      for (let n = 0; n < this.classesPerBatch; n++) {
        const c = this.drawClass(remaining, chosen, random);
        chosen[c] = 1;
        take(c, batch);
      }
      batches.push(batch);
    }
    return batches;
  }

  /** A class not yet in the batch, weighted by `remaining`; uniform once every candidate has given all its items. */
  private drawClass(remaining: number[], chosen: Uint8Array, random: () => number): number {
    let total = 0;
    let candidates = 0;
    for (let c = 0; c < remaining.length; c++) {
      if (!chosen[c]) {
        total += remaining[c]!;
        candidates++;
      }
    }
    const uniform = total === 0;
    let r = random() * (uniform ? candidates : total);
    let last = -1;
    for (let c = 0; c < remaining.length; c++) {
      if (chosen[c]) continue;
      const w = uniform ? 1 : remaining[c]!;
      if (w === 0) continue;
      last = c;
      if (r < w) return c;
      r -= w;
    }
    return last; // floating-point rounding left r just above the total
  }
}

/** Convenience: the batches of one epoch. */
export function classBatches(labels: ArrayLike<string | number>, options: ClassSamplerOptions & { epoch?: number }): number[][] {
  return new ClassSampler(labels, options).epoch(options.epoch ?? 0);
}
