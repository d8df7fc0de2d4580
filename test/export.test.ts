// The export side: scripts/export_torchscript (Python) and exportModel()/readMetadata() (TypeScript).
// No pretrained weights can be downloaded here, so the exports are held to the published parameter
// counts (shared/reference/architectures.md), and the scripted files are opened again in Python to check
// what the C++ addon will rely on: the whole model is there, the trunk children give C = embeddingDim.

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExportError, TORCH_INSTALL_COMMAND, exportModel, exporterScript, packageRoot } from '../lib/export.js';
import { readMetadata, type BackboneMetadata } from '../lib/metadata.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(packageRoot(), 'scripts', 'export_torchscript');

// From shared/reference/architectures.md (torchvision 0.14).
const REFERENCE = {
  resnet50: { withHead: 25_557_032, withoutHead: 23_508_032, embeddingDim: 2048, family: 'resnet' },
  resnet152: { withHead: 60_192_808, withoutHead: 58_143_808, embeddingDim: 2048, family: 'resnet' },
  efficientnet_b0: { withHead: 5_288_548, withoutHead: 4_007_548, embeddingDim: 1280, family: 'efficientnet' },
  efficientnet_b4: { withHead: 19_341_616, withoutHead: 17_548_616, embeddingDim: 1792, family: 'efficientnet' },
} as const;
type CnnName = keyof typeof REFERENCE;
const NAMES = Object.keys(REFERENCE) as CnnName[];

const PREPROCESSING = {
  resnet50: { resize: 256, crop: 224, interpolation: 'bilinear' },
  resnet152: { resize: 256, crop: 224, interpolation: 'bilinear' },
  efficientnet_b0: { resize: 256, crop: 224, interpolation: 'bicubic' },
  efficientnet_b4: { resize: 384, crop: 380, interpolation: 'bicubic' },
};
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

const LAYOUT = {
  resnet: {
    trunk: ['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4'],
    head: ['avgpool', 'fc'],
  },
  efficientnet: { trunk: ['features'], head: ['avgpool', 'classifier'] },
};

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'finetuner-export-test-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Runs the exporter's CLI directly. */
function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lastErrorLine: r.stderr.trim().split('\n').pop() ?? '' };
}

/** Runs a Python snippet (argv[1:] = args) that prints one JSON value. */
function python<T>(code: string, args: string[] = []): T {
  const out = execFileSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
  return JSON.parse(out) as T;
}

interface Inspection {
  children: string[];
  withHead: number;
  withoutHead: number;
  logits: number[];
  trunkOutput: number[];
  training: boolean;
}

/** Opens each DIR/model.pt with torch.jit.load and measures it, independently of finetuner.json's numbers. */
function inspect(dirs: string[], imageSize: number): Record<string, Inspection> {
  return python(
    `
import json, sys, torch
size, out = int(sys.argv[1]), {}
for d in sys.argv[2:]:
    trunk = json.load(open(d + "/finetuner.json"))["trunk"]
    m = torch.jit.load(d + "/model.pt")
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        logits = m(x)
        h = x
        for name in trunk:  # what the C++ addon does: the trunk children, in order
            h = getattr(m, name)(h)
    out[d] = {
        "children": [n for n, _ in m.named_children()],
        "withHead": sum(p.numel() for p in m.parameters()),
        "withoutHead": sum(p.numel() for n in trunk for p in getattr(m, n).parameters()),
        "logits": list(logits.shape), "trunkOutput": list(h.shape), "training": m.training,
    }
    del m
print(json.dumps(out))
`,
    [String(imageSize), ...dirs],
  );
}

describe('full-size exports (random init) through exportModel()', () => {
  const meta: Partial<Record<CnnName, BackboneMetadata>> = {};
  const progress: Partial<Record<CnnName, string[]>> = {};
  let measured: Record<string, Inspection>;
  const dir = (name: CnnName) => join(tmp, 'full', name);

  beforeAll(async () => {
    // Sequential: two cores, and resnet152 alone needs ~0.5 GB while exporting.
    for (const name of NAMES) {
      progress[name] = [];
      meta[name] = await exportModel(name, { outDir: dir(name), randomInit: true, onProgress: (l) => progress[name]!.push(l) });
    }
    measured = inspect(NAMES.map(dir), 64);
  });

  it.each(NAMES)('%s: finetuner.json follows the schema and matches the published architecture', (name) => {
    const m = meta[name]!;
    const ref = REFERENCE[name];
    // exportModel resolves to exactly what was written.
    expect(m).toEqual(JSON.parse(readFileSync(join(dir(name), 'finetuner.json'), 'utf8')));
    expect(m).toMatchObject({
      format: 'finetuner-backbone',
      formatVersion: 1,
      name,
      task: 'image-to-image',
      architecture: 'cnn',
      family: ref.family,
      size: 'full',
      weights: 'random-init',
      embeddingDim: ref.embeddingDim,
      trunk: LAYOUT[ref.family].trunk,
      head: LAYOUT[ref.family].head,
      pooling: 'avg',
      preprocessing: { ...PREPROCESSING[name], ...IMAGENET },
      parameters: { withHead: ref.withHead, withoutHead: ref.withoutHead },
      model: 'model.pt',
    });
    expect(m.versions.torch).toMatch(/^\d+\.\d+/);
    expect(m.versions.torchvision).toMatch(/^\d+\.\d+/);
    expect(m.versions.python).toMatch(/^3\.\d+\.\d+$/);
    // Only the finished files: no temporary names left behind.
    expect(readdirSync(dir(name)).sort()).toEqual(['finetuner.json', 'model.pt']);
    expect(progress[name]!.some((l) => l.includes('scripting'))).toBe(true);
  });

  it.each(NAMES)('%s: the scripted model.pt is the whole model, in eval mode, with the published size', (name) => {
    const got = measured[dir(name)];
    const ref = REFERENCE[name];
    expect(got.children).toEqual([...LAYOUT[ref.family].trunk, ...LAYOUT[ref.family].head]);
    expect(got.withHead).toBe(ref.withHead);
    expect(got.withoutHead).toBe(ref.withoutHead);
    expect(got.logits).toEqual([2, 1000]); // classification head included
    expect(got.trunkOutput.length).toBe(4);
    expect(got.trunkOutput[0]).toBe(2);
    expect(got.trunkOutput[1]).toBe(ref.embeddingDim); // N x C x H x W with C = embeddingDim
    expect(got.training).toBe(false);
  });
});

describe('tiny exports through the CLI', () => {
  const dir = (name: string, suffix = '') => join(tmp, 'tiny', name + suffix);
  const results: Record<string, ReturnType<typeof cli>> = {};
  let measured: Record<string, Inspection>;

  beforeAll(() => {
    for (const name of NAMES) results[name] = cli([name, '--out', dir(name), '--random-init', '--size', 'tiny']);
    measured = inspect(NAMES.map((n) => dir(n)), 32);
  });

  it.each(NAMES)('%s: small, same family and layout, real figures recorded', async (name) => {
    const r = results[name];
    expect(r.status, r.stderr).toBe(0);
    const m = await readMetadata(dir(name));
    // stdout is one JSON line; progress went to stderr.
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, dir: dir(name), embeddingDim: m.embeddingDim });
    expect(r.stderr).toContain(`${name}: done`);

    const ref = REFERENCE[name];
    expect(m).toMatchObject({ name, size: 'tiny', family: ref.family, ...LAYOUT[ref.family] });
    expect(m.embeddingDim).toBeLessThan(ref.embeddingDim);
    expect(m.parameters.withHead).toBeLessThan(1_500_000);
    expect(statSync(join(dir(name), 'model.pt')).size).toBeLessThan(6 << 20);

    // The recorded figures are the tiny model's own, measured from the file.
    const got = measured[dir(name)];
    expect(got.children).toEqual([...LAYOUT[ref.family].trunk, ...LAYOUT[ref.family].head]);
    expect(got.withHead).toBe(m.parameters.withHead);
    expect(got.withoutHead).toBe(m.parameters.withoutHead);
    expect(got.trunkOutput[1]).toBe(m.embeddingDim);
    expect(got.logits).toEqual([2, 1000]);
  });

  it('--seed makes random init reproducible', () => {
    // resnet50 tiny was exported with the default seed 0 above.
    expect(cli(['resnet50', '--out', dir('resnet50', '-seed0'), '--random-init', '--size', 'tiny', '--seed', '0']).status).toBe(0);
    expect(cli(['resnet50', '--out', dir('resnet50', '-seed1'), '--random-init', '--size', 'tiny', '--seed', '1']).status).toBe(0);
    const same = python<[boolean, boolean]>(
      `
import json, sys, torch
a, b, c = (torch.jit.load(d + "/model.pt").state_dict() for d in sys.argv[1:])
print(json.dumps([all(torch.equal(a[k], b[k]) for k in a), all(torch.equal(a[k], c[k]) for k in a)]))
`,
      [dir('resnet50'), dir('resnet50', '-seed0'), dir('resnet50', '-seed1')],
    );
    expect(same).toEqual([true, false]);
  });
});

describe('weights from a torchvision checkpoint', () => {
  // Named like torchvision's download, so the hub-cache lookup can find the same file.
  const CHECKPOINT_NAME = 'efficientnet_b0_rwightman-3dd342df.pth';
  let checkpoint: string;

  beforeAll(() => {
    checkpoint = join(tmp, 'checkpoints', CHECKPOINT_NAME);
    mkdirSync(join(tmp, 'checkpoints'), { recursive: true });
    // A real-format checkpoint: torch.save(state_dict) of torchvision's own model. Seeded apart from
    // --random-init's default, with BatchNorm statistics moved off their initial 0/1 so that buffers,
    // not just parameters, must arrive for the outputs to match.
    execFileSync(PYTHON, [
      '-c',
      `
import sys, torch, torchvision
torch.manual_seed(1234)
m = torchvision.models.efficientnet_b0()
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.running_mean.uniform_(-0.1, 0.1)
        mod.running_var.uniform_(0.5, 1.5)
torch.save(m.state_dict(), sys.argv[1])
`,
      checkpoint,
    ]);
  });

  // Compares DIR/model.pt with torchvision's model loaded from the checkpoint, in Python.
  function compare(dir: string) {
    return python<{ sameState: boolean; maxDiff: number; diffFromFresh: number }>(
      `
import json, sys, torch, torchvision
ckpt, d = sys.argv[1], sys.argv[2]
state = torch.load(ckpt)
ref = torchvision.models.efficientnet_b0()
ref.load_state_dict(state)
ref.eval()
fresh = torchvision.models.efficientnet_b0().eval()
scripted = torch.jit.load(d + "/model.pt")
x = torch.randn(2, 3, 96, 96)
with torch.no_grad():
    y, y_ref, y_fresh = scripted(x), ref(x), fresh(x)
exported = scripted.state_dict()
print(json.dumps({
    "sameState": exported.keys() == state.keys() and all(torch.equal(exported[k], state[k]) for k in state),
    "maxDiff": (y - y_ref).abs().max().item(),
    "diffFromFresh": (y - y_fresh).abs().max().item(),
}))
`,
      [checkpoint, dir],
    );
  }

  it('--weights FILE: the exported model computes what the checkpoint does', async () => {
    const out = join(tmp, 'weights', 'b0');
    const r = cli(['efficientnet_b0', '--out', out, '--weights', checkpoint]);
    expect(r.status, r.stderr).toBe(0);
    const m = await readMetadata(out);
    expect(m.weights).toBe(CHECKPOINT_NAME);
    expect(m.parameters).toEqual({ withHead: 5_288_548, withoutHead: 4_007_548 });
    const c = compare(out);
    expect(c.sameState).toBe(true);
    expect(c.maxDiff).toBeLessThan(1e-5);
    expect(c.diffFromFresh).toBeGreaterThan(1e-3); // the comparison can tell weights apart
  });

  it('without --weights, uses the checkpoint found in the torch hub cache', async () => {
    const torchHome = join(tmp, 'torch-home');
    mkdirSync(join(torchHome, 'hub', 'checkpoints'), { recursive: true });
    copyFileSync(checkpoint, join(torchHome, 'hub', 'checkpoints', CHECKPOINT_NAME));
    const out = join(tmp, 'weights', 'b0-hub');
    const r = cli(['efficientnet_b0', '--out', out], { TORCH_HOME: torchHome });
    expect(r.status, r.stderr).toBe(0);
    expect((await readMetadata(out)).weights).toBe(CHECKPOINT_NAME);
    expect(compare(out).sameState).toBe(true);
  });

  it('a checkpoint of another architecture fails strictly, naming the file and the first keys', () => {
    const out = join(tmp, 'weights', 'mismatch');
    const r = cli(['resnet50', '--size', 'tiny', '--out', out, '--weights', checkpoint]);
    expect(r.status).toBe(1);
    expect(r.lastErrorLine).toMatch(/^export_torchscript: error: checkpoint .* does not fit resnet50/);
    expect(r.lastErrorLine).toContain(checkpoint);
    expect(r.lastErrorLine).toContain('missing keys: conv1.weight');
    expect(r.lastErrorLine).toContain('unexpected keys: features.0.0.weight');
    expect(existsSync(join(out, 'finetuner.json'))).toBe(false);
  });

  it('a file that is not a checkpoint fails with one clear line', () => {
    const junk = join(tmp, 'junk.pth');
    writeFileSync(junk, 'not a checkpoint\n');
    const r = cli(['resnet50', '--size', 'tiny', '--out', join(tmp, 'weights', 'junk'), '--weights', junk]);
    expect(r.status).toBe(1);
    expect(r.lastErrorLine).toContain(`cannot read checkpoint ${junk}`);
  });
});

describe('export errors', () => {
  it('no weights and none in the hub cache: exit 2 and what to pass instead', () => {
    const out = join(tmp, 'errors', 'no-weights');
    const r = cli(['resnet50', '--out', out], { TORCH_HOME: join(tmp, 'errors', 'empty-torch-home') });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.lastErrorLine).toContain('no network here: pass --weights FILE with a torchvision checkpoint such as resnet50-0676ba61.pth, or --random-init');
    expect(existsSync(out)).toBe(false);
  });

  it('unknown model: exit 2, listing the known ones', () => {
    const r = cli(['resnet51', '--out', join(tmp, 'errors', 'unknown'), '--random-init']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      "export_torchscript: error: unknown model 'resnet51'; known models: bert-base-cased, efficientnet_b0, efficientnet_b4, resnet152, resnet50, sentence-transformers/msmarco-distilbert-base-v3",
    );
  });

  it('bad usage is one line, exit 2', () => {
    const r = cli(['resnet50', '--random-init']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--out');
  });

  it('exportModel rejects with the script error line, naming the model', async () => {
    const previous = process.env.TORCH_HOME;
    process.env.TORCH_HOME = join(tmp, 'errors', 'empty-torch-home');
    try {
      const err = await exportModel('resnet50', { outDir: join(tmp, 'errors', 'ts-no-weights') }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExportError);
      expect((err as ExportError).exitCode).toBe(2);
      expect((err as ExportError).model).toBe('resnet50');
      expect((err as Error).message).toMatch(/^export of resnet50 failed: no weights for resnet50 .*resnet50-0676ba61\.pth, or --random-init$/);
    } finally {
      if (previous === undefined) delete process.env.TORCH_HOME;
      else process.env.TORCH_HOME = previous;
    }
    // The registry answers before Python starts: unknown names get suggestions, unknown pretrained tags
    // of an open_clip model the known tags.
    await expect(exportModel('resnet51', { outDir: join(tmp, 'errors', 'ts-unknown'), randomInit: true })).rejects.toThrow(
      /Unknown model "resnet51".*resnet50/,
    );
    await expect(exportModel('RN50::laion9000', { outDir: join(tmp, 'errors', 'ts-clip'), randomInit: true })).rejects.toThrow(
      /Unknown pretrained tag "laion9000" for the open_clip model RN50: known tags are/,
    );
  });

  it('exportModel validates options before running Python', async () => {
    const outDir = join(tmp, 'errors', 'options');
    await expect(exportModel('resnet50', { outDir, weights: 'x.pth', randomInit: true })).rejects.toThrow(/"weights" and "randomInit"/);
    await expect(exportModel('resnet50', { outDir, randomInit: true, seed: -1 })).rejects.toThrow(/option "seed"/);
    await expect(exportModel('resnet50', { outDir, randomInit: true, size: 'huge' as 'full' })).rejects.toThrow(/option "size"/);
    await expect(exportModel('', { outDir })).rejects.toThrow(/name/);
  });

  it('exportModel explains how to install torch when Python lacks it', async () => {
    const missing = join(tmp, 'errors', 'no-such-python');
    await expect(exportModel('resnet50', { outDir: join(tmp, 'errors', 'py1'), randomInit: true, python: missing })).rejects.toThrow(
      `not found at ${missing}`,
    );
    // A Python that runs but cannot import torch (like a pyenv python3 first on PATH).
    mkdirSync(join(tmp, 'errors'), { recursive: true });
    const fake = join(tmp, 'errors', 'python-without-torch');
    writeFileSync(fake, "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n");
    chmodSync(fake, 0o755);
    const err = (await exportModel('resnet50', { outDir: join(tmp, 'errors', 'py2'), randomInit: true, python: fake }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(err.message).toContain(`${fake} cannot import torch and torchvision (ModuleNotFoundError: No module named 'torch')`);
    expect(err.message).toContain(TORCH_INSTALL_COMMAND);
  });

  it('the exporter script is found from the package root', () => {
    expect(exporterScript()).toBe(SCRIPT);
    expect(existsSync(join(packageRoot(), 'package.json'))).toBe(true);
  });
});

describe('readMetadata', () => {
  const good = (): BackboneMetadata => ({
    format: 'finetuner-backbone',
    formatVersion: 1,
    name: 'resnet50',
    task: 'image-to-image',
    architecture: 'cnn',
    family: 'resnet',
    size: 'full',
    weights: 'random-init',
    embeddingDim: 2048,
    trunk: LAYOUT.resnet.trunk,
    head: LAYOUT.resnet.head,
    pooling: 'avg',
    preprocessing: { resize: 256, crop: 224, interpolation: 'bilinear', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    parameters: { withHead: 25_557_032, withoutHead: 23_508_032 },
    versions: { torch: '1.13.0a0', torchvision: '0.14.1a0', python: '3.11.2' },
    model: 'model.pt',
  });
  function write(name: string, value: unknown, withModel = true): string {
    const dir = join(tmp, 'meta', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'finetuner.json'), typeof value === 'string' ? value : JSON.stringify(value));
    if (withModel) writeFileSync(join(dir, 'model.pt'), '');
    return dir;
  }

  it('accepts a valid file', async () => {
    expect(await readMetadata(write('ok', good()))).toEqual(good());
  });

  it('names the file and the field that is wrong', async () => {
    const cases: [string, (m: Record<string, unknown>) => void, string][] = [
      ['format', (m) => (m.format = 'finetuner-embedding'), 'field "format"'],
      ['dim', (m) => (m.embeddingDim = '2048'), 'field "embeddingDim" must be a positive integer'],
      ['trunk', (m) => (m.trunk = []), 'field "trunk"'],
      ['std', (m) => ((m.preprocessing as Record<string, unknown>).std = [0.2, 0.2]), 'field "preprocessing.std"'],
      ['params', (m) => delete (m.parameters as Record<string, unknown>).withoutHead, 'field "parameters.withoutHead"'],
      ['torch', (m) => ((m.versions as Record<string, unknown>).torch = 1), 'field "versions.torch"'],
      ['model', (m) => (m.model = '../model.pt'), 'field "model"'],
    ];
    for (const [name, mutate, message] of cases) {
      const m = good() as unknown as Record<string, unknown>;
      mutate(m);
      const dir = write(name, m);
      await expect(readMetadata(dir), name).rejects.toThrow(`${join(dir, 'finetuner.json')}: ${message}`);
    }
  });

  it('reports a missing directory, bad JSON and a missing model file', async () => {
    await expect(readMetadata(join(tmp, 'meta', 'absent'))).rejects.toThrow(/finetuner\.json not found/);
    await expect(readMetadata(write('json', '{"format":'))).rejects.toThrow(/finetuner\.json: not a finetuner\.json: invalid JSON/);
    await expect(readMetadata(write('no-model', good(), false))).rejects.toThrow(/field "model" names .*model\.pt, which does not exist/);
  });
});
