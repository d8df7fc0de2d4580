// finetuner info: versions and the loaded native binary, for bug reports. What does not need the addon is
// printed first, so a report is useful even when the addon fails to load.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot, runtimeInfo } from '../addonLoader.js';
import { flag, out, type Command } from './command.js';

export function packageVersion(): string {
  try {
    return String(JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version);
  } catch {
    return 'unknown';
  }
}

export const infoCommand: Command = {
  name: 'info',
  summary: 'Print finetuner, Node.js and LibTorch versions, CUDA state and which native binary loaded.',
  usage: ['info [--json]'],
  options: {
    json: { type: 'boolean', description: 'print as JSON' },
  },
  async run(args) {
    const base = {
      finetuner: packageVersion(),
      node: process.version,
      napi: process.versions.napi ?? 'unknown',
      platform: `${process.platform}-${process.arch}`,
      packageRoot: packageRoot(),
    };
    if (flag(args, 'json')) {
      out(JSON.stringify({ ...base, ...runtimeInfo() }, null, 2));
      return;
    }
    out(`finetuner        ${base.finetuner}`);
    out(`node             ${base.node} (N-API ${base.napi}, ${base.platform})`);
    out(`package root     ${base.packageRoot}`);
    const info = runtimeInfo(); // throws NativeLoadError with the fix when the addon does not load
    out(`native binary    ${info.path} (${info.source === 'prebuild' ? 'prebuild' : 'built from source'})`);
    out(`LibTorch         built against ${info.builtAgainst}, running ${info.runtime}`);
    out(`CUDA             ${info.cudaAvailable ? `available, ${info.cudaDeviceCount} device(s)` : 'not available'}`);
    out(`threads          ${info.threads}`);
  },
};
