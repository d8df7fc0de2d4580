// One entry point for the labelled data fit() and evaluate() accept: a CSV file path or an array.
import { normalizeLabelledData, readLabelledCsv, type LabelledData } from './data/csv.js';
import type { ImageInput } from './data/images.js';

export type LabelledInput = string | ReadonlyArray<{ image: ImageInput; label: string | number }>;

export async function readLabelledInput(input: LabelledInput, option: string): Promise<LabelledData<ImageInput>> {
  if (typeof input === 'string') return readLabelledCsv(input);
  if (Array.isArray(input)) return normalizeLabelledData(input, { source: option });
  throw new TypeError(`option '${option}' must be a CSV file path or an array of { image, label }`);
}
