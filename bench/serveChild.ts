// `finetuner serve` as a child process, started and waited for until it says where it listens: used by
// the load test (bench/serveLoad.ts) and by the signal tests (test/serve-signals.test.ts).

import { spawn, type ChildProcess } from 'node:child_process';

export interface ServeChild {
  process: ChildProcess;
  url: string;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Its exit code (null when killed by a signal). */
  exit: Promise<number | null>;
}

/** Runs `node <cli> serve <args>` with `threads` intra-op threads; resolves once it listens. */
export async function spawnServe(cli: string, args: readonly string[], threads: number): Promise<ServeChild> {
  const child = spawn(process.execPath, [cli, 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exit = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const url = await new Promise<string>((found, failed) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match) found(match[1]!);
    });
    void exit.then((code) => failed(new Error(`finetuner serve exited with ${code}: ${stderr}`)));
  });
  return { process: child, url, stderr: () => stderr, exit };
}
