// `finetuner demo [--task T]`: dispatches to the demo of a task (images: Fashion-MNIST; text: WordNet;
// text-to-image: captioned Fashion-MNIST).
import { isTask } from '../registry.js';

const TASK_DEMOS = {
  'image-to-image': async (argv: string[]) => (await import('./demo/images.js')).runImageDemo(argv),
  'text-to-text': async (argv: string[]) => (await import('./demo/text.js')).runTextDemo(argv),
  'text-to-image': async (argv: string[]) => (await import('./demo/clip.js')).runClipDemo(argv),
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
