// Losses and miners as units: the one list of loss descriptors (lib/losses/) is what fit(), the CLI and
// its --help accept, and it names exactly the losses and miners the native registries hold.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fit } from '../lib/index.js';
import { tempDir } from './helpers/fixtures.js';

const work = tempDir('losses');

describe('fit and the losses it offers', () => {
  it('accepts every loss of the Loss type, CLIPLoss included (it was refused as not one of three)', async () => {
    const missing = join(work.dir, 'no-model');
    for (const loss of ['TripletMarginLoss', 'MultipleNegativesRankingLoss', 'CosineSimilarityLoss', 'CLIPLoss'] as const) {
      // The loss passes the option checks; what fails is the missing model directory.
      await expect(fit({ model: missing, trainData: 'train.csv', loss })).rejects.toThrow(/finetuner\.json not found/);
    }
  });
});
