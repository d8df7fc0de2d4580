// Text-to-text exports (bert-base-cased, sentence-transformers/msmarco-distilbert-base-v3) through
// scripts/export_torchscript, with Debian's torch alone: our own BERT/DistilBERT definitions, our own
// safetensors reader. The exports are held to the published parameter counts
// (shared/reference/architectures.md); weights loaded from Hugging Face-layout folders are checked tensor by
// tensor and against a reference forward pass written here, independently, with plain torch ops.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/export.js';
import { isTextBackbone, readMetadata, validateMetadata, type BackboneMetadata, type TextBackboneMetadata } from '../lib/metadata.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(packageRoot(), 'scripts', 'export_torchscript');
const BERT = 'bert-base-cased';
const DISTILBERT = 'sentence-transformers/msmarco-distilbert-base-v3';

// From shared/reference/architectures.md.
const REFERENCE = {
  [BERT]: { withHead: 108_310_272, withoutHead: 107_719_680, vocab: 28_996, layers: 12, family: 'bert', lowercase: false },
  [DISTILBERT]: { withHead: 66_362_880, withoutHead: 66_362_880, vocab: 30_522, layers: 6, family: 'distilbert', lowercase: true },
} as const;
type TextName = keyof typeof REFERENCE;
const NAMES = Object.keys(REFERENCE) as TextName[];
const LAYOUT = {
  bert: {
    trunk: ['embeddings', 'encoder'],
    head: ['pooler'],
    layerPrefix: 'encoder.layer.',
    inputs: ['input_ids', 'attention_mask', 'token_type_ids'],
  },
  distilbert: { trunk: ['embeddings', 'transformer'], head: [], layerPrefix: 'transformer.layer.', inputs: ['input_ids', 'attention_mask'] },
};

const hasTransformers = spawnSync(PYTHON, ['-c', 'import transformers'], { encoding: 'utf8' }).status === 0;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'finetuner-export-text-test-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Runs the exporter's CLI directly. */
function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', HF_HOME: join(tmp, 'empty-hf-home'), ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lastErrorLine: r.stderr.trim().split('\n').pop() ?? '' };
}

/** Runs a Python snippet (argv[1:] = args) that prints one JSON value. */
function python<T>(code: string, args: string[] = []): T {
  const out = execFileSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
  return JSON.parse(out) as T;
}

const slug = (name: string) => name.replace(/\//g, '--');

// The reference forward passes: BERT and DistilBERT as plain functions of a state dict (canonical names,
// float32), written from the papers' / Hugging Face's equations with torch ops only. Masking here adds
// -1e9 to the scores of padding keys (the exporter's model uses masked_fill); either way they get no weight.
const REFERENCE_PY = `
import math, torch
import torch.nn.functional as F

def _attend(q, k, v, mask, heads):
    n, l, h = q.shape
    d = h // heads
    split = lambda t: t.reshape(n, l, heads, d).permute(0, 2, 1, 3)
    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(d)
    scores = scores + (1.0 - mask[:, None, None, :].float()) * -1e9
    return (scores.softmax(-1) @ split(v)).permute(0, 2, 1, 3).reshape(n, l, h)

def _gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))

def bert_reference(sd, cfg, ids, mask, types):
    h, eps = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-12)
    lin = lambda p, x: x @ sd[p + ".weight"].t() + sd[p + ".bias"]
    norm = lambda p, x: F.layer_norm(x, (h,), sd[p + ".weight"], sd[p + ".bias"], eps)
    l = ids.shape[1]
    x = (sd["embeddings.word_embeddings.weight"][ids] + sd["embeddings.position_embeddings.weight"][:l][None]
         + sd["embeddings.token_type_embeddings.weight"][types])
    x = norm("embeddings.LayerNorm", x)
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        a = _attend(lin(p + "attention.self.query", x), lin(p + "attention.self.key", x),
                    lin(p + "attention.self.value", x), mask, cfg["num_attention_heads"])
        x = norm(p + "attention.output.LayerNorm", lin(p + "attention.output.dense", a) + x)
        x = norm(p + "output.LayerNorm", lin(p + "output.dense", _gelu(lin(p + "intermediate.dense", x))) + x)
    return x

def distilbert_reference(sd, cfg, ids, mask):
    h = cfg["dim"]
    lin = lambda p, x: x @ sd[p + ".weight"].t() + sd[p + ".bias"]
    norm = lambda p, x: F.layer_norm(x, (h,), sd[p + ".weight"], sd[p + ".bias"], 1e-12)
    l = ids.shape[1]
    x = sd["embeddings.word_embeddings.weight"][ids] + sd["embeddings.position_embeddings.weight"][:l][None]
    x = norm("embeddings.LayerNorm", x)
    for i in range(cfg["n_layers"]):
        p = "transformer.layer.%d." % i
        a = _attend(lin(p + "attention.q_lin", x), lin(p + "attention.k_lin", x), lin(p + "attention.v_lin", x),
                    mask, cfg["n_heads"])
        x = norm(p + "sa_layer_norm", lin(p + "attention.out_lin", a) + x)
        x = norm(p + "output_layer_norm", lin(p + "ffn.lin2", _gelu(lin(p + "ffn.lin1", x))) + x)
    return x
`;

/** A small but real Hugging Face tokenizer.json (WordPiece, BERT normaliser). */
function writeTokenizer(file: string, words: string[], lowercase: boolean): number {
  const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const vocab: Record<string, number> = {};
  [...special, ...words].forEach((t, i) => (vocab[t] = i));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify(tokenizer));
  return special.length + words.length;
}

describe('full-size exports (random init): the published architectures, scripted', () => {
  interface Measured {
    withHead: number;
    pooler: number;
    children: string[];
    keys: string[];
    shapes: number[][];
    training: boolean;
    dropout: number[];
    layerNormEps: number[];
    gelu: string[];
    schema: string;
  }
  const results: Partial<Record<TextName, { r: ReturnType<typeof cli>; meta: BackboneMetadata; files: string[]; measured: Measured }>> = {};

  beforeAll(async () => {
    // One at a time, each deleted once measured: the BERT file alone is ~430 MB.
    for (const name of NAMES) {
      const dir = join(tmp, 'full', slug(name));
      const r = cli([name, '--out', dir, '--random-init']);
      if (r.status !== 0) throw new Error(`export of ${name} failed: ${r.stderr}`);
      const meta = await readMetadata(dir);
      const files = readdirSync(dir).sort();
      const measured = python<Measured>(
        `
import json, sys, torch
m = torch.jit.load(sys.argv[1] + "/model.pt")
shapes = []
for n in (5, 37):  # two lengths: a traced model would be fixed to one
    ids = torch.randint(0, 1000, (2, n))
    mask = torch.ones(2, n, dtype=torch.long)
    mask[1, 3:] = 0
    with torch.no_grad():
        y = m(ids, mask, torch.zeros_like(ids))
    assert y.dtype == torch.float32 and bool(torch.isfinite(y).all())
    shapes.append(list(y.shape))
mods = list(m.named_modules())
print(json.dumps({
    "withHead": sum(p.numel() for p in m.parameters()),
    "pooler": sum(p.numel() for n, p in m.named_parameters() if n.startswith("pooler.")),
    "children": [n for n, _ in m.named_children()],
    "keys": list(m.state_dict().keys()),
    "shapes": shapes, "training": m.training,
    "dropout": sorted({x.p for _, x in mods if x.original_name == "Dropout"}),
    "layerNormEps": sorted({x.eps for _, x in mods if x.original_name == "LayerNorm"}),
    "gelu": sorted({x.approximate for _, x in mods if x.original_name == "GELU"}),
    "schema": str(m.forward.schema),
}))
`,
        [dir],
      );
      results[name] = { r, meta, files, measured };
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(NAMES)('%s: finetuner.json follows the text schema with the published figures', (name) => {
    const { r, meta, files } = results[name]!;
    const ref = REFERENCE[name];
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, embeddingDim: 768 });
    expect(isTextBackbone(meta)).toBe(true);
    expect(meta).toMatchObject({
      format: 'finetuner-backbone',
      formatVersion: 1,
      name,
      task: 'text-to-text',
      architecture: 'transformer',
      family: ref.family,
      size: 'full',
      weights: 'random-init',
      embeddingDim: 768,
      trunk: LAYOUT[ref.family].trunk,
      head: LAYOUT[ref.family].head,
      pooling: 'mean',
      text: {
        tokenizer: null,
        maxLength: 512,
        vocabSize: ref.vocab,
        numLayers: ref.layers,
        layerPrefix: LAYOUT[ref.family].layerPrefix,
        inputs: LAYOUT[ref.family].inputs,
        lowercase: ref.lowercase,
        padTokenId: 0,
      },
      parameters: { withHead: ref.withHead, withoutHead: ref.withoutHead },
      model: 'model.pt',
    });
    expect(meta).not.toHaveProperty('preprocessing');
    expect(files).toEqual(['finetuner.json', 'model.pt']);
    expect(r.stderr).toContain('note: no tokenizer');
  });

  it.each(NAMES)('%s: model.pt has the published size and names, takes any length, in eval mode', (name) => {
    const m = results[name]!.measured;
    const ref = REFERENCE[name];
    const family = ref.family;
    expect(m.withHead).toBe(ref.withHead);
    expect(m.withHead - m.pooler).toBe(ref.withoutHead);
    expect(m.pooler).toBe(family === 'bert' ? 590_592 : 0);
    expect(m.children).toEqual([...LAYOUT[family].trunk, ...LAYOUT[family].head]);
    expect(m.shapes).toEqual([
      [2, 5, 768],
      [2, 37, 768],
    ]);
    expect(m.training).toBe(false);
    expect(m.dropout).toEqual([0.1]); // present for training, from the config
    expect(m.layerNormEps).toEqual([1e-12]);
    expect(m.gelu).toEqual(['none']); // erf GELU
    expect(m.schema).toMatch(/^forward\(\S+ self, Tensor input_ids, Tensor attention_mask, Tensor token_type_ids\) -> Tensor$/);
    const prefix = LAYOUT[family].layerPrefix;
    const names =
      family === 'bert'
        ? [
            'embeddings.word_embeddings.weight',
            'embeddings.position_embeddings.weight',
            'embeddings.token_type_embeddings.weight',
            'embeddings.LayerNorm.weight',
            `${prefix}11.attention.self.query.weight`,
            `${prefix}11.attention.output.dense.bias`,
            `${prefix}11.attention.output.LayerNorm.weight`,
            `${prefix}11.intermediate.dense.weight`,
            `${prefix}11.output.dense.weight`,
            `${prefix}11.output.LayerNorm.bias`,
            'pooler.dense.weight',
          ]
        : [
            'embeddings.word_embeddings.weight',
            'embeddings.position_embeddings.weight',
            'embeddings.LayerNorm.bias',
            `${prefix}5.attention.q_lin.weight`,
            `${prefix}5.attention.out_lin.bias`,
            `${prefix}5.sa_layer_norm.weight`,
            `${prefix}5.ffn.lin1.weight`,
            `${prefix}5.ffn.lin2.bias`,
            `${prefix}5.output_layer_norm.weight`,
          ];
    for (const key of names) expect(m.keys, key).toContain(key);
    expect(m.keys.some((k) => k.startsWith(`${prefix}${ref.layers}.`))).toBe(false);
  });
});

describe('tiny exports (random init) for tests', () => {
  let tokenizerFile: string;
  let vocabSize: number;
  const bertDir = () => join(tmp, 'tiny', 'bert');
  const distilDir = () => join(tmp, 'tiny', 'distilbert');
  let bert: ReturnType<typeof cli>;
  let distil: ReturnType<typeof cli>;

  beforeAll(() => {
    tokenizerFile = join(tmp, 'tokenizers', 'tokenizer.json');
    vocabSize = writeTokenizer(tokenizerFile, ['the', 'cat', 'sat', 'on', 'mat', '##s', 'dog', 'a', '.'], true);
    bert = cli([BERT, '--out', bertDir(), '--random-init', '--size', 'tiny', '--tokenizer', tokenizerFile]);
    distil = cli([DISTILBERT, '--out', distilDir(), '--random-init', '--size', 'tiny', '--vocab-size', '77']);
  });

  it('BERT with --tokenizer: vocabulary from the tokenizer, which is copied next to model.pt', async () => {
    expect(bert.status, bert.stderr).toBe(0);
    const meta = (await readMetadata(bertDir())) as TextBackboneMetadata;
    expect(meta).toMatchObject({
      name: BERT,
      size: 'tiny',
      family: 'bert',
      embeddingDim: 32,
      trunk: LAYOUT.bert.trunk,
      head: LAYOUT.bert.head,
      text: { tokenizer: 'tokenizer.json', maxLength: 128, vocabSize, numLayers: 2, layerPrefix: 'encoder.layer.', inputs: LAYOUT.bert.inputs, lowercase: true, padTokenId: 0 },
    });
    expect(readdirSync(bertDir()).sort()).toEqual(['finetuner.json', 'model.pt', 'tokenizer.json']);
    expect(readFileSync(join(bertDir(), 'tokenizer.json'), 'utf8')).toBe(readFileSync(tokenizerFile, 'utf8'));
    expect(statSync(join(bertDir(), 'model.pt')).size).toBeLessThan(1 << 20);
    expect(meta.parameters.withHead - meta.parameters.withoutHead).toBe(32 * 32 + 32); // the pooler
  });

  it('DistilBERT with --vocab-size: no tokenizer, nothing to drop', async () => {
    expect(distil.status, distil.stderr).toBe(0);
    expect(distil.stderr).toContain('note: no tokenizer');
    const meta = (await readMetadata(distilDir())) as TextBackboneMetadata;
    expect(meta).toMatchObject({
      family: 'distilbert',
      size: 'tiny',
      head: [],
      text: { tokenizer: null, vocabSize: 77, numLayers: 2, inputs: LAYOUT.distilbert.inputs, lowercase: true },
    });
    expect(meta.parameters.withHead).toBe(meta.parameters.withoutHead);
    expect(readdirSync(distilDir()).sort()).toEqual(['finetuner.json', 'model.pt']);
  });

  it('the scripted models: any length up to maxLength, padding masked, token types used by BERT only', () => {
    const got = python<Record<string, { params: number; shapes: number[][]; padDiff: number; typeDiff: number; tooLong: string }>>(
      `
import json, sys, torch
out = {}
for d in sys.argv[1:]:
    meta = json.load(open(d + "/finetuner.json"))
    m = torch.jit.load(d + "/model.pt")
    vocab, longest = meta["text"]["vocabSize"], meta["text"]["maxLength"]
    torch.manual_seed(0)
    shapes = []
    for n in (1, 3, longest):
        ids = torch.randint(0, vocab, (2, n))
        with torch.no_grad():
            shapes.append(list(m(ids, torch.ones_like(ids), torch.zeros_like(ids)).shape))
    # A sequence padded to 9 tokens gives the same states for its 4 real tokens as the same sequence alone.
    ids = torch.randint(1, vocab, (1, 9))
    mask = torch.zeros(1, 9, dtype=torch.long)
    mask[0, :4] = 1
    with torch.no_grad():
        padded = m(ids, mask, torch.zeros_like(ids))[0, :4]
        alone = m(ids[:, :4], mask[:, :4], torch.zeros(1, 4, dtype=torch.long))[0]
        other_types = m(ids, mask, torch.ones_like(ids))[0, :4]
    try:
        m(torch.zeros(1, longest + 1, dtype=torch.long), torch.ones(1, longest + 1, dtype=torch.long), torch.zeros(1, longest + 1, dtype=torch.long))
        too_long = "accepted"
    except Exception as e:
        too_long = str(e)
    out[d] = {"params": sum(p.numel() for p in m.parameters()), "shapes": shapes,
              "padDiff": (padded - alone).abs().max().item(), "typeDiff": (padded - other_types).abs().max().item(),
              "tooLong": too_long}
print(json.dumps(out))
`,
      [bertDir(), distilDir()],
    );
    for (const dir of [bertDir(), distilDir()]) {
      const g = got[dir];
      const meta = JSON.parse(readFileSync(join(dir, 'finetuner.json'), 'utf8')) as TextBackboneMetadata;
      expect(g.params).toBe(meta.parameters.withHead);
      expect(g.shapes).toEqual([
        [2, 1, 32],
        [2, 3, 32],
        [2, 128, 32],
      ]);
      expect(g.padDiff).toBeLessThan(1e-5);
      expect(g.tooLong).toContain("sequence length 129 exceeds the model's maximum of 128 tokens");
    }
    expect(got[bertDir()].typeDiff).toBeGreaterThan(1e-3);
    expect(got[distilDir()].typeDiff).toBe(0);
  });

  it('--seed makes random init reproducible', () => {
    const again = join(tmp, 'tiny', 'bert-again');
    const other = join(tmp, 'tiny', 'bert-seed1');
    expect(cli([BERT, '--out', again, '--random-init', '--size', 'tiny', '--tokenizer', tokenizerFile]).status).toBe(0);
    expect(cli([BERT, '--out', other, '--random-init', '--size', 'tiny', '--tokenizer', tokenizerFile, '--seed', '1']).status).toBe(0);
    const same = python<[boolean, boolean]>(
      `
import json, sys, torch
a, b, c = (torch.jit.load(d + "/model.pt").state_dict() for d in sys.argv[1:])
print(json.dumps([all(torch.equal(a[k], b[k]) for k in a), all(torch.equal(a[k], c[k]) for k in a)]))
`,
      [bertDir(), again, other],
    );
    expect(same).toEqual([true, false]);
  });
});

// Small configs in the real Hugging Face layout: what --weights DIR reads. Written by the snippet below
// with its own safetensors writer (not the exporter's reader in reverse).
const BERT_CONFIG = {
  architectures: ['BertModel'],
  model_type: 'bert',
  vocab_size: 60,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 48,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 64,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
  position_embedding_type: 'absolute',
  transformers_version: '4.40.0',
};
const DISTILBERT_CONFIG = {
  architectures: ['DistilBertForMaskedLM'],
  model_type: 'distilbert',
  vocab_size: 50,
  dim: 32,
  n_layers: 2,
  n_heads: 4,
  hidden_dim: 48,
  activation: 'gelu',
  dropout: 0.1,
  attention_dropout: 0.1,
  max_position_embeddings: 64,
  initializer_range: 0.02,
  pad_token_id: 0,
  sinusoidal_pos_embds: false,
  qa_dropout: 0.1,
  seq_classif_dropout: 0.2,
  tie_weights_: true,
};

const WRITE_FOLDERS_PY = `
import json, os, struct, sys, torch
root, bert_cfg, distil_cfg = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
torch.manual_seed(7)

def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    for name, t in tensors.items():
        t = t.contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)

def rand(*shape):
    return torch.randn(*shape) * 0.5

def bert_state(c):
    h, f = c["hidden_size"], c["intermediate_size"]
    sd = {"embeddings.word_embeddings.weight": rand(c["vocab_size"], h),
          "embeddings.position_embeddings.weight": rand(c["max_position_embeddings"], h),
          "embeddings.token_type_embeddings.weight": rand(c["type_vocab_size"], h)}
    def lin(p, i, o):
        sd[p + ".weight"], sd[p + ".bias"] = rand(o, i), rand(o)
    def norm(p):  # off 1/0 so that LayerNorm weights must arrive too
        sd[p + ".weight"], sd[p + ".bias"] = 1 + rand(h) * 0.2, rand(h) * 0.2
    norm("embeddings.LayerNorm")
    for i in range(c["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        for n in ("query", "key", "value"):
            lin(p + "attention.self." + n, h, h)
        lin(p + "attention.output.dense", h, h)
        norm(p + "attention.output.LayerNorm")
        lin(p + "intermediate.dense", h, f)
        lin(p + "output.dense", f, h)
        norm(p + "output.LayerNorm")
    lin("pooler.dense", h, h)
    return sd

def distil_state(c):
    h, f = c["dim"], c["hidden_dim"]
    sd = {"embeddings.word_embeddings.weight": rand(c["vocab_size"], h),
          "embeddings.position_embeddings.weight": rand(c["max_position_embeddings"], h)}
    def lin(p, i, o):
        sd[p + ".weight"], sd[p + ".bias"] = rand(o, i), rand(o)
    def norm(p):
        sd[p + ".weight"], sd[p + ".bias"] = 1 + rand(h) * 0.2, rand(h) * 0.2
    norm("embeddings.LayerNorm")
    for i in range(c["n_layers"]):
        p = "transformer.layer.%d." % i
        for n in ("q_lin", "k_lin", "v_lin", "out_lin"):
            lin(p + "attention." + n, h, h)
        norm(p + "sa_layer_norm")
        lin(p + "ffn.lin1", h, f)
        lin(p + "ffn.lin2", f, h)
        norm(p + "output_layer_norm")
    return sd

def folder(name, config, tokenizer=True):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if tokenizer:
        with open(os.path.join(root, "tokenizer.json")) as src, open(os.path.join(d, "tokenizer.json"), "w") as dst:
            dst.write(src.read())
    return d

# 1. BertModel.save_pretrained layout: model.safetensors, unprefixed, with the position_ids buffer (I64)
#    older versions kept in the state dict.
bert = bert_state(bert_cfg)
d = folder("bert-safetensors", bert_cfg)
write_safetensors(os.path.join(d, "model.safetensors"),
                  {**bert, "embeddings.position_ids": torch.arange(bert_cfg["max_position_embeddings"])[None]})
torch.save(bert, os.path.join(root, "bert.expected.pt"))

# 2. BertForPreTraining-style pytorch_model.bin: "bert." prefix, a cls.predictions head, and the old
#    LayerNorm.gamma/beta names; no tokenizer.json in the folder.
old = {}
for k, v in bert.items():
    if k.endswith("LayerNorm.weight"):
        k = k[: -len("weight")] + "gamma"
    elif k.endswith("LayerNorm.bias"):
        k = k[: -len("bias")] + "beta"
    old["bert." + k] = v.clone()
h = bert_cfg["hidden_size"]
old["cls.predictions.bias"] = rand(bert_cfg["vocab_size"])
old["cls.predictions.transform.dense.weight"] = rand(h, h)
old["cls.predictions.transform.LayerNorm.gamma"] = rand(h)
old["cls.predictions.decoder.weight"] = bert["embeddings.word_embeddings.weight"].clone()
old["cls.seq_relationship.weight"] = rand(2, h)
d = folder("bert-bin", dict(bert_cfg, architectures=["BertForPreTraining"]), tokenizer=False)
torch.save(old, os.path.join(d, "pytorch_model.bin"))

# 3. DistilBertForMaskedLM-style model.safetensors: "distilbert." prefix, vocab_* heads, word embeddings
#    stored as float16 and position embeddings as bfloat16 (the expected tensors are those values).
distil = distil_state(distil_cfg)
distil["embeddings.word_embeddings.weight"] = distil["embeddings.word_embeddings.weight"].half().float()
distil["embeddings.position_embeddings.weight"] = distil["embeddings.position_embeddings.weight"].bfloat16().float()
stored = {"distilbert." + k: v for k, v in distil.items()}
stored["distilbert.embeddings.word_embeddings.weight"] = distil["embeddings.word_embeddings.weight"].half()
stored["distilbert.embeddings.position_embeddings.weight"] = distil["embeddings.position_embeddings.weight"].bfloat16()
dh = distil_cfg["dim"]
stored["vocab_transform.weight"], stored["vocab_transform.bias"] = rand(dh, dh), rand(dh)
stored["vocab_layer_norm.weight"], stored["vocab_layer_norm.bias"] = rand(dh), rand(dh)
stored["vocab_projector.bias"] = rand(distil_cfg["vocab_size"])
d = folder("distilbert-safetensors", distil_cfg)
write_safetensors(os.path.join(d, "model.safetensors"), stored)
torch.save(distil, os.path.join(root, "distilbert.expected.pt"))
print("{}")
`;

interface Comparison {
  sameKeys: boolean;
  missingFromExport: string[];
  allEqual: boolean;
  maxDiff: number[];
  spread: number;
}

/** Opens DIR/model.pt and compares it with the expected tensors and the reference forward pass. */
function compareWithReference(dir: string, expected: string, family: 'bert' | 'distilbert', config: object): Comparison {
  return python<Comparison>(
    `${REFERENCE_PY}
import json, sys
d, expected_file, family, cfg = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
expected = torch.load(expected_file)
m = torch.jit.load(d + "/model.pt")
state = m.state_dict()
torch.manual_seed(3)
diffs, spread = [], 0.0
for n in (7, 23):
    ids = torch.randint(0, cfg["vocab_size"], (3, n))
    mask = torch.ones(3, n, dtype=torch.long)
    mask[1, 4:] = 0
    mask[2, 1:] = 0
    types = torch.zeros(3, n, dtype=torch.long)
    types[0, n // 2:] = 1
    with torch.no_grad():
        y = m(ids, mask, types)
        ref = bert_reference(expected, cfg, ids, mask, types) if family == "bert" else distilbert_reference(expected, cfg, ids, mask)
    diffs.append((y - ref).abs().max().item())
    spread = max(spread, ref.abs().max().item())
print(json.dumps({
    "sameKeys": set(state) == set(expected),
    "missingFromExport": sorted(set(expected) - set(state)),
    "allEqual": all(torch.equal(state[k], expected[k]) for k in expected if k in state),
    "maxDiff": diffs, "spread": spread,
}))
`,
    [dir, expected, family, JSON.stringify(config)],
  );
}

describe('--weights DIR: Hugging Face model folders', () => {
  let hf: string;
  beforeAll(() => {
    hf = join(tmp, 'hf');
    mkdirSync(hf, { recursive: true });
    writeTokenizer(join(hf, 'tokenizer.json'), ['Hello', 'world', '##s', 'Cat'], false);
    execFileSync(PYTHON, ['-c', WRITE_FOLDERS_PY, hf, JSON.stringify(BERT_CONFIG), JSON.stringify(DISTILBERT_CONFIG)]);
  });

  it('BERT from model.safetensors: every tensor arrives, token states match the reference forward', async () => {
    const out = join(tmp, 'weights', 'bert-safetensors');
    const r = cli([BERT, '--out', out, '--weights', join(hf, 'bert-safetensors')]);
    expect(r.status, r.stderr).toBe(0);
    // The folder's config is not bert-base-cased's: exported as described, and said so.
    expect(r.stderr).toContain('note: config.json differs from the published bert-base-cased');
    const meta = (await readMetadata(out)) as TextBackboneMetadata;
    expect(meta).toMatchObject({
      size: 'full',
      weights: 'bert-safetensors/model.safetensors',
      embeddingDim: 32,
      text: { tokenizer: 'tokenizer.json', maxLength: 64, vocabSize: 60, numLayers: 2, lowercase: false, padTokenId: 0 },
    });
    expect(readFileSync(join(out, 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(hf, 'bert-safetensors', 'tokenizer.json'), 'utf8'));
    const c = compareWithReference(out, join(hf, 'bert.expected.pt'), 'bert', BERT_CONFIG);
    expect(c.missingFromExport).toEqual([]);
    expect(c.sameKeys).toBe(true);
    expect(c.allEqual).toBe(true);
    for (const d of c.maxDiff) expect(d).toBeLessThan(1e-5);
    expect(c.spread).toBeGreaterThan(0.5); // the comparison is not between two near-zero tensors
  });

  it('BERT from a prefixed pytorch_model.bin with a task head and LayerNorm.gamma/beta names', async () => {
    const out = join(tmp, 'weights', 'bert-bin');
    const r = cli([BERT, '--out', out, '--weights', join(hf, 'bert-bin')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ignoring 5 keys outside the encoder \(task heads\): cls\.predictions\.bias/);
    expect(r.stderr).toContain(`note: no tokenizer (${join(hf, 'bert-bin')} has no tokenizer.json)`);
    const meta = (await readMetadata(out)) as TextBackboneMetadata;
    expect(meta.weights).toBe('bert-bin/pytorch_model.bin');
    expect(meta.text.tokenizer).toBeNull();
    expect(existsSync(join(out, 'tokenizer.json'))).toBe(false);
    const c = compareWithReference(out, join(hf, 'bert.expected.pt'), 'bert', BERT_CONFIG);
    expect(c.sameKeys).toBe(true);
    expect(c.allEqual).toBe(true);
    for (const d of c.maxDiff) expect(d).toBeLessThan(1e-5);
  });

  it('DistilBERT from a prefixed model.safetensors with float16/bfloat16 tensors and vocab_* heads', async () => {
    const out = join(tmp, 'weights', 'distilbert');
    const r = cli([DISTILBERT, '--out', out, '--weights', join(hf, 'distilbert-safetensors')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('ignoring 5 keys outside the encoder');
    const meta = (await readMetadata(out)) as TextBackboneMetadata;
    expect(meta).toMatchObject({ family: 'distilbert', embeddingDim: 32, text: { vocabSize: 50, numLayers: 2, tokenizer: 'tokenizer.json' } });
    const c = compareWithReference(out, join(hf, 'distilbert.expected.pt'), 'distilbert', DISTILBERT_CONFIG);
    expect(c.sameKeys).toBe(true);
    expect(c.allEqual).toBe(true);
    for (const d of c.maxDiff) expect(d).toBeLessThan(1e-5);
  });

  it('re-exporting into the same directory without a tokenizer removes the stale tokenizer.json', async () => {
    const out = join(tmp, 'weights', 'reuse');
    expect(cli([BERT, '--out', out, '--weights', join(hf, 'bert-safetensors')]).status).toBe(0);
    expect(existsSync(join(out, 'tokenizer.json'))).toBe(true);
    expect(cli([BERT, '--out', out, '--weights', join(hf, 'bert-bin')]).status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['finetuner.json', 'model.pt']);
    expect(((await readMetadata(out)) as TextBackboneMetadata).text.tokenizer).toBeNull();
  });

  if (!hasTransformers) {
    console.warn(
      `export-text.test.ts: SKIPPING the Hugging Face transformers parity test: ${PYTHON} cannot import transformers ` +
        '(not installed here); our BERT/DistilBERT were checked against the reference forward pass instead',
    );
  }
  it.skipIf(!hasTransformers)('parity with Hugging Face transformers: same weights, same token states (< 1e-4)', () => {
    // Our random-init tiny exports loaded into transformers' own BertModel/DistilBertModel, and
    // transformers' save_pretrained folders loaded by our exporter.
    const dirs: Record<string, string> = {};
    for (const [name, family] of [
      [BERT, 'bert'],
      [DISTILBERT, 'distilbert'],
    ] as const) {
      const out = join(tmp, 'parity', family);
      const r = cli([name, '--out', out, '--random-init', '--size', 'tiny', '--vocab-size', '100', '--seed', '5']);
      expect(r.status, r.stderr).toBe(0);
      dirs[family] = out;
    }
    const hfDirs = { bert: join(tmp, 'parity', 'hf-bert'), distilbert: join(tmp, 'parity', 'hf-distilbert') };
    const result = python<{ ours: Record<string, number>; saved: Record<string, boolean> }>(
      `
import json, sys, torch, transformers
from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel
dirs, hf_dirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ours = {}
def build(family, meta):
    t = meta["text"]
    if family == "bert":
        cfg = BertConfig(vocab_size=t["vocabSize"], hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=t["maxLength"])
        return BertModel(cfg)
    cfg = DistilBertConfig(vocab_size=t["vocabSize"], dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                           max_position_embeddings=t["maxLength"])
    return DistilBertModel(cfg)
for family, d in dirs.items():
    meta = json.load(open(d + "/finetuner.json"))
    m = torch.jit.load(d + "/model.pt")
    ref = build(family, meta).eval()
    missing, unexpected = ref.load_state_dict(m.state_dict(), strict=False)
    assert not unexpected and all("position_ids" in k or "token_type_ids" in k for k in missing), (missing, unexpected)
    torch.manual_seed(1)
    ids = torch.randint(0, meta["text"]["vocabSize"], (3, 19))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    types = torch.zeros_like(ids)
    types[0, 9:] = 1
    with torch.no_grad():
        y = m(ids, mask, types)
        kwargs = {"token_type_ids": types} if family == "bert" else {}
        want = ref(input_ids=ids, attention_mask=mask, **kwargs).last_hidden_state
    # Padding positions differ between implementations' masking conventions only in what nobody reads.
    ours[family] = ((y - want).abs() * mask[..., None]).max().item()
    ref.save_pretrained(hf_dirs[family])
print(json.dumps({"ours": ours, "saved": {k: True for k in hf_dirs}}))
`,
      [JSON.stringify(dirs), JSON.stringify(hfDirs)],
    );
    expect(result.ours.bert).toBeLessThan(1e-4);
    expect(result.ours.distilbert).toBeLessThan(1e-4);
    // And the other way: transformers' own save_pretrained folders load by name.
    for (const [name, family] of [
      [BERT, 'bert'],
      [DISTILBERT, 'distilbert'],
    ] as const) {
      const out = join(tmp, 'parity', `${family}-from-hf`);
      const r = cli([name, '--out', out, '--weights', hfDirs[family]]);
      expect(r.status, r.stderr).toBe(0);
      const same = python<boolean>(
        `
import json, sys, torch
a, b = (torch.jit.load(d + "/model.pt").state_dict() for d in sys.argv[1:])
print(json.dumps(a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)))
`,
        [dirs[family], out],
      );
      expect(same).toBe(true);
    }
  });
});

describe('text export errors', () => {
  let hf: string;
  beforeAll(() => {
    hf = join(tmp, 'hf-errors');
    mkdirSync(hf, { recursive: true });
    writeTokenizer(join(hf, 'tokenizer.json'), ['a'], true);
    execFileSync(PYTHON, ['-c', WRITE_FOLDERS_PY, hf, JSON.stringify(BERT_CONFIG), JSON.stringify(DISTILBERT_CONFIG)]);
  });
  const out = (name: string) => join(tmp, 'errors', name);

  it('a folder without weights: exit 2, naming the folder and the files expected', () => {
    const dir = join(hf, 'no-weights');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(BERT_CONFIG));
    const r = cli([BERT, '--out', out('no-weights'), '--weights', dir]);
    expect(r.status).toBe(2);
    expect(r.lastErrorLine).toBe(
      `export_torchscript: error: ${dir} has no weights: expected model.safetensors or pytorch_model.bin (found: config.json)`,
    );
    expect(existsSync(out('no-weights'))).toBe(false);
  });

  it('a folder without config.json: exit 2', () => {
    const dir = join(hf, 'no-config');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(hf, 'bert-safetensors', 'model.safetensors'), join(dir, 'model.safetensors'));
    const r = cli([BERT, '--out', out('no-config'), '--weights', dir]);
    expect(r.status).toBe(2);
    expect(r.lastErrorLine).toContain(`${dir} has no config.json`);
  });

  it('a truncated or corrupt model.safetensors: exit 1, naming the file', () => {
    const good = readFileSync(join(hf, 'bert-safetensors', 'model.safetensors'));
    for (const [name, bytes, why] of [
      ['truncated', good.subarray(0, good.length - 100), /ends at byte \d+ of the data but the file holds \d+ bytes of data \(truncated\)/],
      ['cut-header', good.subarray(0, 40), /header length \d+ does not fit in the file's 40 bytes/],
      ['not-json', Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]), /the header is not JSON/],
      ['empty', Buffer.alloc(0), /0 bytes, too short/],
    ] as const) {
      const dir = join(hf, `corrupt-${name}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'config.json'), JSON.stringify(BERT_CONFIG));
      writeFileSync(join(dir, 'model.safetensors'), bytes);
      const r = cli([BERT, '--out', out(name), '--weights', dir]);
      expect(r.status, name).toBe(1);
      expect(r.lastErrorLine, name).toContain(`export_torchscript: error: ${join(dir, 'model.safetensors')} is not a valid safetensors file: `);
      expect(r.lastErrorLine, name).toMatch(why);
      expect(existsSync(join(out(name), 'finetuner.json'))).toBe(false);
    }
  });

  it('a checkpoint that does not fit its config.json names the missing keys', () => {
    const dir = join(hf, 'three-layers');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...BERT_CONFIG, num_hidden_layers: 3 }));
    copyFileSync(join(hf, 'bert-safetensors', 'model.safetensors'), join(dir, 'model.safetensors'));
    const r = cli([BERT, '--out', out('three-layers'), '--weights', dir]);
    expect(r.status).toBe(1);
    expect(r.lastErrorLine).toContain(`checkpoint ${join(dir, 'model.safetensors')} does not fit bert-base-cased: missing keys: encoder.layer.2.attention.self.query.weight`);
  });

  it('a folder of the other family, bad options and no weights at all: exit 2 with what to do', () => {
    let r = cli([BERT, '--out', out('family'), '--weights', join(hf, 'distilbert-safetensors')]);
    expect(r.status).toBe(2);
    expect(r.lastErrorLine).toContain(`config.json is a 'distilbert' model, but bert-base-cased is 'bert'`);

    r = cli([BERT, '--out', out('vocab'), '--random-init', '--vocab-size', '10']);
    expect(r.status).toBe(2);
    expect(r.lastErrorLine).toContain('--vocab-size applies to --random-init --size tiny only');

    r = cli([BERT, '--out', out('tiny-weights'), '--size', 'tiny', '--weights', join(hf, 'bert-safetensors')]);
    expect(r.status).toBe(2);
    expect(r.lastErrorLine).toContain('with --weights DIR the architecture comes from DIR/config.json');

    r = cli([BERT, '--out', out('small-vocab'), '--random-init', '--size', 'tiny', '--vocab-size', '3', '--tokenizer', join(hf, 'tokenizer.json')]);
    expect(r.status).toBe(2);
    expect(r.lastErrorLine).toMatch(/tokenizer .* has 6 tokens but the model's vocabulary has 3/);

    r = cli(['resnet50', '--out', out('cnn-tokenizer'), '--random-init', '--tokenizer', join(hf, 'tokenizer.json')]);
    expect(r.status).toBe(2);
    expect(r.lastErrorLine).toContain('--tokenizer and --vocab-size apply to text models, not resnet50');

    r = cli([DISTILBERT, '--out', out('none')]);
    expect(r.status).toBe(2);
    expect(r.lastErrorLine).toContain('no network here: pass --weights DIR with a Hugging Face model folder');
    expect(existsSync(out('none'))).toBe(false);
  });

  it('without --weights, uses the snapshot found in the Hugging Face hub cache', async () => {
    const hfHome = join(tmp, 'hf-home');
    const repo = join(hfHome, 'hub', 'models--sentence-transformers--msmarco-distilbert-base-v3');
    mkdirSync(join(repo, 'refs'), { recursive: true });
    mkdirSync(join(repo, 'snapshots', 'abc123'), { recursive: true });
    writeFileSync(join(repo, 'refs', 'main'), 'abc123');
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
      copyFileSync(join(hf, 'distilbert-safetensors', f), join(repo, 'snapshots', 'abc123', f));
    }
    const r = cli([DISTILBERT, '--out', out('hub')], { HF_HOME: hfHome });
    expect(r.status, r.stderr).toBe(0);
    expect((await readMetadata(out('hub'))).weights).toBe('abc123/model.safetensors');
  });
});

describe('finetuner.json of text backbones: validation', () => {
  const good = (): TextBackboneMetadata => ({
    format: 'finetuner-backbone',
    formatVersion: 1,
    name: BERT,
    task: 'text-to-text',
    architecture: 'transformer',
    family: 'bert',
    size: 'tiny',
    weights: 'random-init',
    embeddingDim: 32,
    trunk: ['embeddings', 'encoder'],
    head: ['pooler'],
    pooling: 'mean',
    text: {
      tokenizer: 'tokenizer.json',
      maxLength: 128,
      vocabSize: 1000,
      numLayers: 2,
      layerPrefix: 'encoder.layer.',
      inputs: ['input_ids', 'attention_mask', 'token_type_ids'],
      lowercase: false,
      padTokenId: 0,
    },
    parameters: { withHead: 54_368, withoutHead: 53_312 },
    versions: { torch: '1.13.0a0', torchvision: '0.14.1a0', python: '3.11.2' },
    model: 'model.pt',
  });
  function write(name: string, value: unknown, files = ['model.pt', 'tokenizer.json']): string {
    const dir = join(tmp, 'meta-text', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'finetuner.json'), JSON.stringify(value));
    for (const f of files) writeFileSync(join(dir, f), '');
    return dir;
  }

  it('accepts a valid file, DistilBERT without head or token types, and no tokenizer', async () => {
    const meta = await readMetadata(write('ok', good()));
    expect(meta).toEqual(good());
    expect(isTextBackbone(meta)).toBe(true);
    const distil = { ...good(), family: 'distilbert', head: [], text: { ...good().text, tokenizer: null, inputs: ['input_ids', 'attention_mask'] } };
    expect(await readMetadata(write('distil', distil, ['model.pt']))).toEqual(distil);
    expect(validateMetadata(distil, 'x.json')).toBe(distil);
  });

  it('names the file and the field that is wrong', async () => {
    const cases: [string, (m: Record<string, unknown> & { text: Record<string, unknown> }) => void, string][] = [
      ['no-text', (m) => delete (m as Record<string, unknown>).text, 'field "text" must be an object'],
      ['pooling', (m) => (m.pooling = 'avg'), 'field "pooling" must be one of mean, cls, max'],
      ['architecture', (m) => (m.architecture = 'cnn'), 'field "architecture" must be "transformer" for a text-to-text backbone'],
      ['inputs', (m) => (m.text.inputs = ['attention_mask', 'input_ids']), 'field "text.inputs"'],
      ['inputs-unknown', (m) => (m.text.inputs = ['input_ids', 'attention_mask', 'position_ids']), 'field "text.inputs"'],
      ['tokenizer-path', (m) => (m.text.tokenizer = '../tokenizer.json'), 'field "text.tokenizer" must be a file name inside the directory'],
      ['lowercase', (m) => (m.text.lowercase = 'yes'), 'field "text.lowercase" must be true or false'],
      ['vocab', (m) => (m.text.vocabSize = 0), 'field "text.vocabSize" must be a positive integer'],
      ['pad', (m) => (m.text.padTokenId = 1000), 'field "text.padTokenId" must be below text.vocabSize (1000)'],
      ['layers', (m) => delete m.text.numLayers, 'field "text.numLayers"'],
      ['prefix', (m) => (m.text.layerPrefix = ''), 'field "text.layerPrefix"'],
      ['trunk', (m) => (m.trunk = []), 'field "trunk"'],
    ];
    for (const [name, mutate, message] of cases) {
      const m = good() as unknown as Record<string, unknown> & { text: Record<string, unknown> };
      mutate(m);
      const dir = write(name, m);
      await expect(readMetadata(dir), name).rejects.toThrow(`${join(dir, 'finetuner.json')}: ${message}`);
    }
  });

  it('reports a tokenizer file that is not there', async () => {
    const dir = write('no-tokenizer-file', good(), ['model.pt']);
    await expect(readMetadata(dir)).rejects.toThrow(/field "text\.tokenizer" names .*tokenizer\.json, which does not exist/);
  });

  it('image backbones still need preprocessing and a head', () => {
    const image = { ...good(), task: 'image-to-image', architecture: 'cnn', pooling: 'avg' } as Record<string, unknown>;
    expect(() => validateMetadata(image, 'img.json')).toThrow('img.json: field "preprocessing" must be an object');
    expect(() => validateMetadata({ ...image, head: [] }, 'img.json')).toThrow('img.json: field "head" must be a non-empty array of names');
  });
});
