// Encodes one batch twice with a model in a fresh process (so FINETUNER_CPU_CACHE_MB, read when the addon
// loads, takes effect) and prints { embeddings, cpuCache } as JSON, for test/cpu-cache.test.ts.
// Usage: node test/helpers/cpuCacheChild.mjs MODEL_DIR
import { loadModel, runtimeInfo } from '../../dist/index.js';

const model = await loadModel(process.argv[2], { device: 'cpu', precision: 'fp32', imageSize: 160 });
const pixels = Uint8Array.from({ length: 160 * 160 * 3 * 8 }, (_, i) => (i * 37) % 251);
const images = Array.from({ length: 8 }, (_, n) => ({ pixels: pixels.subarray(n * 160 * 160 * 3, (n + 1) * 160 * 160 * 3), width: 160, height: 160, channels: 3 }));
const first = await model.encode(images);
const second = await model.encode(images);
model.dispose();
process.stdout.write(`${JSON.stringify({ first: Array.from(first.data), second: Array.from(second.data), cpuCache: runtimeInfo().cpuCache })}\n`);
