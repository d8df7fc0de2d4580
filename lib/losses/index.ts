// Every loss fit() can train with, listed once: fit(), lib/trainingTasks.ts, the CLI and its --help, and
// the `Loss` type all read this list, and test/losses.test.ts checks that it names exactly the losses
// and miners the native registries hold. Adding a loss: its native file (native/losses/), a descriptor
// file here and its line below, a test, and a README row (docs/DESIGN.md, "Adding a loss").
import { anglELoss } from './anglELoss.js';
import { arcFaceLoss } from './arcFaceLoss.js';
import { cachedMultipleNegativesRankingLoss } from './cachedMultipleNegativesRankingLoss.js';
import { circleLoss } from './circleLoss.js';
import { clipLoss } from './clipLoss.js';
import { contrastiveLoss } from './contrastiveLoss.js';
import { cosFaceLoss } from './cosFaceLoss.js';
import { coSENTLoss } from './coSENTLoss.js';
import { cosineSimilarityLoss } from './cosineSimilarityLoss.js';
import {
  checkLossOption,
  checkNumberList,
  type LossData,
  type LossDescriptor,
  type LossOptionSpec,
  type LossOptionValues,
  type LossWrapperDescriptor,
} from './descriptor.js';
import { liftedStructureLoss } from './liftedStructureLoss.js';
import { marginLoss } from './marginLoss.js';
import { marginMSELoss } from './marginMSELoss.js';
import { matryoshka } from './matryoshka.js';
import { multipleNegativesRankingLoss } from './multipleNegativesRankingLoss.js';
import { multipleNegativesSymmetricRankingLoss } from './multipleNegativesSymmetricRankingLoss.js';
import { multiSimilarityLoss } from './multiSimilarityLoss.js';
import { ntxentLoss } from './ntxentLoss.js';
import { proxyAnchorLoss } from './proxyAnchorLoss.js';
import { supConLoss } from './supConLoss.js';
import { tripletMarginLoss } from './tripletMarginLoss.js';

export { MINERS, MINER_NAMES, type Miner } from './miners.js';
export {
  checkLossOption,
  checkNumberList,
  LOSS_DATA_NAMES,
  type LossData,
  type LossDescriptor,
  type LossOptionSpec,
  type LossOptionValues,
  type LossWrapperDescriptor,
  type NumberListLossOption,
} from './descriptor.js';

/** In the order --help and the README list them; the first loss listed for a kind of data is its default. */
export const LOSSES = [
  tripletMarginLoss,
  contrastiveLoss,
  ntxentLoss,
  supConLoss,
  multiSimilarityLoss,
  circleLoss,
  liftedStructureLoss,
  marginLoss,
  arcFaceLoss,
  cosFaceLoss,
  proxyAnchorLoss,
  multipleNegativesRankingLoss,
  multipleNegativesSymmetricRankingLoss,
  cachedMultipleNegativesRankingLoss,
  cosineSimilarityLoss,
  coSENTLoss,
  anglELoss,
  marginMSELoss,
  clipLoss,
] as const;

/** Losses that wrap whichever loss trains, when their options are given (fit() options of every loss). */
export const LOSS_WRAPPERS = [matryoshka] as const satisfies readonly LossWrapperDescriptor[];

export type Loss = (typeof LOSSES)[number]['name'];

export const LOSS_NAMES: readonly Loss[] = LOSSES.map((loss) => loss.name);

type AnyLossOption = (typeof LOSSES)[number]['options'][number] | (typeof LOSS_WRAPPERS)[number]['options'][number];
type OptionValue<O> = O extends { kind: 'number' }
  ? number
  : O extends { kind: 'number-list' }
    ? readonly number[]
    : O extends { choices: readonly (infer C)[] }
      ? C
      : never;

/** The options of every loss, as fit() takes them; each loss reads its own (defaults in the README). */
export type LossOptions = { [O in AnyLossOption as O['name']]?: OptionValue<O> };

/** Each option name once, with the losses that take it and each one's default (for the CLI's flags and messages). */
export function lossOptionOwners(): Map<string, { option: LossOptionSpec; losses: Loss[]; defaults: (number | string)[] }> {
  const owners = new Map<string, { option: LossOptionSpec; losses: Loss[]; defaults: (number | string)[] }>();
  for (const loss of LOSSES) {
    for (const option of loss.options as readonly LossOptionSpec[]) {
      const entry = owners.get(option.name) ?? { option, losses: [], defaults: [] };
      entry.losses.push(loss.name);
      entry.defaults.push(option.default);
      owners.set(option.name, entry);
    }
  }
  return owners;
}

export function lossDescriptor(name: Loss): LossDescriptor {
  return LOSSES.find((loss) => loss.name === name)!;
}

/** The losses that train on `data`, its default first. */
export function lossesFor(data: LossData): LossDescriptor[] {
  return LOSSES.filter((loss) => loss.data === data);
}

/**
 * The options `loss` crosses to native code with: every one it takes, given or defaulted, checked, and
 * a wrapper's (matryoshkaDims) when given. An option of another loss that was given is an error (it
 * would otherwise be silently ignored).
 */
export function resolveLossOptions(loss: LossDescriptor, options: object): LossOptionValues {
  const given = options as Readonly<Record<string, unknown>>;
  for (const [name, { losses }] of lossOptionOwners()) {
    if (given[name] !== undefined && !loss.options.some((option) => option.name === name)) {
      throw new TypeError(`option '${name}' is for ${losses.join(' and ')}; this training uses ${loss.name}`);
    }
  }
  const specs = loss.options as readonly LossOptionSpec[];
  const values: LossOptionValues = Object.fromEntries(
    specs
      .filter((option) => !option.onlyWhenGiven || given[option.name] !== undefined)
      .map((option) => [option.name, checkLossOption(option, given[option.name])]),
  );
  for (const wrapper of LOSS_WRAPPERS as readonly LossWrapperDescriptor[]) {
    const wrapperValues: Record<string, readonly number[]> = {};
    for (const option of wrapper.options) {
      if (given[option.name] !== undefined) wrapperValues[option.name] = checkNumberList(option, given[option.name]);
    }
    wrapper.check(wrapperValues);
    Object.assign(values, wrapperValues);
  }
  return values;
}
