// Child process for the kill -9 fault test (test/output-dir.test.ts): loads a backbone once, then writes
// it to OUT again and again, through save() or through fit({ outputDir }), printing "ready" once and
// "saved N" after each complete write. The parent kills it at random moments.
// Usage: node save-loop.mjs BACKBONE_DIR OUT save|fit
import { fit, loadModel } from '../../dist/index.js';

const [backbone, out, mode] = process.argv.slice(2);
const images = [];
for (let i = 0; i < 8; i++) {
  const data = new Uint8Array(16 * 16 * 3).fill(i % 2 ? 200 : 30);
  images.push({ image: { pixels: data, width: 16, height: 16, channels: 3 }, label: String(i % 2) });
}
const model = await loadModel(backbone, { device: 'cpu', outputDim: 8, imageSize: 16 });
process.stdout.write('ready\n');
for (let generation = 1; ; generation++) {
  if (mode === 'fit') {
    await fit({ model, trainData: images, epochs: 1, batchSize: 4, numItemsPerClass: 2, outputDir: out });
  } else {
    await model.save(out, { training: { generation } });
  }
  process.stdout.write(`saved ${generation}\n`);
}
