// A long-lived Python worker (scripts/bench/*.py) spoken to over JSON lines: one request per line on its
// stdin, one answer per line on its stdout. Python and torch start once, so start-up is never timed; the
// worker times its own work with time.perf_counter.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../lib/addonLoader.js';

/** Debian's interpreter: the one python3-torch and python3-torchvision install into. */
export const BENCH_PYTHON = '/usr/bin/python3';

export interface PythonPeerOptions {
  /** Script path, or a name under scripts/bench/ (e.g. 'torch_eager.py'). */
  script: string;
  args?: string[];
  /** Default: $FINETUNER_PYTHON, else /usr/bin/python3. */
  python?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** How long the worker may take to print its ready line (ms). Default 120 s. */
  startTimeoutMs?: number;
}

type Json = Record<string, unknown>;

const STDERR_LINES_KEPT = 30;

export class PythonPeer {
  /** The worker's first line ({"ready": true, ...}). */
  readonly info: Json;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: { resolve: (value: Json) => void; reject: (error: Error) => void }[] = [];
  private readonly stderr: string[] = [];
  private exited: Error | undefined;

  private constructor(child: ChildProcessWithoutNullStreams, info: Json, stderr: string[], waiting: PythonPeer['waiting']) {
    this.child = child;
    this.info = info;
    this.stderr = stderr;
    this.waiting = waiting;
  }

  /** Spawns the worker and resolves once it has printed its ready line. */
  static start(options: PythonPeerOptions): Promise<PythonPeer> {
    const python = options.python ?? process.env.FINETUNER_PYTHON ?? BENCH_PYTHON;
    const script = options.script.includes('/') ? options.script : join(packageRoot(), 'scripts', 'bench', options.script);
    if (!existsSync(script)) return Promise.reject(new Error(`bench worker not found: ${script}`));
    const child = spawn(python, [script, ...(options.args ?? [])], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1', ...options.env },
    });
    const stderr: string[] = [];
    const waiting: PythonPeer['waiting'] = [];
    let peer: PythonPeer | undefined;

    return new Promise<PythonPeer>((resolve, reject) => {
      const describe = (what: string) => {
        const tail = stderr.filter((l) => l.trim()).slice(-10).join('\n  ');
        return new Error(`${python} ${script}: ${what}${tail ? `\n  ${tail}` : ''}`);
      };
      const timer = setTimeout(() => {
        reject(describe(`no ready line within ${(options.startTimeoutMs ?? 120_000) / 1000} s`));
        child.kill();
      }, options.startTimeoutMs ?? 120_000);
      createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
        stderr.push(line);
        if (stderr.length > STDERR_LINES_KEPT) stderr.shift();
      });
      createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
        let message: Json;
        try {
          message = JSON.parse(line) as Json;
        } catch {
          stderr.push(`(stdout) ${line}`);
          return;
        }
        if (!peer) {
          clearTimeout(timer);
          if (message.ready !== true) {
            reject(describe(`unexpected first line ${line}`));
            child.kill();
            return;
          }
          peer = new PythonPeer(child, message, stderr, waiting);
          resolve(peer);
          return;
        }
        const next = waiting.shift();
        if (!next) return;
        if (typeof message.error === 'string') next.reject(describe(message.error));
        else next.resolve(message);
      });
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(describe(`cannot start: ${error.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const error = describe(`exited (${signal ? `signal ${signal}` : `code ${code}`})`);
        if (peer) peer.exited = error;
        else reject(error);
        for (const w of waiting.splice(0)) w.reject(error);
      });
    });
  }

  /** Sends one request and resolves to the worker's answer; an {"error"} answer rejects. */
  request(message: Json): Promise<Json> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<Json>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Asks the worker to quit, and kills it if it has not after `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    if (this.exited || this.child.exitCode !== null) return;
    const closed = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
    const timer = setTimeout(() => this.child.kill(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  /** Kills the worker now (for error paths and signals). */
  kill(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}
