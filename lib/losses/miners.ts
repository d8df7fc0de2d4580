// The miners a triplet loss takes as its `miner` option: one native file each (native/miners/), listed
// here once for fit(), the CLI and its help.

export const MINERS = [
  { name: 'batch-hard', summary: 'per anchor, the farthest positive and the nearest negative' },
  { name: 'semi-hard', summary: 'per positive pair, the nearest negative that is farther than the positive but within the margin' },
  { name: 'all', summary: 'every triplet that violates the margin' },
] as const;

export type Miner = (typeof MINERS)[number]['name'];

export const MINER_NAMES: readonly Miner[] = MINERS.map((miner) => miner.name);
