// Fault scenarios of issue 10, run in a child process by test/faults.test.ts so that a crash (SIGABRT,
// SIGSEGV) or a hang is a failed test and not a dead test runner. Imports the built library (dist/).
// Usage: node [--expose-gc] test/helpers/faultChild.mjs SCENARIO ARGS...; the last stdout line is the
// scenario's result as JSON.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { loadModel } from '../../dist/index.js';
import { loadBinding } from '../../dist/addonLoader.js';

/** Deterministic pixels: rows x height x width x 3. */
function pixels(rows, height, width, seed) {
  const data = new Uint8Array(rows * height * width * 3);
  let state = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = state >>> 24;
  }
  return { pixels: data, rows, height, width };
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const errorOf = (error) => ({ name: error?.name, message: String(error?.message ?? error) });
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** Settles with the promise's outcome, or 'hung' after `ms`. */
async function within(promise, ms) {
  let timer;
  const timeout = new Promise((done) => (timer = setTimeout(() => done({ outcome: 'hung' }), ms)));
  const outcome = promise.then(
    (value) => ({ outcome: 'resolved', value }),
    (error) => ({ outcome: 'rejected', error: errorOf(error) }),
  );
  const result = await Promise.race([outcome, timeout]);
  clearTimeout(timer);
  return result;
}

const scenarios = {
  // Issue 10.1: terminate worker_threads while their model encodes, with more encodes queued behind.
  async 'worker-terminate'(modelDir, rounds = '8') {
    let terminated = 0;
    for (let round = 0; round < Number(rounds); round++) {
      const worker = new Worker(new URL(import.meta.url), { workerData: { modelDir } });
      await new Promise((ready, fail) => {
        worker.once('message', ready);
        worker.once('error', fail);
      });
      await sleep(round * 7);  // terminate at different points of the queued encodes
      await worker.terminate();
      terminated++;
    }
    // The addon still works in the main thread afterwards.
    const model = await loadModel(modelDir);
    const embeddings = await model.encodeBatch(pixels(2, 32, 32, 1));
    return { terminated, rows: embeddings.length / model.outputDim };
  },

  // Issue 10.2: transfer (detach) the input buffer while its encode waits behind a slower one.
  async detach(modelDir) {
    const model = await loadModel(modelDir);
    const size = 96;
    const reference = await model.encodeBatch(pixels(3, size, size, 7));
    const results = [];
    for (const mode of ['overwrite', 'free']) {
      const slow = model.encodeBatch(pixels(48, size, size, 3));  // keeps the compute thread busy
      const batch = pixels(3, size, size, 7);
      const pending = model.encodeBatch(batch);
      const moved = structuredClone(batch.pixels.buffer, { transfer: [batch.pixels.buffer] });
      if (mode === 'overwrite') new Uint8Array(moved).fill(0);
      // 'free': drop the only owner of the memory the queued job may still point at
      else globalThis.gc?.();
      const embeddings = await pending;
      await slow;
      results.push({ mode, detached: batch.pixels.byteLength === 0, maxDiff: maxAbsDiff(embeddings, reference) });
    }
    // Large buffers are mmapped and unmapped on free: a job reading one after GC faults.
    const big = 512;
    const bigReference = await model.encodeBatch(pixels(4, big, big, 11));
    const slow = model.encodeBatch(pixels(16, big, big, 5));
    const batch = pixels(4, big, big, 11);
    const pending = model.encodeBatch(batch);
    structuredClone(batch.pixels.buffer, { transfer: [batch.pixels.buffer] });
    globalThis.gc?.();
    await sleep(10);
    globalThis.gc?.();
    const embeddings = await pending;
    await slow;
    results.push({ mode: 'free-large', detached: batch.pixels.byteLength === 0, maxDiff: maxAbsDiff(embeddings, bigReference) });
    return { results };
  },

  // Issue 10.3: save onto a full file system, through the binding and the public API.
  async 'full-disk'(modelDir, fullDir) {
    const model = await loadModel(modelDir);
    const native = await within(model.nativeModel.save(`${fullDir}/model.pt`), 60_000);
    const library = await within(model.save(`${fullDir}/saved`), 60_000);
    // The model and the compute thread still work.
    const embeddings = await model.encodeBatch(pixels(2, 32, 32, 1));
    return { native, library, encoded: embeddings.length };
  },

  // Issue 10.4: thread counts out of range, then a job (which applies the count).
  async threads(modelDir) {
    const binding = loadBinding();
    const outcomes = {};
    for (const [label, value] of [['1e10', 1e10], ['1.5', 1.5], ['2**32+1', 4294967297], ['-1', -1], ['0', 0], ['NaN', NaN],
      ['Infinity', Infinity], ['string', '4'], ['2**31', 2 ** 31], ['1e6', 1e6]]) {
      try {
        binding.setNumThreads(value);
        outcomes[label] = 'accepted';
      } catch (error) {
        outcomes[label] = errorOf(error);
      }
    }
    const model = await loadModel(modelDir);
    const embeddings = await model.encodeBatch(pixels(2, 32, 32, 1));
    return { outcomes, threads: binding.runtimeInfo().threads, encoded: embeddings.length };
  },

  // Issue 10.4: OMP_NUM_THREADS out of range (set by the parent).
  async 'threads-env'(modelDir) {
    let load;
    try {
      loadBinding();
      load = 'accepted';
    } catch (error) {
      load = errorOf(error);
    }
    const model = await within(loadModel(modelDir).then((m) => m.encodeBatch(pixels(2, 32, 32, 1)).then((e) => e.length)), 60_000);
    return { load, model };
  },

  // Issue 10.9: a FIFO where model.pt should be, through the binding and loadModel; then a real load.
  async fifo(fifoPath, fifoModelDir, modelDir) {
    const binding = loadBinding();
    const raw = await within(binding.loadEmbeddingModel(fifoPath, { device: 'cpu' }), 10_000);
    const library = await within(loadModel(fifoModelDir), 10_000);
    const after = await within(loadModel(modelDir).then((m) => m.encodeBatch(pixels(2, 32, 32, 1)).then((e) => e.length)), 10_000);
    return { raw, library, after };
  },

  // Issue 10.10: loading corrupt model files (saved models and backbones).
  async corrupt(...dirs) {
    const outcomes = [];
    for (const dir of dirs) outcomes.push(await within(loadModel(dir).then((m) => m.outputDim), 60_000));
    return { outcomes };
  },
};

async function encodeUntilTerminated() {
  const model = await loadModel(workerData.modelDir);
  parentPort.postMessage('encoding');
  for (;;) {
    // Several encodes in flight, so termination finds jobs running, queued and completing.
    await Promise.all([1, 2, 3, 4].map((seed) => model.encodeBatch(pixels(8, 64, 64, seed))));
  }
}

if (!isMainThread) {
  await encodeUntilTerminated();
} else {
  const [scenario, ...args] = process.argv.slice(2);
  const result = await scenarios[scenario](...args);
  console.log(JSON.stringify(result));
  // Nothing may keep the process alive after the scenario (a job stuck on the compute thread would).
  process.exitCode = 0;
}
