// finetuner export-onnx: a saved model (or a backbone, loaded with its default head) to ONNX for
// onnxruntime and other runtimes (lib/onnxExport.ts), the exporter's progress on stderr.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportModelOnnx, exportOnnxFromDir, type OnnxExportResult } from '../onnxExport.js';
import { EMBEDDING_FORMAT } from '../metadata.js';
import { existingPath, integerOption, note, out, requiredString, type Command } from './command.js';

async function isSavedModelDir(dir: string): Promise<boolean> {
  try {
    return (JSON.parse(await readFile(join(dir, 'finetuner.json'), 'utf8')) as { format?: unknown }).format === EMBEDDING_FORMAT;
  } catch {
    return false;
  }
}

export const exportOnnxCommand: Command = {
  name: 'export-onnx',
  summary: 'Write a model as ONNX (CLIP: one file per tower), with its tokenizer and a preprocessing JSON.',
  usage: ['export-onnx --model DIR --out FILE [--opset N]'],
  details:
    'The ONNX graph is the whole embedding model (trunk, pooling, projection, normalisation); output\n' +
    '"embeddings" (float32 N x D). Image models take "pixel_values" (float32 N x 3 x H x W, RGB / 255,\n' +
    'normalised with mean and std); text models take "input_ids" and "attention_mask" (int64 N x L).\n' +
    'Batch and length are dynamic. Beside FILE: FILE without .onnx + ".preprocessing.json" (input size,\n' +
    'resize, crop, mean, std, maxLength...) and tokenizer.json (text and CLIP). CLIP writes FILE-image.onnx\n' +
    'and FILE-text.onnx. Needs Python with torch (/usr/bin/python3 or $FINETUNER_PYTHON). A file already\n' +
    'there is replaced only if an earlier export to FILE wrote it.',
  options: {
    model: { type: 'string', value: 'DIR', description: 'a saved model (model.save, fit --output-dir) or an exported backbone', required: true },
    out: { type: 'string', value: 'FILE', description: 'the .onnx file to write', required: true },
    opset: { type: 'string', value: 'N', description: 'ONNX opset', default: '17, or the highest the installed torch has' },
  },
  async run(args) {
    const modelDir = existingPath(args, 'model')!;
    const outFile = requiredString(args, 'out');
    const opset = integerOption(args, 'opset', 9);
    const options = { opset, onProgress: (line: string) => note(line) };
    let files: OnnxExportResult;
    if (await isSavedModelDir(modelDir)) {
      files = await exportOnnxFromDir(modelDir, outFile, options, '--out');
    } else {
      // A backbone (or not a model at all: loadModel says what is wrong) gets its default head first.
      const { loadModel } = await import('../loadModel.js');
      const model = await loadModel(modelDir, { device: 'cpu' });
      try {
        files = await exportModelOnnx(model, outFile, options, '--out');
      } finally {
        model.dispose();
      }
    }
    const written = [files.image, files.text, files.tokenizer, files.preprocessing].filter((f): f is string => f !== undefined);
    out(`exported ${modelDir} to ONNX: ${written.join(', ')}`);
  },
};
