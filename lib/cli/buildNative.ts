// finetuner build-native: builds finetuner.node from source with cmake-js, for installs where npm skipped
// the install script (npm 11 does so for dependencies unless approved) or where the prebuild does not
// match the installed LibTorch.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LIBTORCH_INSTALL_COMMAND, packageRoot, runtimeInfo } from '../addonLoader.js';
import { flag, note, out, type Command } from './command.js';

export const buildNativeCommand: Command = {
  name: 'build-native',
  summary: 'Build the native addon (build/Release/finetuner.node) from source with cmake-js.',
  usage: ['build-native [--debug] [-- CMAKE-JS-ARGS...]'],
  details:
    'Needs cmake, a C++17 compiler and LibTorch, found in this order: $LIBTORCH, a PyTorch installation\n' +
    `found through python3, the system (${LIBTORCH_INSTALL_COMMAND}).\n` +
    'Arguments after -- go to `cmake-js compile` unchanged.',
  positionals: { min: 0, max: Number.POSITIVE_INFINITY },
  options: {
    debug: { type: 'boolean', description: 'build with debug symbols (cmake-js --debug)' },
  },
  async run(args) {
    const root = packageRoot();
    const cmakeJs = cmakeJsBin(root);
    const cmakeArgs = ['compile', '--out', 'build', ...(flag(args, 'debug') ? ['--debug'] : []), ...args.positionals];
    note(`building the native addon in ${root}: cmake-js ${cmakeArgs.join(' ')}`);
    // The child writes straight to our terminal so the compiler's output streams as it comes.
    const code = await new Promise<number | string>((resolvePromise, reject) => {
      const child = spawn(process.execPath, [cmakeJs, ...cmakeArgs], { cwd: root, stdio: 'inherit' });
      child.on('error', (error) => reject(new Error(`cannot run cmake-js (${cmakeJs}): ${error.message}`)));
      child.on('close', (exitCode, signal) => resolvePromise(exitCode ?? signal ?? 'unknown'));
    });
    if (code !== 0) {
      throw new Error(
        `cmake-js compile failed (${typeof code === 'number' ? `exit code ${code}` : code}); its output above says why. ` +
          `It needs cmake, g++ and LibTorch (${LIBTORCH_INSTALL_COMMAND}, or LIBTORCH=/path/to/libtorch).`,
      );
    }
    // Nothing has loaded the addon in this process yet, so this loads the fresh build (or explains why not).
    const info = runtimeInfo();
    out(`built ${info.path}: LibTorch ${info.runtime}, CUDA ${info.cudaAvailable ? 'available' : 'not available'}`);
  },
};

/** cmake-js's CLI script, resolved from the package root as npm installed it (a dependency of finetuner). */
function cmakeJsBin(root: string): string {
  const require = createRequire(join(root, 'package.json'));
  let manifest: string;
  try {
    manifest = require.resolve('cmake-js/package.json');
  } catch {
    throw new Error(`cmake-js is not installed next to finetuner (${root}); install it with: npm install cmake-js`);
  }
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: string | Record<string, string> };
  const relative = typeof bin === 'string' ? bin : bin?.['cmake-js'];
  const script = relative ? join(dirname(manifest), relative) : undefined;
  if (!script || !existsSync(script)) throw new Error(`cmake-js at ${dirname(manifest)} has no cmake-js bin script`);
  return script;
}
