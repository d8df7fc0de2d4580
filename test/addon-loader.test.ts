import { afterEach, describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { checkVersions, defaultThreads, NativeLoadError, runtimeInfo, setNumThreads } from '../lib/addonLoader.js';

describe('native loader', () => {
  afterEach(() => {
    delete process.env.FINETUNER_ALLOW_LIBTORCH_MISMATCH;
  });

  it('reports the LibTorch it was built against and runs against, CUDA and the binary', () => {
    const info = runtimeInfo();
    expect(info.builtAgainst).toMatch(/^\d+\.\d+/);
    expect(info.runtime).toMatch(/^\d+\.\d+/);
    expect(info.runtime.split('.').slice(0, 2)).toEqual(info.builtAgainst.split('.').slice(0, 2));
    expect(typeof info.cudaAvailable).toBe('boolean');
    expect(info.path).toMatch(/finetuner(\.napi)?\.node$/);
  });

  it('a LibTorch version mismatch is an error that says what to install or rebuild', () => {
    let error: unknown;
    try {
      checkVersions({ builtAgainst: '2.1.0', runtime: '1.13.0' }, '/x/finetuner.node');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NativeLoadError);
    expect((error as Error).message).toMatch(/built against LibTorch 2\.1\.0 but LibTorch 1\.13\.0 is loaded/);
    expect((error as Error).message).toMatch(/finetuner build-native/);
    expect((error as Error).message).toMatch(/apt-get install -y libtorch-dev/);
  });

  it('the same minor version passes, and the override turns a mismatch into a warning', () => {
    expect(() => checkVersions({ builtAgainst: '1.13.0', runtime: '1.13.1' }, 'f')).not.toThrow();
    process.env.FINETUNER_ALLOW_LIBTORCH_MISMATCH = '1';
    expect(() => checkVersions({ builtAgainst: '2.1.0', runtime: '1.13.0' }, 'f')).not.toThrow();
  });

  it('takes intra-op threads from OMP_NUM_THREADS, else the CPUs this process may use; setNumThreads changes them', () => {
    expect(defaultThreads({ OMP_NUM_THREADS: '3' })).toBe(3);
    expect(defaultThreads({})).toBe(availableParallelism());
    expect(() => defaultThreads({ OMP_NUM_THREADS: 'many' })).toThrow(/^OMP_NUM_THREADS=many is not a thread count/);
    expect(runtimeInfo().threads).toBe(defaultThreads());
    setNumThreads(1);
    expect(runtimeInfo().threads).toBe(1);
    setNumThreads(defaultThreads());
    expect(() => setNumThreads(0)).toThrow(/threads must be an integer from 1 to 1024, got 0/);
  });
});
