import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import {
  describeModels,
  getModel,
  listModels,
  requireAvailable,
  suggestModelNames,
} from '../lib/registry.js';
import { formatTable } from '../lib/table.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const sourceCsv = join(repoRoot, '..', 'shared', 'backbones.csv');
const haveSource = existsSync(sourceCsv);
if (!haveSource) console.warn(`registry.test: ${sourceCsv} not found; skipping the source-table comparison`);

interface SourceRow {
  name: string;
  task: string;
  output_dim_in_source_table: string;
  architecture: string;
  description: string;
  note: string;
}

describe('registry', () => {
  it('lists 38 backbones with unique names', () => {
    const models = listModels();
    expect(models).toHaveLength(38);
    expect(new Set(models.map((m) => m.name)).size).toBe(38);
  });

  it.skipIf(!haveSource)('matches shared/backbones.csv row by row, in order', () => {
    const rows = parse(readFileSync(sourceCsv), { columns: true }) as SourceRow[];
    const models = listModels();
    expect(models.map((m) => m.name)).toEqual(rows.map((r) => r.name));
    for (const [i, row] of rows.entries()) {
      const m = models[i]!;
      expect({ name: m.name, task: m.task, architecture: m.architecture, description: m.description }).toEqual({
        name: row.name,
        task: row.task,
        architecture: row.architecture,
        description: row.description,
      });
      expect(m.sourceTableOutputDim).toBe(Number(row.output_dim_in_source_table));
      if (row.name === 'openai/clip-vit-large-patch14') {
        // The one documented discrepancy: the published model projects to 768.
        expect(m.outputDim).toBe(768);
        expect(m.note).toMatch(/1024/);
      } else {
        expect(m.outputDim, row.name).toBe(Number(row.output_dim_in_source_table));
        expect(m.note).toBeUndefined();
      }
    }
  });

  it('marks all 38 rows available: 4 CNNs, 2 text encoders, 32 CLIPs', () => {
    const available = listModels().filter((m) => m.available);
    expect(available).toHaveLength(38);
    const cnns = available.filter((m) => m.task === 'image-to-image');
    expect(cnns).toHaveLength(4);
    expect(cnns.every((m) => m.exportSource === 'torchvision' && m.architecture === 'cnn')).toBe(true);
    expect(available.filter((m) => m.task === 'text-to-text')).toHaveLength(2);
    expect(available.filter((m) => m.task === 'text-to-image')).toHaveLength(32);
    expect(getModel('resnet50').preprocessing).toMatchObject({ resize: 256, crop: 224, interpolation: 'bilinear' });
    expect(getModel('efficientnet_b0').preprocessing).toMatchObject({ resize: 256, crop: 224, interpolation: 'bicubic' });
    expect(getModel('efficientnet_b4').preprocessing).toMatchObject({ resize: 384, crop: 380, interpolation: 'bicubic' });
    expect(getModel('resnet152').preprocessing?.mean).toEqual([0.485, 0.456, 0.406]);
  });

  it('gives the text-to-text encoders their 768-dim output and text preprocessing', () => {
    for (const name of ['bert-base-cased', 'sentence-transformers/msmarco-distilbert-base-v3']) {
      const m = getModel(name);
      expect(m).toMatchObject({
        task: 'text-to-text', architecture: 'transformer', exportSource: 'huggingface', available: true, outputDim: 768,
        text: { maxLength: 512, pooling: 'mean' },
      });
      expect(m.preprocessing).toBeUndefined();
    }
    const copy = getModel('bert-base-cased');
    copy.text!.maxLength = 1;
    expect(getModel('bert-base-cased').text!.maxLength).toBe(512);
  });

  it('gives CLIP rows bicubic CLIP preprocessing at their image size', () => {
    expect(getModel('openai/clip-vit-large-patch14-336').preprocessing).toMatchObject({
      resize: 336, crop: 336, interpolation: 'bicubic', mean: [0.48145466, 0.4578275, 0.40821073],
    });
    expect(getModel('RN50x64::openai').preprocessing?.crop).toBe(448);
    expect(getModel('ViT-B-16-plus-240::laion400m_e31').preprocessing?.crop).toBe(240);
    expect(getModel('RN50x4::openai').openClip).toEqual({ model: 'RN50x4', pretrained: 'openai' });
    expect(getModel('xlm-roberta-base-ViT-B-32::laion5b_s13b_b90k').exportSource).toBe('open_clip-mclip');
    expect(getModel('bert-base-cased').preprocessing).toBeUndefined();
  });

  it('returns copies that cannot change the registry', () => {
    const m = getModel('resnet50');
    m.outputDim = 1;
    m.preprocessing!.crop = 1;
    expect(getModel('resnet50').outputDim).toBe(2048);
    expect(getModel('resnet50').preprocessing!.crop).toBe(224);
  });

  it('names an unknown model and suggests close names', () => {
    expect(() => getModel('resnet51')).toThrow(/Unknown model "resnet51"\. Did you mean "resnet50"/);
    expect(suggestModelNames('efficientnet')).toEqual(['efficientnet_b0', 'efficientnet_b4']);
    expect(() => getModel('zzzzzzzzzzzzzzzzzzzzzzzz')).toThrow(/^Unknown model "z+"\. Run/);
  });

  it('requireAvailable gives every row and names unknown pretrained tags', () => {
    expect(requireAvailable('resnet50').name).toBe('resnet50');
    expect(requireAvailable('bert-base-cased').task).toBe('text-to-text');
    expect(requireAvailable('openai/clip-vit-base-patch32').task).toBe('text-to-image');
    expect(requireAvailable('ViT-B-32::openai').openClip).toEqual({ model: 'ViT-B-32', pretrained: 'openai' });
    expect(() => requireAvailable('ViT-B-32::laion9000')).toThrow(
      /Unknown pretrained tag "laion9000" for the open_clip model ViT-B-32: known tags are laion2b_e16, laion400m_e31, laion400m_e32, openai/,
    );
    expect(() => requireAvailable('nope')).toThrow(/Unknown model "nope"/);
  });
});

describe('describeModels', () => {
  it('prints a titled table of all models and returns its rows', () => {
    const out: string[] = [];
    const rows = describeModels({ write: (t) => out.push(t) });
    expect(rows).toHaveLength(38);
    expect(Object.keys(rows[0]!)).toEqual(['name', 'task', 'output_dim', 'architecture', 'description']);
    const lines = out.join('\n').split('\n');
    expect(lines[0]).toBe('Finetuner backbones: all');
    expect(lines[1]!.split('|').map((s) => s.trim())).toEqual(['name', 'task', 'output_dim', 'architecture', 'description']);
    expect(lines).toHaveLength(3 + 38);
    expect(lines.find((l) => l.startsWith('openai/clip-vit-large-patch14 '))).toMatch(/\|\s+768 \|/);
  });

  it('filters by task', () => {
    const out: string[] = [];
    const rows = describeModels({ task: 'image-to-image', write: (t) => out.push(t) });
    expect(rows.map((r) => r.name)).toEqual(['efficientnet_b0', 'efficientnet_b4', 'resnet152', 'resnet50']);
    expect(out[0]!.split('\n')[0]).toBe('Finetuner backbones: image-to-image');
    expect(describeModels({ task: 'text-to-text', write: () => {} })).toHaveLength(2);
    expect(describeModels({ task: 'text-to-image', write: () => {} })).toHaveLength(32);
  });

  it('names a bad task and the valid ones', () => {
    expect(() => describeModels({ task: 'image' as never, write: () => {} })).toThrow(
      /unknown task "image"; valid tasks are text-to-text, image-to-image, text-to-image/,
    );
  });
});

describe('formatTable', () => {
  it('aligns columns, right-aligns numbers and trims trailing spaces', () => {
    const text = formatTable('T', ['a', 'n'], [{ a: 'xx', n: 5 }, { a: 'y', n: 1234 }]);
    expect(text).toBe(['T', 'a  |    n', '---+-----', 'xx |    5', 'y  | 1234'].join('\n'));
  });

  it('cuts long cells and flattens newlines', () => {
    const text = formatTable('T', ['a'], [{ a: 'abcdefgh' }, { a: 'x\ny' }], { maxCellWidth: 4 });
    expect(text.split('\n').slice(3)).toEqual(['abc…', 'x y']);
  });
});
