// CLIP architectures (text-to-image) in scripts/export_torchscript/clip_*.py, with Debian's torch alone:
// our own ViT, modified ResNet, CLIP text and XLM-RoBERTa towers with open_clip's parameter names.
// Full-size models are built on torch's meta device (no memory) and held to open_clip's published
// parameter counts (shared/reference/open_clip_model_profile.csv); tiny models are scripted and run.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/export.js';

const PYTHON = '/usr/bin/python3';
const SCRIPTS = join(packageRoot(), 'scripts');
const SHARED = join(packageRoot(), '..', 'shared');
const PROFILE_CSV = join(SHARED, 'reference', 'open_clip_model_profile.csv');
const BACKBONES_CSV = join(SHARED, 'backbones.csv');

// open_clip's docs/model_profile.csv (millions of parameters: whole model, image tower, text tower), as
// copied into shared/reference/open_clip_model_profile.csv.
const PROFILE: Record<string, { imageSize: number; embedDim: number; total: number; image: number; text: number }> = {
  'ViT-B-32': { imageSize: 224, embedDim: 512, total: 151.28, image: 87.85, text: 63.43 },
  'ViT-B-32-quickgelu': { imageSize: 224, embedDim: 512, total: 151.28, image: 87.85, text: 63.43 },
  'RN50-quickgelu': { imageSize: 224, embedDim: 1024, total: 102.01, image: 38.32, text: 63.69 },
  RN50: { imageSize: 224, embedDim: 1024, total: 102.01, image: 38.32, text: 63.69 },
  'RN101-quickgelu': { imageSize: 224, embedDim: 512, total: 119.69, image: 56.26, text: 63.43 },
  RN101: { imageSize: 224, embedDim: 512, total: 119.69, image: 56.26, text: 63.43 },
  'ViT-B-16': { imageSize: 224, embedDim: 512, total: 149.62, image: 86.19, text: 63.43 },
  RN50x4: { imageSize: 288, embedDim: 640, total: 178.3, image: 87.14, text: 91.16 },
  'ViT-B-16-plus-240': { imageSize: 240, embedDim: 640, total: 208.38, image: 117.21, text: 91.16 },
  'xlm-roberta-base-ViT-B-32': { imageSize: 224, embedDim: 512, total: 366.12, image: 87.85, text: 278.27 },
  RN50x16: { imageSize: 384, embedDim: 768, total: 290.98, image: 167.33, text: 123.65 },
  'ViT-L-14': { imageSize: 224, embedDim: 768, total: 427.62, image: 303.97, text: 123.65 },
  'ViT-L-14-336': { imageSize: 336, embedDim: 768, total: 427.94, image: 304.29, text: 123.65 },
  RN50x64: { imageSize: 448, embedDim: 1024, total: 623.26, image: 420.38, text: 202.88 },
};
const ARCHS = Object.keys(PROFILE);
const QUICK_GELU = ['ViT-B-32-quickgelu', 'RN50-quickgelu', 'RN101-quickgelu'];

/** Runs a Python snippet with scripts/ on sys.path (argv[1:] = args); it prints one JSON value. */
function python<T>(code: string, args: string[] = []): T {
  const prelude = `import sys, json\nsys.path.insert(0, ${JSON.stringify(SCRIPTS)})\n`;
  const out = execFileSync(PYTHON, ['-c', prelude + code, ...args], {
    encoding: 'utf8',
    maxBuffer: 16 << 20,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  return JSON.parse(out) as T;
}

interface FullInfo {
  total: number;
  image: number;
  text: number;
  logitScale: number;
  embedDim: number;
  imageOut: number;
  textOut: number;
  imageSize: number;
  quickGelu: boolean;
  keys: string[];
}

describe('CLIP variants at full size (built on the meta device)', () => {
  let full: Record<string, FullInfo>;
  beforeAll(() => {
    full = python<Record<string, FullInfo>>(`
import re, torch
from export_torchscript.clip_configs import CLIP_VARIANTS, build_clip, count_towers
out = {}
for name in CLIP_VARIANTS:
    m = build_clip(name, "full", device=torch.device("meta"))
    assert all(p.is_meta for p in m.parameters())
    c = count_towers(m)
    v = m.visual
    image_out = v.proj.shape[1] if hasattr(v, "proj") else v.attnpool.c_proj.out_features
    text_out = m.text.proj[2].out_features if hasattr(m, "text") else m.text_projection.shape[1]
    keys = [k for k in m.state_dict() if not re.search(r"(resblocks|layer\\d?)\\.[1-9]\\d*\\.", k)]  # block 0 only
    out[name] = dict(total=c["total"], image=c["image"], text=c["text"], logitScale=m.logit_scale.numel(),
                     embedDim=m.embed_dim, imageOut=image_out, textOut=text_out, imageSize=v.image_size,
                     quickGelu=CLIP_VARIANTS[name].quick_gelu, keys=keys)
print(json.dumps(out))
`);
  });

  it.skipIf(!existsSync(PROFILE_CSV))('the reference table here is shared/reference/open_clip_model_profile.csv', () => {
    const rows = parse(readFileSync(PROFILE_CSV), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.model).sort()).toEqual([...ARCHS].sort());
    for (const r of rows) {
      const p = PROFILE[r.model];
      expect([+r.image_size, +r.embed_dim, +r.mparams, +r.image_mparams, +r.text_mparams], r.model).toEqual([
        p.imageSize, p.embedDim, p.total, p.image, p.text,
      ]);
    }
  });

  it('one variant per open_clip architecture of the profile', () => {
    expect(Object.keys(full).sort()).toEqual([...ARCHS].sort());
  });

  it.each(ARCHS)('%s: parameters (whole, image, text) within 0.01 M of open_clip', (name) => {
    const f = full[name];
    const p = PROFILE[name];
    expect(Math.abs(f.total / 1e6 - p.total), `total ${f.total}`).toBeLessThanOrEqual(0.01);
    expect(Math.abs(f.image / 1e6 - p.image), `image ${f.image}`).toBeLessThanOrEqual(0.01);
    expect(Math.abs(f.text / 1e6 - p.text), `text ${f.text}`).toBeLessThanOrEqual(0.01);
    // open_clip counts logit_scale in the whole model only.
    expect(f.logitScale).toBe(1);
    expect(f.total).toBe(f.image + f.text + 1);
  });

  it.each(ARCHS)('%s: embedding dim and image size', (name) => {
    const f = full[name];
    expect([f.embedDim, f.imageOut, f.textOut, f.imageSize]).toEqual([
      PROFILE[name].embedDim, PROFILE[name].embedDim, PROFILE[name].embedDim, PROFILE[name].imageSize,
    ]);
  });

  it('-quickgelu variants record QuickGELU and share their base architecture', () => {
    for (const name of ARCHS) expect(full[name].quickGelu, name).toBe(QUICK_GELU.includes(name));
    for (const q of QUICK_GELU) {
      const base = q.replace('-quickgelu', '');
      expect(full[q].keys).toEqual(full[base].keys);
      expect(full[q].total).toBe(full[base].total);
    }
  });

  it("parameter names are open_clip's", () => {
    const vit = new Set(full['ViT-B-32'].keys);
    for (const k of [
      'visual.conv1.weight', 'visual.class_embedding', 'visual.positional_embedding', 'visual.ln_pre.weight',
      'visual.transformer.resblocks.0.attn.in_proj_weight', 'visual.transformer.resblocks.0.attn.in_proj_bias',
      'visual.transformer.resblocks.0.attn.out_proj.weight', 'visual.transformer.resblocks.0.ln_1.bias',
      'visual.transformer.resblocks.0.mlp.c_fc.weight', 'visual.transformer.resblocks.0.mlp.c_proj.bias',
      'visual.transformer.resblocks.0.ln_2.weight', 'visual.ln_post.bias', 'visual.proj',
      'token_embedding.weight', 'positional_embedding', 'transformer.resblocks.0.attn.in_proj_weight',
      'transformer.resblocks.0.mlp.c_fc.weight', 'ln_final.weight', 'text_projection', 'logit_scale',
    ]) expect(vit.has(k), k).toBe(true);
    expect(vit.has('attn_mask')).toBe(false); // a non-persistent buffer, as in open_clip
    expect(vit.has('visual.conv1.bias')).toBe(false);

    const rn = new Set(full.RN50.keys);
    for (const k of [
      'visual.conv1.weight', 'visual.bn1.running_mean', 'visual.conv2.weight', 'visual.bn2.weight',
      'visual.conv3.weight', 'visual.bn3.bias', 'visual.layer1.0.conv1.weight', 'visual.layer1.0.bn3.weight',
      'visual.layer1.0.downsample.0.weight', 'visual.layer1.0.downsample.1.running_var',
      'visual.layer4.0.downsample.0.weight', 'visual.attnpool.positional_embedding', 'visual.attnpool.k_proj.weight',
      'visual.attnpool.q_proj.bias', 'visual.attnpool.v_proj.weight', 'visual.attnpool.c_proj.weight',
      'token_embedding.weight', 'text_projection', 'logit_scale',
    ]) expect(rn.has(k), k).toBe(true);

    const xlmr = full['xlm-roberta-base-ViT-B-32'].keys;
    const text = xlmr.filter((k) => !k.startsWith('visual.') && k !== 'logit_scale').sort();
    expect(text).toEqual([
      'text.proj.0.weight',
      'text.proj.2.weight',
      ...['embeddings.LayerNorm.bias', 'embeddings.LayerNorm.weight', 'embeddings.position_embeddings.weight',
        'embeddings.token_type_embeddings.weight', 'embeddings.word_embeddings.weight',
        ...['attention.output.LayerNorm.bias', 'attention.output.LayerNorm.weight', 'attention.output.dense.bias',
          'attention.output.dense.weight', 'attention.self.key.bias', 'attention.self.key.weight',
          'attention.self.query.bias', 'attention.self.query.weight', 'attention.self.value.bias',
          'attention.self.value.weight', 'intermediate.dense.bias', 'intermediate.dense.weight',
          'output.LayerNorm.bias', 'output.LayerNorm.weight', 'output.dense.bias', 'output.dense.weight',
        ].map((k) => `encoder.layer.0.${k}`),
      ].map((k) => `text.transformer.${k}`),
    ].sort());
    expect(new Set(xlmr.filter((k) => k.startsWith('visual.')))).toEqual(
      new Set(full['ViT-B-32'].keys.filter((k) => k.startsWith('visual.'))),
    );
  });
});

describe('backbones.csv text-to-image rows', () => {
  const rows = existsSync(BACKBONES_CSV)
    ? (parse(readFileSync(BACKBONES_CSV), { columns: true }) as Record<string, string>[]).filter((r) => r.task === 'text-to-image')
    : [];
  const HF = {
    'openai/clip-vit-base-patch32': 'ViT-B-32',
    'openai/clip-vit-base-patch16': 'ViT-B-16',
    'openai/clip-vit-large-patch14': 'ViT-L-14',
    'openai/clip-vit-large-patch14-336': 'ViT-L-14-336',
  } as Record<string, string>;

  it.skipIf(rows.length === 0)('all 32 map to a variant whose output dim is the table\'s (ViT-L/14: 768, not 1024)', () => {
    expect(rows).toHaveLength(32);
    const names = rows.map((r) => r.name);
    const got = python<Record<string, { variant: string; dim: number; quickGelu: boolean }>>(`
import torch
from export_torchscript.clip_configs import CLIP_VARIANTS, variant_for_backbone, pretrained_quick_gelu
out = {}
for name in sys.argv[1:]:
    v = variant_for_backbone(name)
    out[name] = dict(variant=v, dim=CLIP_VARIANTS[v].embed_dim, quickGelu=pretrained_quick_gelu(name))
print(json.dumps(out))
`, names);
    for (const r of rows) {
      const g = got[r.name];
      const arch = r.name.split('::')[0];
      expect(g.variant, r.name).toBe(r.name in HF ? HF[r.name] : arch);
      expect(ARCHS).toContain(g.variant);
      expect(g.dim, r.name).toBe(r.name === 'openai/clip-vit-large-patch14' ? 768 : +r.output_dim_in_source_table);
      expect(g.dim).toBe(PROFILE[g.variant].embedDim);
      // OpenAI's weights (open_clip ::openai tags and the Hugging Face ports) use QuickGELU.
      if (r.name.endsWith('::openai') || r.name in HF || arch.endsWith('-quickgelu')) expect(g.quickGelu, r.name).toBe(true);
    }
    expect(got['ViT-B-16::laion400m_e31'].quickGelu).toBe(false);
    expect(got['ViT-B-32::laion2b_e16'].quickGelu).toBe(false);
    expect(got['ViT-B-32::laion400m_e31'].quickGelu).toBe(true); // vit_b_32-quickgelu-laion400m_e31.pt
  });

  it('unknown names are refused', () => {
    const r = python<string>(`
from export_torchscript.clip_configs import variant_for_backbone, build_clip
errors = []
for f in (lambda: variant_for_backbone("ViT-H-14::laion2b"), lambda: build_clip("nope"), lambda: build_clip("RN50", "huge")):
    try:
        f()
    except (KeyError, ValueError) as e:
        errors.append(type(e).__name__)
print(json.dumps(",".join(errors)))
`);
    expect(r).toBe('KeyError,KeyError,ValueError');
  });
});

interface TinyInfo {
  imageSize: number;
  contextLength: number;
  params: number;
  image: number[];
  text: number[];
  textMasked: number[] | null;
  forward: number[][];
  scriptedMatchesEager: boolean;
  causal: boolean;
  paddingIgnored: boolean;
  methods: string[];
}

describe('tiny variants: scripted, encode_image / encode_text', () => {
  let tiny: Record<string, TinyInfo>;
  beforeAll(() => {
    tiny = python<Record<string, TinyInfo>>(`
import torch
from export_torchscript.clip_configs import CLIP_VARIANTS, build_clip
torch.manual_seed(0)
out = {}
for name in CLIP_VARIANTS:
    m = build_clip(name, "tiny").eval()
    s = torch.jit.script(m)
    S, L = m.visual.image_size, m.context_length
    xlmr = hasattr(m, "text")
    pad = 1 if xlmr else 0
    images = torch.randn(3, 3, S, S)
    tokens = torch.randint(3, 900, (3, L))
    tokens[:, 0] = 2  # a start token
    tokens[0, 5] = 999  # CLIP pools at the largest id (end of text), then padding
    tokens[0, 6:] = pad
    tokens[1, L - 1] = 999
    tokens[2, 9] = 999
    tokens[2, 10:] = pad
    with torch.no_grad():
        image, text = s.encode_image(images), s.encode_text(tokens)
        same = torch.allclose(image, m.encode_image(images), atol=1e-5) and torch.allclose(text, m.encode_text(tokens), atol=1e-5)
        fi, ft, scale = s(images, tokens)
        # Tokens after the pooled one change nothing (CLIP: causal mask; XLM-R: padding is masked out).
        other = tokens.clone()
        other[0, 6:] = 7 if not xlmr else pad
        other[2, 10:] = 7 if not xlmr else pad
        causal = torch.allclose(s.encode_text(other)[[0, 2]], text[[0, 2]], atol=1e-5) if not xlmr else True
        shorter = s.encode_text(tokens[:, :10])  # padding dropped
        padding_ignored = torch.allclose(shorter[2], text[2], atol=1e-5)
        masked = None
        if xlmr:
            mask = tokens.ne(pad).long()
            masked = list(s.encode_text_masked(tokens, mask).shape)
            same = same and torch.allclose(s.encode_text_masked(tokens, mask), text, atol=1e-5)
    out[name] = dict(imageSize=S, contextLength=L, params=sum(p.numel() for p in m.parameters()),
                     image=list(image.shape), text=list(text.shape), textMasked=masked,
                     forward=[list(fi.shape), list(ft.shape), list(scale.shape),
                              [round(float(fi.norm(dim=-1).mean()), 4), round(float(ft.norm(dim=-1).mean()), 4)]],
                     scriptedMatchesEager=bool(same), causal=bool(causal), paddingIgnored=bool(padding_ignored),
                     methods=[n for n in ("encode_image", "encode_text", "encode_text_masked") if hasattr(s, n)])
print(json.dumps(out))
`);
  });

  it.each(ARCHS)('%s: tiny, scripted, N x D outputs', (name) => {
    const t = tiny[name];
    expect(t.params).toBeLessThan(1_000_000);
    expect(t.imageSize).toBeLessThanOrEqual(64);
    expect(t.contextLength).toBe(16);
    expect(t.image).toEqual([3, 32]);
    expect(t.text).toEqual([3, 32]);
    expect(t.forward).toEqual([[3, 32], [3, 32], [], [1, 1]]);
    expect(t.scriptedMatchesEager).toBe(true);
    expect(t.causal).toBe(true);
    expect(t.paddingIgnored).toBe(true);
    if (name.startsWith('xlm-roberta')) {
      expect(t.textMasked).toEqual([3, 32]);
      expect(t.methods).toEqual(['encode_image', 'encode_text', 'encode_text_masked']);
    } else {
      expect(t.methods).toEqual(['encode_image', 'encode_text']);
    }
  });
});

describe('a full-size model on the CPU', () => {
  it('ViT-B-32: real initialisation, scripted, a 224 x 224 image and a 77-token text', () => {
    const r = python<{ params: number; image: number[]; text: number[]; finite: boolean }>(`
import torch
from export_torchscript.clip_configs import build_clip
torch.manual_seed(0)
m = build_clip("ViT-B-32").eval()
s = torch.jit.script(m)
tokens = torch.zeros(2, 77, dtype=torch.long)
tokens[:, 0] = 49406
tokens[0, 1:4] = torch.tensor([320, 1125, 49407])
tokens[1, 1:77] = torch.randint(1, 49406, (76,))
tokens[1, 76] = 49407
with torch.no_grad():
    image = s.encode_image(torch.randn(1, 3, 224, 224))
    text = s.encode_text(tokens)
print(json.dumps(dict(params=sum(p.numel() for p in m.parameters()), image=list(image.shape), text=list(text.shape),
                      finite=bool(torch.isfinite(image).all() and torch.isfinite(text).all()))))
`);
    expect(Math.abs(r.params / 1e6 - PROFILE['ViT-B-32'].total)).toBeLessThanOrEqual(0.01);
    expect(r.image).toEqual([1, 512]);
    expect(r.text).toEqual([2, 512]);
    expect(r.finite).toBe(true);
  });
});
