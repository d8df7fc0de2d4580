// The 38 backbones of shared/backbones.csv, embedded as data because the published package cannot read the
// repository's shared/ folder at run time. test/registry.test.ts checks this list against the CSV.
//
// `outputDim` is what the exported model really produces. It equals the source table's figure for every
// row but openai/clip-vit-large-patch14: the table says 1024 (the width of its vision tower), the model
// projects to 768 (open_clip ViT-L-14 embed_dim 768). The table's figure is kept as `sourceTableOutputDim`.

import { formatTable } from './table.js';

export const TASKS = ['text-to-text', 'image-to-image', 'text-to-image'] as const;
export type Task = (typeof TASKS)[number];
export type Architecture = 'cnn' | 'transformer';
/** Where scripts/export_torchscript gets the architecture from. */
export type ExportSource = 'torchvision' | 'huggingface' | 'open_clip' | 'open_clip-mclip';
export type Interpolation = 'bilinear' | 'bicubic' | 'nearest';

/** How texts are prepared for the model: WordPiece tokens up to maxLength (special tokens included), then pooled. */
export interface TextPreprocessingInfo {
  /** Most tokens per text (the model's position embeddings); longer texts are truncated. */
  maxLength: number;
  /** Pooling of the token states over the attention mask. */
  pooling: 'mean' | 'cls' | 'max';
}

/** How images are prepared for the model: resize the shorter side, centre crop, normalise (RGB). */
export interface ImagePreprocessing {
  resize: number;
  crop: number;
  interpolation: Interpolation;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

export interface ModelInfo {
  name: string;
  task: Task;
  /** Width of the embedding the exported model produces. */
  outputDim: number;
  /** The output_dim of the source table (shared/backbones.csv); differs from outputDim only where `note` says why. */
  sourceTableOutputDim: number;
  architecture: Architecture;
  description: string;
  exportSource: ExportSource;
  /** Whether this version of finetuner can export and train it (image-to-image CNNs and text-to-text encoders). */
  available: boolean;
  /** Image preprocessing, for models with an image tower. */
  preprocessing?: ImagePreprocessing;
  /** Text preprocessing, for the text-to-text encoders. */
  text?: TextPreprocessingInfo;
  /** open_clip rows: the `model::pretrained` name split in two. */
  openClip?: { model: string; pretrained: string };
  note?: string;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

// Image sizes of open_clip's docs/model_profile.csv (shared/reference/open_clip_model_profile.csv).
const OPEN_CLIP_IMAGE_SIZE: Readonly<Record<string, number>> = {
  'ViT-B-32': 224, 'ViT-B-32-quickgelu': 224, 'RN50': 224, 'RN50-quickgelu': 224, 'RN101': 224,
  'RN101-quickgelu': 224, 'ViT-B-16': 224, 'RN50x4': 288, 'ViT-B-16-plus-240': 240,
  'xlm-roberta-base-ViT-B-32': 224, 'RN50x16': 384, 'ViT-L-14': 224, 'ViT-L-14-336': 336, 'RN50x64': 448,
};

// torchvision's V1 ImageNet weights (shared/reference/architectures.md).
function torchvisionPrep(resize: number, crop: number, interpolation: Interpolation): ImagePreprocessing {
  return { resize, crop, interpolation, mean: IMAGENET_MEAN, std: IMAGENET_STD };
}

// CLIP resizes the shorter side straight to the model's image size, then centre crops that size.
function clipPrep(size: number): ImagePreprocessing {
  return { resize: size, crop: size, interpolation: 'bicubic', mean: CLIP_MEAN, std: CLIP_STD };
}

function cnn(name: string, dim: number, description: string, prep: ImagePreprocessing): ModelInfo {
  return {
    name, task: 'image-to-image', outputDim: dim, sourceTableOutputDim: dim, architecture: 'cnn',
    description, exportSource: 'torchvision', available: true, preprocessing: prep,
  };
}

// BERT and DistilBERT both have 512 position embeddings; mean pooling over the attention mask is what
// sentence-transformers uses for msmarco-distilbert-base-v3 and finetuner's default for text.
function textModel(name: string, dim: number, description: string): ModelInfo {
  return {
    name, task: 'text-to-text', outputDim: dim, sourceTableOutputDim: dim, architecture: 'transformer',
    description, exportSource: 'huggingface', available: true, text: { maxLength: 512, pooling: 'mean' },
  };
}

function hfClip(name: string, dim: number, description: string, imageSize: number): ModelInfo {
  return {
    name, task: 'text-to-image', outputDim: dim, sourceTableOutputDim: dim, architecture: 'transformer',
    description, exportSource: 'huggingface', available: true, preprocessing: clipPrep(imageSize),
  };
}

// Every open_clip row's description in the source table is `Open CLIP "<name>" model` (MCLIP for the
// multilingual one), so it is derived from the name rather than repeated 28 times.
function openClip(name: string, dim: number): ModelInfo {
  const [model, pretrained] = name.split('::') as [string, string];
  const size = OPEN_CLIP_IMAGE_SIZE[model];
  if (size === undefined) throw new Error(`registry: no image size known for open_clip model ${model}`);
  const mclip = model.startsWith('xlm-roberta');
  return {
    name, task: 'text-to-image', outputDim: dim, sourceTableOutputDim: dim, architecture: 'transformer',
    description: `Open ${mclip ? 'MCLIP' : 'CLIP'} "${name}" model`,
    exportSource: mclip ? 'open_clip-mclip' : 'open_clip', available: true,
    preprocessing: clipPrep(size), openClip: { model, pretrained },
  };
}

// Source-table order.
const MODELS: readonly ModelInfo[] = [
  textModel('bert-base-cased', 768, 'BERT model pre-trained on BookCorpus and English Wikipedia'),
  textModel('sentence-transformers/msmarco-distilbert-base-v3', 768, 'Pretrained BERT, fine-tuned on MS Marco'),
  cnn('efficientnet_b0', 1280, 'EfficientNet B0 pre-trained on ImageNet', torchvisionPrep(256, 224, 'bicubic')),
  cnn('efficientnet_b4', 1792, 'EfficientNet B4 pre-trained on ImageNet', torchvisionPrep(384, 380, 'bicubic')),
  cnn('resnet152', 2048, 'ResNet152 pre-trained on ImageNet', torchvisionPrep(256, 224, 'bilinear')),
  cnn('resnet50', 2048, 'ResNet50 pre-trained on ImageNet', torchvisionPrep(256, 224, 'bilinear')),
  hfClip('openai/clip-vit-base-patch16', 512, 'CLIP base model with patch size 16', 224),
  hfClip('openai/clip-vit-base-patch32', 512, 'CLIP base model', 224),
  hfClip('openai/clip-vit-large-patch14-336', 768, 'CLIP large model for 336x336 images', 336),
  {
    ...hfClip('openai/clip-vit-large-patch14', 768, 'CLIP large model with patch size 14', 224),
    sourceTableOutputDim: 1024,
    note:
      'The source table lists output_dim 1024, which is the width of the ViT-L/14 vision tower; the ' +
      'published model projects image and text embeddings to 768 (open_clip ViT-L-14 embed_dim 768).',
  },
  ...([
    ['RN101::openai', 512], ['RN101-quickgelu::openai', 512], ['RN101-quickgelu::yfcc15m', 512],
    ['RN101::yfcc15m', 512], ['RN50::cc12m', 1024], ['RN50::openai', 1024], ['RN50-quickgelu::cc12m', 1024],
    ['RN50-quickgelu::openai', 1024], ['RN50-quickgelu::yfcc15m', 1024], ['RN50x16::openai', 768],
    ['RN50x4::openai', 640], ['RN50x64::openai', 1024], ['RN50::yfcc15m', 1024],
    ['ViT-B-16::laion400m_e31', 512], ['ViT-B-16::laion400m_e32', 512], ['ViT-B-16::openai', 512],
    ['ViT-B-16-plus-240::laion400m_e31', 640], ['ViT-B-16-plus-240::laion400m_e32', 640],
    ['ViT-B-32::laion2b_e16', 512], ['ViT-B-32::laion400m_e31', 512], ['ViT-B-32::laion400m_e32', 512],
    ['ViT-B-32::openai', 512], ['ViT-B-32-quickgelu::laion400m_e31', 512],
    ['ViT-B-32-quickgelu::laion400m_e32', 512], ['ViT-B-32-quickgelu::openai', 512],
    ['ViT-L-14-336::openai', 768], ['ViT-L-14::openai', 768],
    ['xlm-roberta-base-ViT-B-32::laion5b_s13b_b90k', 512],
  ] as const).map(([name, dim]) => openClip(name, dim)),
];

const BY_NAME = new Map(MODELS.map((m) => [m.name, m]));

function copyInfo(info: ModelInfo): ModelInfo {
  // Callers get copies so they cannot change the registry by mutating what they were given.
  return {
    ...info,
    ...(info.preprocessing && { preprocessing: { ...info.preprocessing } }),
    ...(info.text && { text: { ...info.text } }),
    ...(info.openClip && { openClip: { ...info.openClip } }),
  };
}

/** All 38 backbones, in the source table's order. */
export function listModels(): ModelInfo[] {
  return MODELS.map(copyInfo);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Up to `max` registered names close to `name`: containing it, or within a small edit distance. */
export function suggestModelNames(name: string, max = 3): string[] {
  const q = name.trim().toLowerCase();
  if (q === '') return [];
  const scored = MODELS.map((m) => {
    const n = m.name.toLowerCase();
    // A substring match ("resnet", "clip-vit-base") beats any edit distance.
    const score = n.includes(q) || q.includes(n) ? 0 : editDistance(q, n);
    return { name: m.name, score };
  });
  const limit = Math.max(2, Math.floor(q.length / 3));
  return scored
    .filter((s) => s.score <= limit)
    .sort((a, b) => a.score - b.score)
    .slice(0, max)
    .map((s) => s.name);
}

/** The backbone called `name`; throws an Error naming it and suggesting close names if it is unknown. */
export function getModel(name: string): ModelInfo {
  const info = BY_NAME.get(name);
  if (info) return copyInfo(info);
  // open_clip names are MODEL::PRETRAINED: a known model with a tag it was not published with.
  const [model, tag] = String(name).split('::', 2);
  const tags = MODELS.filter((m) => m.openClip?.model === model).map((m) => m.openClip!.pretrained);
  if (tag !== undefined && tags.length > 0) {
    throw new Error(
      `Unknown pretrained tag "${tag}" for the open_clip model ${model}: known tags are ${tags.join(', ')} ` +
        `(use "${model}::${tags[0]}", or another of them).`,
    );
  }
  const close = suggestModelNames(String(name));
  const hint = close.length > 0 ? ` Did you mean ${close.map((n) => `"${n}"`).join(', ')}?` : '';
  throw new Error(
    `Unknown model "${name}".${hint} Run \`finetuner describe\` (or describeModels()) to list the ` +
      `${MODELS.length} backbones.`,
  );
}

/** Like getModel, but also throws when this version cannot export and train the model yet. */
export function requireAvailable(name: string): ModelInfo {
  const info = getModel(name);
  if (info.available) return info;
  const built = MODELS.filter((m) => m.available).map((m) => m.name);
  throw new Error(
    `Model "${name}" (${info.task}) is not built yet in this version of finetuner: ${info.task} ` +
      `backbones come in a later release. Available now: ${built.join(', ')}.`,
  );
}

export function isTask(value: unknown): value is Task {
  return typeof value === 'string' && (TASKS as readonly string[]).includes(value);
}

// A type alias rather than an interface so rows fit formatTable's Record<string, TableCell> parameter.
export type DescribeRow = {
  name: string;
  task: Task;
  output_dim: number;
  architecture: Architecture;
  description: string;
};

export interface DescribeOptions {
  /** Only this task; all tasks when omitted or 'all'. */
  task?: Task | 'all';
  /** Where the table goes; console.log by default. Pass `() => {}` to only get the rows. */
  write?: (text: string) => void;
}

export const DESCRIBE_COLUMNS = ['name', 'task', 'output_dim', 'architecture', 'description'] as const;

/**
 * Prints a table titled `Finetuner backbones: <task>` (`all` without a task) with the columns name, task,
 * output_dim, architecture, description, and returns its rows, as the original finetuner.describe_models.
 */
export function describeModels(options: DescribeOptions = {}): DescribeRow[] {
  const task = options.task ?? 'all';
  if (task !== 'all' && !isTask(task)) {
    throw new Error(
      `describeModels: unknown task ${JSON.stringify(task)}; valid tasks are ${TASKS.join(', ')} ` +
        `(or omit \`task\` for all).`,
    );
  }
  const rows: DescribeRow[] = MODELS.filter((m) => task === 'all' || m.task === task).map((m) => ({
    name: m.name,
    task: m.task,
    output_dim: m.outputDim,
    architecture: m.architecture,
    description: m.description,
  }));
  const write = options.write ?? ((text: string) => console.log(text));
  write(formatTable(`Finetuner backbones: ${task}`, DESCRIBE_COLUMNS, rows));
  return rows;
}
