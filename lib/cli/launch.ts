// finetuner launch: runs a finetuner command line in N local worker processes with torchrun's variables
// set (lib/distributed/launcher.ts), as `torchrun --standalone --nproc_per_node N` does for Python.
import { LAUNCH_DEFAULTS, launchWorkers } from '../distributed/launcher.js';
import { NON_NEGATIVE_NUMBER, POSITIVE_INTEGER } from '../numericOption.js';
import { UsageError, choiceOption, numberOption, stringOption, type Command } from './command.js';
import { handOverInterrupts } from './interrupt.js';

const OUTPUT_MODES = ['prefix', 'inherit'] as const;
const PORT_RANGE = { integer: true, min: 1, max: 65535 };

export const launchCommand: Command = {
  name: 'launch',
  summary: "Run a finetuner command in N local worker processes with torchrun's variables set (distributed fit on one machine or several).",
  usage: [
    'launch --nproc N [--master-port P] [--output MODE] [--grace-period S] VERB [VERB options]',
    'launch --nproc N --nnodes M --node-rank K --master-addr HOST --master-port P [...] VERB [VERB options]',
  ],
  details:
    'Starts N copies of `finetuner VERB ...` (this Node.js binary, this CLI), worker i with RANK=i,\n' +
    'LOCAL_RANK=i, WORLD_SIZE=N, LOCAL_WORLD_SIZE=N, MASTER_ADDR=127.0.0.1 and MASTER_PORT (a free port\n' +
    'unless --master-port), as `torchrun --standalone --nproc_per_node N` does. Like torchrun it sets\n' +
    'OMP_NUM_THREADS=1 in every worker when N > 1 and the variable is not set already: N workers with a\n' +
    'thread per core each would oversubscribe the CPU. The verb reads the variables itself, e.g.\n' +
    '  finetuner launch --nproc 2 fit --distributed --model DIR --train-data CSV --output-dir OUT\n' +
    'On M machines, run launch on each with the same --nproc, --nnodes M, --master-addr (an address of\n' +
    'machine 0 the others reach) and --master-port, and --node-rank 0 .. M-1: worker i of machine K gets\n' +
    'RANK=K*N+i, LOCAL_RANK=i and WORLD_SIZE=M*N. Each launch supervises its own machine\'s workers.\n' +
    'SIGINT, SIGTERM and SIGHUP are forwarded to every worker (a second one kills them at once). When a\n' +
    'worker fails (a non-zero exit code or a signal) the others get SIGTERM, then SIGKILL after\n' +
    '--grace-period, and launch exits with 1 naming the rank; it exits 0 when every worker did.\n' +
    'Options after VERB are the verb\'s; put `--` before a VERB that starts with a dash.',
  options: {
    nproc: { type: 'string', value: 'N', description: 'worker processes to start on this machine', required: true },
    'master-port': {
      type: 'string', value: 'P', description: 'the port rank 0 listens on for the others (required with --nnodes)', default: 'a free port',
    },
    nnodes: { type: 'string', value: 'M', description: 'machines in the run, each running launch', default: '1' },
    'node-rank': { type: 'string', value: 'K', description: "this machine's index, 0 .. M-1 (0: the machine at --master-addr)", default: '0' },
    'master-addr': {
      type: 'string', value: 'HOST', description: 'address of machine 0 that every machine reaches (required with --nnodes)',
      default: LAUNCH_DEFAULTS.masterAddr,
    },
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
    const nnodes = numberOption(args, 'nnodes', POSITIVE_INTEGER) ?? 1;
    const nodeRank = numberOption(args, 'node-rank', { integer: true, min: 0, max: nnodes - 1 });
    const masterAddr = stringOption(args, 'master-addr');
    if (nnodes > 1 && (masterAddr === undefined || masterPort === undefined)) {
      throw new UsageError('--nnodes above 1 needs --master-addr and --master-port: every machine must name the same address of machine 0');
    }
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
      nnodes,
      ...(nodeRank !== undefined ? { nodeRank } : {}),
      ...(masterAddr !== undefined ? { masterAddr } : {}),
      ...(masterPort !== undefined ? { masterPort } : {}),
      ...(output !== undefined ? { output } : {}),
      ...(grace !== undefined ? { gracePeriodMs: grace * 1000 } : {}),
    });
  },
};
