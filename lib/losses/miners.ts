// The miners a loss takes as its `miner` option: one native file each (native/miners/), listed here once
// for fit(), the CLI and its help. The first three are the original finetuner's (on raw L2 distances,
// reading the loss's `margin`); the others are pytorch-metric-learning 2.8's, with its definitions and
// defaults, reading the `miner...` options (metricOptions.ts).

export const MINERS = [
  { name: 'batch-hard', summary: 'per anchor, the farthest positive and the nearest negative (raw L2)' },
  { name: 'semi-hard', summary: 'per positive pair, the nearest negative that is farther than the positive but within the margin (raw L2)' },
  { name: 'all', summary: 'every triplet that violates the margin (raw L2)' },
  { name: 'TripletMarginMiner', summary: 'PML: the triplets within minerMargin: all, hard, semihard (minerType), or easy ones beyond it' },
  { name: 'BatchHardMiner', summary: 'PML: per anchor the hardest positive and hardest negative, as triplets' },
  { name: 'BatchEasyHardMiner', summary: 'PML: per anchor a positive and a negative by minerPosStrategy / minerNegStrategy, as pairs' },
  { name: 'MultiSimilarityMiner', summary: 'PML: pairs harder than the anchor\'s hardest pair of the other kind by minerEpsilon' },
  { name: 'PairMarginMiner', summary: 'PML: positive pairs beyond minerPosMargin and negative pairs within minerNegMargin' },
] as const;

export type Miner = (typeof MINERS)[number]['name'];

export const MINER_NAMES: readonly Miner[] = MINERS.map((miner) => miner.name);
