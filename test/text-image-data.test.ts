import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPTION_TEMPLATES, captionFor, classPrompt, FASHION_CAPTIONS, withArticle } from '../examples/data/fashionCaptions.js';
import { FASHION_MNIST_CLASSES } from '../examples/data/fashionMnist.js';
import type { RawImage } from '../lib/data/images.js';
import { normalizeTextImageData, parseTextImageCsv, readTextImageCsv, readTextImageData } from '../lib/data/textImageCsv.js';
import { random, tempDir } from './helpers/fixtures.js';

let dir: string;
let cleanup: () => void;
beforeAll(() => {
  ({ dir, cleanup } = tempDir('text-image-data'));
  mkdirSync(join(dir, 'img'));
  // Only existence is checked here, so empty files will do.
  for (const f of ['1.png', '2.jpg', '3.webp', 'noext']) writeFileSync(join(dir, 'img', f), '');
});
afterAll(() => cleanup());

function csv(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const raw = (v: number): RawImage => ({ pixels: new Uint8Array(4).fill(v), width: 2, height: 2, channels: 1 });

describe('readTextImageCsv', () => {
  it('reads text,image rows, resolving image paths against the CSV directory, with groups of identical texts', async () => {
    const file = csv('ok.csv', 'caption,image\na red dress,img/1.png\n"a coat, grey",img/2.jpg\na red dress,img/3.webp\na bag,img/noext\n');
    const data = await readTextImageCsv(file);
    expect(data.pairs).toEqual([
      { text: 'a red dress', image: join(dir, 'img', '1.png'), source: `${file} row 2` },
      { text: 'a coat, grey', image: join(dir, 'img', '2.jpg'), source: `${file} row 3` },
      { text: 'a red dress', image: join(dir, 'img', '3.webp'), source: `${file} row 4` },
      { text: 'a bag', image: join(dir, 'img', 'noext'), source: `${file} row 5` }, // no extension, but the file exists
    ]);
    expect(Array.from(data.groups)).toEqual([0, 1, 0, 2]);
    expect(data.groupCount).toBe(3);
  });

  it('picks the columns by header name, else text first and image second, or by option', () => {
    const swappedHeader = parseTextImageCsv('filename,sentence\nimg/1.png,a dress\nimg/2.jpg,a coat\n', join(dir, 'h.csv'));
    expect(swappedHeader.pairs.map((p) => p.text)).toEqual(['a dress', 'a coat']);
    const unnamed = parseTextImageCsv('a,b\na dress,img/1.png\na coat,img/2.jpg\n', join(dir, 'u.csv'));
    expect(unnamed.pairs.map((p) => p.image)).toEqual([join(dir, 'img', '1.png'), join(dir, 'img', '2.jpg')]);
    const three = parseTextImageCsv('id,pic,words\n1,img/1.png,a dress\n2,img/2.jpg,a coat\n', join(dir, 't.csv'), { textColumn: 'words', imageColumn: 'pic' });
    expect(three.pairs.map((p) => p.text)).toEqual(['a dress', 'a coat']);
    const tabs = parseTextImageCsv('text\timage\na dress\timg/1.png\na coat\timg/2.jpg\n', join(dir, 'tab.csv'), { delimiter: '\t' });
    expect(tabs.pairs).toHaveLength(2);
    expect(() => parseTextImageCsv('text,image\na,img/1.png\nb,img/2.png\n', 'x.csv', { textColumn: 'caption', imageColumn: 'image' })).toThrow(
      /x\.csv: no column named "caption" \(option `textColumn`\); the header is text, image/,
    );
  });

  it('rejects rows that are not (text, image) pairs, naming the file and the 1-based row', () => {
    const f = join(dir, 'bad.csv');
    expect(() => parseTextImageCsv('text,image\na dress,img/1.png\na coat\n', f)).toThrow(
      /bad\.csv row 3: has 1 column; a text-image CSV expects 2 columns \(text, image\) per row/,
    );
    expect(() => parseTextImageCsv('text,image\na dress,img/1.png\na coat, grey,img/2.jpg\n', f)).toThrow(
      /bad\.csv row 3: has 3 columns; a text-image CSV expects 2 columns \(text, image\).*quote a caption/,
    );
    expect(() => parseTextImageCsv('text,image,label\na,img/1.png,x\n', f)).toThrow(
      /bad\.csv row 1: the header has 3 columns \(text, image, label\); a text-image CSV expects 2 columns \(text, image\)/,
    );
    expect(() => parseTextImageCsv('text\na dress\n', f)).toThrow(/row 1: the header has 1 column .*expects 2 columns/);
    expect(() => parseTextImageCsv('', f)).toThrow(/the file is empty/);
    expect(() => parseTextImageCsv('text,image\n', f)).toThrow(/header row but no data rows/);
  });

  it('rejects empty texts and images', () => {
    const f = join(dir, 'empty.csv');
    expect(() => parseTextImageCsv('caption,image\na dress,img/1.png\n  ,img/2.jpg\n', f)).toThrow(/empty\.csv row 3: empty text \(column "caption"\)/);
    expect(() => parseTextImageCsv('caption,image\na dress,\n', f)).toThrow(/empty\.csv row 2: missing image path \(column "image"\)/);
  });

  it('reports image paths in the text column and captions in the image column as swapped columns', () => {
    const f = join(dir, 'swap.csv');
    expect(() => parseTextImageCsv('a,b\nimg/1.png,a red dress\n', f)).toThrow(
      /swap\.csv row 2: the text column \("a"\) holds an image path \("img\/1\.png"\) where a caption is expected and the image column \("b"\) holds "a red dress"; are the columns swapped\?/,
    );
    expect(() => parseTextImageCsv('text,image\nphoto.JPEG,img/1.png\n', f)).toThrow(/row 2: the text column \("text"\) holds an image path \("photo\.JPEG"\)/);
    expect(() => parseTextImageCsv('text,image\na dress,img/1.png\na coat,a grey coat\n', f)).toThrow(
      /swap\.csv row 3: the image column \("image"\) holds "a grey coat", which is neither an image file name \(\.jpg, .*\) nor an existing file .*are the columns swapped\?/,
    );
    expect(() => parseTextImageCsv('a dress,img/1.png\na coat,img/2.jpg\n', f)).toThrow(/row 1: the first row holds "img\/1\.png", an image file name, where the header is expected/);
    expect(() => parseTextImageCsv('text,image\na,https://x.org/1.png\n', f)).toThrow(/row 2: https:\/\/x\.org\/1\.png is a URL/);
  });

  it('reports a missing image file with its row when reading the file', async () => {
    const file = csv('missing.csv', 'text,image\na dress,img/1.png\na coat,img/nope.png\na bag,img/gone.jpg\n');
    await expect(readTextImageCsv(file)).rejects.toThrow(
      `${file} row 3: image file not found: ${join(dir, 'img', 'nope.png')} (2 of the 3 image files are missing; the first is shown)`,
    );
    await expect(readTextImageCsv(join(dir, 'nope.csv'))).rejects.toThrow(/Cannot read CSV .*nope\.csv: file not found/);
  });

  it('needs at least 2 pairs and 2 different texts', () => {
    expect(() => parseTextImageCsv('text,image\na dress,img/1.png\n', 'one.csv')).toThrow(/one\.csv: only 1 text-image pair; contrastive training needs at least 2/);
    expect(() => parseTextImageCsv('text,image\na dress,img/1.png\na dress,img/2.jpg\n', 'same.csv')).toThrow(
      /same\.csv: all 2 pairs have the same text "a dress"; contrastive training needs at least 2 different texts/,
    );
  });
});

describe('normalizeTextImageData', () => {
  it('takes parallel arrays or { text, image } objects, with groups of identical texts', () => {
    const fromArrays = normalizeTextImageData({ texts: [' a dress ', 'a coat', 'a dress'], images: ['x.png', raw(1), Buffer.from([1])] });
    expect(fromArrays.pairs.map((p) => p.text)).toEqual(['a dress', 'a coat', 'a dress']);
    expect(Array.from(fromArrays.groups)).toEqual([0, 1, 0]);
    expect(fromArrays.groupCount).toBe(2);
    const fromObjects = normalizeTextImageData([{ text: 'a', image: raw(1) }, { text: 'b', image: raw(2) }]);
    expect(fromObjects.pairs[1]!.image).toEqual(raw(2));
    expect(Array.from(fromObjects.groups)).toEqual([0, 1]);
  });

  it('validates lengths, texts and images, naming the entry', () => {
    expect(() => normalizeTextImageData({ texts: ['a', 'b'], images: [raw(1)] }, 'trainData')).toThrow(
      /trainData: texts has 2 entries but images has 1; each text is paired with the image at the same index/,
    );
    expect(() => normalizeTextImageData({ texts: ['a', '  '], images: [raw(1), raw(2)] }, { source: 'd' })).toThrow(/d\.texts\[1\]: empty text/);
    expect(() => normalizeTextImageData({ texts: ['a', 3 as unknown as string], images: [raw(1), raw(2)] })).toThrow(/data\.texts\[1\]: text must be a string \(got number\)/);
    expect(() => normalizeTextImageData({ texts: ['a', 'b'], images: [raw(1), { pixels: new Uint8Array(3), width: 2, height: 2, channels: 1 }] })).toThrow(
      /data\.images\[1\]: raw image has 3 bytes/,
    );
    expect(() => normalizeTextImageData([{ text: 'a', image: raw(1) }, { text: 'b' } as never])).toThrow(/data\[1\]: missing image/);
    expect(() => normalizeTextImageData([{ text: 'a', image: raw(1) }, 'b' as never])).toThrow(/data\[1\]: expected \{ text, image \}, got string/);
    expect(() => normalizeTextImageData([{ text: 'a', image: raw(1) }])).toThrow(/only 1 text-image pair/);
    expect(() => normalizeTextImageData([{ text: 'cat.png', image: 'a cat' }, { text: 'b', image: raw(1) }])).toThrow(/data\[0\]: .*are text and image swapped\?/);
    expect(() => normalizeTextImageData({ texts: 'a', images: [] } as never)).toThrow(/data\.texts must be an array/);
  });

  it('readTextImageData reads a CSV path or validates arrays', async () => {
    const file = csv('entry.csv', 'text,image\na dress,img/1.png\na coat,img/2.jpg\n');
    expect((await readTextImageData(file, 'trainData')).pairs).toHaveLength(2);
    await expect(readTextImageData([{ text: 'a', image: raw(1) }], 'evalData')).rejects.toThrow(/evalData: only 1 text-image pair/);
    await expect(readTextImageData(42 as never, 'trainData')).rejects.toThrow(/option 'trainData' must be a CSV file path/);
  });
});

describe('Fashion-MNIST captions', () => {
  it('has synonyms for each class in FASHION_MNIST_CLASSES order', () => {
    expect(Object.keys(FASHION_CAPTIONS)).toHaveLength(10);
    const first = (name: string) => FASHION_CAPTIONS[FASHION_MNIST_CLASSES.indexOf(name)]![0];
    expect(first('T-shirt/top')).toBe('t-shirt');
    expect(first('Sneaker')).toBe('sneaker');
    expect(first('Bag')).toBe('bag');
    expect(first('Ankle boot')).toBe('ankle boot');
    expect(FASHION_CAPTIONS[2]).toEqual(['pullover', 'sweater', 'jumper']);
  });

  it('builds grammatical captions and class prompts', () => {
    expect(classPrompt(0)).toBe('a photo of a t-shirt');
    expect(classPrompt(1)).toBe('a photo of trousers');
    expect(classPrompt(9)).toBe('a photo of an ankle boot');
    expect(withArticle('overcoat')).toBe('an overcoat');
    expect(withArticle('jeans')).toBe('jeans');
    const rand = random(3);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const c = captionFor(4, rand);
      expect(c).toMatch(/^((a|an) .* of )?(a coat|a jacket|an overcoat)$/);
      seen.add(c);
    }
    expect(seen.size).toBe(3 * CAPTION_TEMPLATES.length);
    // Deterministic for a seeded generator.
    const a = random(5);
    const b = random(5);
    expect(Array.from({ length: 20 }, (_, i) => captionFor(i % 10, a))).toEqual(Array.from({ length: 20 }, (_, i) => captionFor(i % 10, b)));
    expect(() => captionFor(10)).toThrow(/label must be an integer from 0 to 9/);
    expect(() => classPrompt(1.5)).toThrow(/label/);
  });
});
