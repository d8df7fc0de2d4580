#!/usr/bin/env node
// Compares the two Hugging Face tokenizer libraries on npm for lib/text/tokenizer.ts:
//   `tokenizers`               napi-rs binding of the Rust library (prebuilt .node files in the tarball)
//   `@huggingface/tokenizers`  pure JavaScript (the tokenizer of transformers.js)
// on a BERT WordPiece tokenizer.json built from WordNet glosses (examples/tokenizers/wordpiece.ts), cased and
// uncased: (a) exactness, the ids of both on a few thousand glosses plus hard cases (accents, Chinese,
// emoji, control characters, long texts), with and without truncation; (b) speed, texts per second to
// encode 10,000 glosses (best of 5).
//
// Needs the tools' TypeScript build (npm run build:tools: dist-tools/) and both libraries installed:
//   npm install --no-save tokenizers   # the one not in package.json (64 MB of prebuilt binaries)
//   node scripts/bench-tokenizers.mjs [--dist-tools DIR]
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const distArg = process.argv.indexOf('--dist-tools');
const dist = resolve(distArg > 0 ? process.argv[distArg + 1] : new URL('../dist-tools', import.meta.url).pathname);
const { writeBertTokenizer } = await import(pathToFileURL(join(dist, 'examples/tokenizers/wordpiece.js')).href);
const { readWordnetPairs } = await import(pathToFileURL(join(dist, 'examples/data/wordnet.js')).href);
const { TextTokenizer } = await import(pathToFileURL(join(dist, 'lib/text/tokenizer.js')).href);
const rust = await import('tokenizers');
const js = await import('@huggingface/tokenizers');

const pairs = await readWordnetPairs({ pos: ['noun', 'verb', 'adj', 'adv'], seed: 7, minGlossWords: 1, skipSelfReference: false });
const glosses = pairs.map((p) => p.query);
const vocabTexts = glosses.slice(0, 20000).concat(pairs.slice(0, 20000).map((p) => p.document));

const hard = [
  'Café au lait, naïve résumé — Ångström’s “façade”!',
  'CAFÉ NAÏVE Résumé ÀÉÎÕÜ ñ ç ß ø æ œ',
  '我爱自然语言处理 and 中文 mixed with English',
  '日本語のテキスト 한국어 텍스트',
  'emoji 🙂 dog 🐕 family 👨‍👩‍👧 flag 🇫🇷 heart ❤️',
  'tabs\tand\nnewlines\r\nand   many    spaces',
  'control\u0000chars\u0007here\u200bzero\u200dwidth\ufeffbom',
  "McDonald's iPhone eBay O'Neill x-ray e.g. i.e. U.S.A.",
  'numbers 3.14159 1,000,000 42nd 2024-01-01 #hashtag @user $100 50% a+b=c',
  'Greek αβγ Δ Cyrillic Привет мир Arabic مرحبا Hebrew שלום Thai สวัสดี',
  'combining e\u0301 vs é, Å vs A\u030a, ﬁ ligature, Ⅻ roman, ² superscript',
  'a'.repeat(150) + ' word longer than max_input_chars_per_word',
  '((([[[{{{<<<>>>}}}]]])))...!!!???;;;:::---___***',
  '   leading and trailing spaces   ',
  'x',
  '[CLS] [SEP] [MASK] [PAD] [UNK] literal special tokens',
  glosses.slice(0, 40).join(' '),
  glosses.slice(100, 400).join('; '),
];

const dir = await mkdtemp(join(tmpdir(), 'bench-tokenizers-'));
const report = [];
try {
  for (const lowercase of [true, false]) {
    const file = join(dir, `tokenizer-${lowercase ? 'uncased' : 'cased'}.json`);
    const vocab = await writeBertTokenizer(file, vocabTexts, { vocabSize: 6000, lowercase });
    const r = rust.Tokenizer.fromFile(file);
    const j = new js.Tokenizer(JSON.parse(readFileSync(file, 'utf8')), {});
    const sep = vocab.indexOf('[SEP]');

    // (a) exactness
    const sample = glosses.slice(0, 4000).concat(hard, hard.map((t) => t.toUpperCase()));
    const rIds = (await r.encodeBatch(sample)).map((e) => e.getIds());
    let mismatches = 0;
    const examples = [];
    sample.forEach((t, i) => {
      const a = rIds[i];
      const b = j.encode(t).ids;
      if (a.length !== b.length || a.some((x, k) => x !== b[k])) {
        mismatches++;
        if (examples.length < 5) examples.push({ text: t.slice(0, 80), rust: r.idToToken ? a.slice(0, 20).map((x) => r.idToToken(x)) : a, js: b.slice(0, 20).map((x) => j.id_to_token(x)) });
      }
    });
    // Truncated to 32 tokens: the Rust library's truncation vs the JS ids cut by hand, [SEP] kept last.
    r.setTruncation(32);
    const rTrunc = (await r.encodeBatch(sample)).map((e) => e.getIds());
    r.disableTruncation();
    let truncMismatches = 0;
    sample.forEach((t, i) => {
      let b = j.encode(t).ids;
      if (b.length > 32) b = [...b.slice(0, 31), sep];
      const a = rTrunc[i];
      if (a.length !== b.length || a.some((x, k) => x !== b[k])) truncMismatches++;
    });
    const unk = rIds.flat().filter((x) => x === 1).length / rIds.flat().length;

    // (b) speed on 10,000 glosses, best of 5
    const texts = glosses.slice(4000, 14000);
    const best = async (f) => {
      let t = Infinity;
      for (let k = 0; k < 5; k++) {
        const t0 = performance.now();
        await f();
        t = Math.min(t, performance.now() - t0);
      }
      return Math.round(texts.length / (t / 1000));
    };
    const rustBatch = await best(() => r.encodeBatch(texts));
    const rustBatch256 = await best(async () => {
      for (let k = 0; k < texts.length; k += 256) {
        const enc = await r.encodeBatch(texts.slice(k, k + 256));
        for (const e of enc) e.getIds(), e.getAttentionMask(), e.getTypeIds();
      }
    });
    const rustOne = await best(async () => {
      for (const t of texts) await r.encode(t);
    });
    const jsOne = await best(async () => {
      for (const t of texts) j.encode(t, { return_token_type_ids: true });
    });
    const ours = await TextTokenizer.fromFile(file, { maxLength: 512 });
    const oursBatch256 = await best(async () => {
      for (let k = 0; k < texts.length; k += 256) ours.encodeBatch(texts.slice(k, k + 256));
    });
    report.push({
      tokenizer: lowercase ? 'uncased' : 'cased',
      vocab: vocab.length,
      texts: sample.length,
      idMismatches: mismatches,
      truncatedIdMismatches: truncMismatches,
      unkShare: unk.toFixed(4),
      'rust encodeBatch(10k) texts/s': rustBatch,
      'rust encodeBatch(256)+getIds texts/s': rustBatch256,
      'rust encode() one by one texts/s': rustOne,
      'js encode() texts/s': jsOne,
      'TextTokenizer.encodeBatch(256) texts/s': oursBatch256,
    });
    if (examples.length) console.log(JSON.stringify(examples, null, 1));
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} CPUs (${(await import('node:os')).cpus()[0]?.model})`);
console.table(report);
