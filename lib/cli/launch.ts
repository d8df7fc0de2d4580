// finetuner launch: runs a finetuner command line in N local worker processes with torchrun's variables
// set (lib/distributed/launcher.ts), as `torchrun --standalone --nproc_per_node N` does for Python.
import { LAUNCH_DEFAULTS, launchWorkers } from '../distributed/launcher.js';
import { NON_NEGATIVE_NUMBER, POSITIVE_INTEGER } from '../numericOption.js';
import { UsageError, choiceOption, numberOption, type Command } from './command.js';
import { handOverInterrupts } from './interrupt.js';

const OUTPUT_MODES = ['prefix', 'inherit'] as const;
const PORT_RANGE = { integer: true, min: 1, max: 65535 };

export const launchCommand: Command = {
  name: 'launch',
  summary: "Run a finetuner command in N local worker processes with torchrun's variables set (distributed fit on one machine).",
  usage: ['launch --nproc N [--master-port P] [--output MODE] [--grace-period S] VERB [VERB options]'],
  details:
    'Starts N copies of `finetuner VERB ...` (this Node.js binary, this CLI), worker i with RANK=i,\n' +
    'LOCAL_RANK=i, WORLD_SIZE=N, LOCAL_WORLD_SIZE=N, MASTER_ADDR=127.0.0.1 and MASTER_PORT (a free port\n' +
    'unless --master-port), as `torchrun --standalone --nproc_per_node N` does. Like torchrun it sets\n' +
    'OMP_NUM_THREADS=1 in every worker when N > 1 and the variable is not set already: N workers with a\n' +
    'thread per core each would oversubscribe the CPU. The verb reads the variables itself, e.g.\n' +
    '  finetuner launch --nproc 2 fit --distributed --model DIR --train-data CSV --output-dir OUT\n' +
    'SIGINT, SIGTERM and SIGHUP are forwarded to every worker (a second one kills them at once). When a\n' +
    'worker fails (a non-zero exit code or a signal) the others get SIGTERM, then SIGKILL after\n' +
    '--grace-period, and launch exits with 1 naming the rank; it exits 0 when every worker did.\n' +
    'Options after VERB are the verb\'s; put `--` before a VERB that starts with a dash.',
  options: {
    nproc: { type: 'string', value: 'N', description: 'worker processes to start (ranks 0 .. N-1)', required: true },
    'master-port': { type: 'string', value: 'P', description: 'the port rank 0 listens on for the others', default: 'a free port' },
    output: {
      type: 'string', value: 'MODE',
      description: 'prefix: every line of a worker\'s stdout and stderr starts with "[rank i] "; inherit: workers write to the terminal directly',
      default: LAUNCH_DEFAULTS.output,
    },
    'grace-period': {
      type: 'string', value: 'S', description: 'seconds a worker has to exit after SIGTERM before SIGKILL',
      default: String(LAUNCH_DEFAULTS.gracePeriodMs / 1000),
    },
  },
  passThrough: true,
  async run(args) {
    const nproc = numberOption(args, 'nproc', POSITIVE_INTEGER)!;
    const masterPort = numberOption(args, 'master-port', PORT_RANGE);
    const output = choiceOption(args, 'output', OUTPUT_MODES);
    const grace = numberOption(args, 'grace-period', NON_NEGATIVE_NUMBER);
    const argv = args.positionals;
    if (argv.length === 0) throw new UsageError('missing the command each worker runs, e.g. `finetuner launch --nproc 2 fit --distributed ...`');
    if (argv[0] === 'launch') throw new UsageError('a worker cannot run launch itself');
    // The launcher forwards the signals; the CLI's own handlers would exit at once without the workers.
    handOverInterrupts();
    await launchWorkers({
      nproc,
      argv,
      ...(masterPort !== undefined ? { masterPort } : {}),
      ...(output !== undefined ? { output } : {}),
      ...(grace !== undefined ? { gracePeriodMs: grace * 1000 } : {}),
    });
  },
};
