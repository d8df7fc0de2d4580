// Captions for Fashion-MNIST images, for the text-to-image (CLIP) demo and tests: each training image gets
// a caption made of a random synonym of its class in a random template ("a black and white photo of a
// tee"), so the text tower learns that "tee", "t-shirt" and "top" mean the same thing; evaluation queries
// each class with one fixed prompt, classPrompt(label) ("a photo of a t-shirt").
//
// Synonyms are keyed by class name and laid out in FASHION_MNIST_CLASSES' order, so a caption always
// names the class the label index means there.

import { FASHION_MNIST_CLASSES } from './fashionMnist.js';

const SYNONYMS_BY_NAME: Readonly<Record<string, readonly string[]>> = {
  'T-shirt/top': ['t-shirt', 'tee', 'top'],
  Trouser: ['trousers', 'pants', 'jeans'],
  Pullover: ['pullover', 'sweater', 'jumper'],
  Dress: ['dress', 'gown', 'frock'],
  Coat: ['coat', 'jacket', 'overcoat'],
  Sandal: ['sandal', 'flip-flop', 'strappy sandal'],
  Shirt: ['shirt', 'blouse', 'button-down shirt'],
  Sneaker: ['sneaker', 'trainer', 'running shoe'],
  Bag: ['bag', 'handbag', 'purse'],
  'Ankle boot': ['ankle boot', 'boot', 'bootie'],
};

/** Nouns used without an article ("a photo of jeans"). */
const PLURAL = new Set(['trousers', 'pants', 'jeans']);

/** Synonyms of each class (index 0-9 as in FASHION_MNIST_CLASSES), the first one the class's plain name. */
export const FASHION_CAPTIONS: Readonly<Record<number, readonly string[]>> = Object.fromEntries(
  FASHION_MNIST_CLASSES.map((name, i) => {
    const synonyms = SYNONYMS_BY_NAME[name];
    if (synonyms === undefined) throw new Error(`fashionCaptions: no synonyms for the Fashion-MNIST class ${JSON.stringify(name)}`);
    return [i, synonyms];
  }),
);

/** Caption templates; `{x}` is replaced by a synonym with its article ("a tee", "an overcoat", "jeans"). */
export const CAPTION_TEMPLATES: readonly string[] = [
  'a photo of {x}',
  'a black and white photo of {x}',
  'a picture of {x}',
  'a low-resolution photo of {x}',
  'a product photo of {x}',
  'an image of {x}',
  'a grayscale image of {x}',
  '{x}',
];

/** The noun with its indefinite article ("a tee", "an overcoat"), plural nouns without one ("jeans"). */
export function withArticle(noun: string): string {
  if (PLURAL.has(noun)) return noun;
  return `${/^[aeiou]/i.test(noun) ? 'an' : 'a'} ${noun}`;
}

function synonymsOf(label: number): readonly string[] {
  const synonyms = Number.isInteger(label) ? FASHION_CAPTIONS[label] : undefined;
  if (synonyms === undefined) throw new Error(`Fashion-MNIST label must be an integer from 0 to ${FASHION_MNIST_CLASSES.length - 1} (got ${label})`);
  return synonyms;
}

function pick<T>(items: readonly T[], rand: () => number): T {
  return items[Math.min(items.length - 1, Math.floor(rand() * items.length))]!;
}

/** A random caption of class `label`: a random synonym in a random template. `rand` returns [0, 1). */
export function captionFor(label: number, rand: () => number = Math.random): string {
  const synonyms = synonymsOf(label);
  return pick(CAPTION_TEMPLATES, rand).replace('{x}', withArticle(pick(synonyms, rand)));
}

/** The evaluation query of class `label`: "a photo of" its first synonym ("a photo of a t-shirt", "a photo of trousers"). */
export function classPrompt(label: number): string {
  return `a photo of ${withArticle(synonymsOf(label)[0]!)}`;
}
