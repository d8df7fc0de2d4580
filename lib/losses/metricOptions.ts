// Options shared by the pytorch-metric-learning losses (native/losses/metric_loss.h): the distance, the
// miner and the miner's own options, written once here and listed in each such loss's descriptor.
import type { ChoiceLossOption, LossOptionSpec } from './descriptor.js';
import { MINER_NAMES } from './miners.js';

/** PML's distances: 'l2' is its default LpDistance (Euclidean, rows normalised first), 'cosine' its CosineSimilarity. */
export function distanceOption(fallback: 'l2' | 'cosine') {
  return {
    name: 'distance',
    kind: 'choice',
    default: fallback,
    choices: ['l2', 'cosine'],
    description: "l2 (Euclidean distance of the normalised rows, PML's LpDistance) or cosine (similarity)",
  } as const satisfies ChoiceLossOption;
}

/** ContrastiveLoss's and LiftedStructureLoss's margins (the same names, defaults and meaning in PML). */
export const PAIR_MARGIN_OPTIONS = [
  { name: 'posMargin', kind: 'number', default: 0, description: 'positive pairs pay beyond it (l2; below it for cosine)' },
  { name: 'negMargin', kind: 'number', default: 1, description: 'negative pairs pay within it (l2; above it for cosine)' },
] as const satisfies readonly LossOptionSpec[];

export const MINER_CHOICES = ['none', ...MINER_NAMES] as const;

export function minerOption<D extends (typeof MINER_CHOICES)[number]>(fallback: D) {
  return {
    name: 'miner',
    kind: 'choice',
    default: fallback,
    choices: MINER_CHOICES,
    description: `the pairs or triplets the loss is taken on: none (all of the batch's) or a miner (README, "Miners")`,
  } as const satisfies ChoiceLossOption;
}

/**
 * The PML miners' options: only passed when given (each miner reads its own, with the defaults shown;
 * an option the chosen miner does not read is refused by the native side).
 */
export const MINER_OPTIONS = [
  { name: 'minerMargin', kind: 'number', default: 0.2, min: 0, onlyWhenGiven: true, description: 'TripletMarginMiner: the margin' },
  {
    name: 'minerType', kind: 'choice', default: 'all', choices: ['all', 'hard', 'semihard', 'easy'], onlyWhenGiven: true,
    description: 'TripletMarginMiner: which triplets',
  },
  {
    name: 'minerPosStrategy', kind: 'choice', default: 'easy', choices: ['easy', 'semihard', 'hard', 'all'], onlyWhenGiven: true,
    description: 'BatchEasyHardMiner: the positive per anchor',
  },
  {
    name: 'minerNegStrategy', kind: 'choice', default: 'semihard', choices: ['easy', 'semihard', 'hard', 'all'], onlyWhenGiven: true,
    description: 'BatchEasyHardMiner: the negative per anchor',
  },
  { name: 'minerEpsilon', kind: 'number', default: 0.1, min: 0, onlyWhenGiven: true, description: 'MultiSimilarityMiner: epsilon' },
  { name: 'minerPosMargin', kind: 'number', default: 0.2, onlyWhenGiven: true, description: 'PairMarginMiner: positive pairs beyond it' },
  { name: 'minerNegMargin', kind: 'number', default: 0.8, onlyWhenGiven: true, description: 'PairMarginMiner: negative pairs within it' },
  {
    name: 'minerDistance', kind: 'choice', default: 'l2', choices: ['l2', 'cosine'], onlyWhenGiven: true,
    description: 'the PML miner\'s distance (default l2; cosine for MultiSimilarityMiner)',
  },
] as const satisfies readonly LossOptionSpec[];
