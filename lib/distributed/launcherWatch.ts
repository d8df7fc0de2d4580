// The worker's side of "no orphans": a launcher stopped by a signal stops its workers itself, but one
// killed with SIGKILL (or by the OOM killer) cannot. A worker started by `finetuner launch` checks once a
// second that its parent is still the launcher; when the launcher is gone the worker stops as a SIGTERM
// would stop it (fit finishes the step and writes a checkpoint), instead of training on alone.
import { LAUNCHER_PID_ENV } from './launcher.js';

const CHECK_INTERVAL_MS = 1000;

/**
 * Starts the check when this process is a worker of a running `finetuner launch` (its parent's pid is
 * the one the launcher set). A grandchild that inherited the variable has another parent: no check.
 */
export function watchLauncher(env: NodeJS.ProcessEnv = process.env): void {
  const launcher = Number(env[LAUNCHER_PID_ENV]);
  if (!Number.isInteger(launcher) || launcher <= 1 || process.ppid !== launcher) return;
  const timer = setInterval(() => {
    if (process.ppid === launcher) return;
    clearInterval(timer);
    process.stderr.write(`finetuner: the launcher (pid ${launcher}) is gone; stopping\n`);
    process.kill(process.pid, 'SIGTERM');
  }, CHECK_INTERVAL_MS);
  // The check alone never keeps a finished worker alive.
  timer.unref();
}
