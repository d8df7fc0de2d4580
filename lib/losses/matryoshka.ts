// MatryoshkaLoss wraps whichever loss trains: with matryoshkaDims given (any loss), the native side
// scores the embeddings truncated to each dim (and L2-normalised) with that loss and sums the weighted
// values (native/losses/matryoshka_loss.cc).
import type { LossWrapperDescriptor } from './descriptor.js';

export const matryoshka = {
  name: 'MatryoshkaLoss',
  summary: 'any loss on the embeddings truncated to each of matryoshkaDims (re-normalised), weighted and summed: the leading dims embed on their own',
  options: [
    { name: 'matryoshkaDims', kind: 'number-list', min: 1, integer: true, description: 'MatryoshkaLoss: the widths to train, e.g. 64,32,16 (off when left out)' },
    { name: 'matryoshkaWeights', kind: 'number-list', min: 0, minExclusive: true, description: 'MatryoshkaLoss: one weight per dim (default: all 1)' },
  ],
  check(values) {
    const dims = values.matryoshkaDims;
    const weights = values.matryoshkaWeights;
    if (weights !== undefined && dims === undefined) throw new TypeError("option 'matryoshkaWeights' needs 'matryoshkaDims'");
    if (dims !== undefined && new Set(dims).size !== dims.length) throw new TypeError(`option 'matryoshkaDims' must not repeat a dim, got ${JSON.stringify(dims)}`);
    if (dims !== undefined && weights !== undefined && weights.length !== dims.length) {
      throw new TypeError(`option 'matryoshkaWeights' needs one weight per dim of 'matryoshkaDims' (${dims.length}), got ${weights.length}`);
    }
  },
} as const satisfies LossWrapperDescriptor;
