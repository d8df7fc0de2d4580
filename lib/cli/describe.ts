// finetuner describe: the table of registered backbones (describeModels).
import { TASKS, describeModels } from '../registry.js';
import { choiceOption, flag, out, type Command } from './command.js';

export const describeCommand: Command = {
  name: 'describe',
  summary: 'List the backbones finetuner knows, with their task, output dimension and architecture.',
  usage: ['describe [--task T] [--json]'],
  options: {
    task: { type: 'string', value: 'T', description: `only this task: ${TASKS.join(', ')} or all`, default: 'all' },
    json: { type: 'boolean', description: 'print the rows as JSON instead of a table' },
  },
  async run(args) {
    const task = choiceOption(args, 'task', [...TASKS, 'all'] as const);
    const json = flag(args, 'json');
    const rows = describeModels({ task, write: json ? () => undefined : out });
    if (json) out(JSON.stringify(rows, null, 2));
  },
};
