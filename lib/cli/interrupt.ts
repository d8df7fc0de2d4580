// Ctrl-C and SIGTERM for the verbs that write files. A verb that can stop cleanly asks for
// `interruptSignal()` and passes it on (encodeStream removes its temporary .npy when aborted); the first
// signal then aborts it and the verb exits with 128 + the signal number once its clean-up is done. A
// verb that never asked, or a second signal, exits at once, as without a handler.
const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;
type HandledSignal = keyof typeof SIGNAL_NUMBERS;

/** The rejection reason of work stopped by a signal. */
export class InterruptedError extends Error {
  readonly exitCode: number;
  constructor(readonly signal: HandledSignal, message = `interrupted by ${signal}; partial output removed`) {
    super(message);
    this.name = 'InterruptedError';
    this.exitCode = 128 + SIGNAL_NUMBERS[signal];
  }
}

let controller: AbortController | undefined;
let stopping = 'stopping and removing partial output';
let handedOver = false;

/** From now on the verb handles SIGINT and SIGTERM itself (launch forwards them to its workers). */
export function handOverInterrupts(): void {
  handedOver = true;
}

/**
 * An AbortSignal that the first SIGINT or SIGTERM aborts with an InterruptedError; `what` says what the
 * verb does then (fit: finishes the step and writes a checkpoint).
 */
export function interruptSignal(what?: string): AbortSignal {
  controller ??= new AbortController();
  if (what !== undefined) stopping = what;
  return controller.signal;
}

export function installInterruptHandlers(): void {
  for (const signal of Object.keys(SIGNAL_NUMBERS) as HandledSignal[]) {
    process.on(signal, () => {
      if (handedOver) return;
      if (!controller || controller.signal.aborted) process.exit(128 + SIGNAL_NUMBERS[signal]);
      process.stderr.write(`\nfinetuner: ${signal}: ${stopping} (again to quit at once)\n`);
      controller.abort(new InterruptedError(signal));
    });
  }
}
