// Progress bars for the verbs that encode or train (lib/progress.ts: one redrawn line on a terminal,
// plain lines in logs), and rounding for the result tables.
import { Progress } from '../progress.js';

/**
 * A bar that restarts when a new phase begins. encode/evaluate report (done, total) per pass, and
 * evaluate makes two passes (queries, then index): a count that goes back down starts a new bar.
 */
export class PhasedProgress {
  private bar: Progress | undefined;
  private key = '';
  private last = 0;
  // A bar is only created on the first report of its phase, after its first step is done; timing from
  // there would make the first rate absurd. The phase began at the previous report (or finish, or
  // construction), so that is when its bar starts.
  private lastEvent = performance.now();

  /** Updates the bar of phase `key`, starting it (and finishing the previous one) when the phase changes. */
  update(key: string, label: string, done: number, total: number, unit: string, fields?: Record<string, number | string>): void {
    if (!this.bar || key !== this.key || done < this.last) {
      this.bar?.finish();
      const start = this.lastEvent;
      let constructed = false;
      // Progress reads its clock once on construction for its start time: answer the phase's start then.
      const now = (): number => (constructed ? performance.now() : ((constructed = true), start));
      this.bar = new Progress({ label, total, unit, now });
      this.key = key;
    }
    this.last = done;
    this.lastEvent = performance.now();
    this.bar.update(done, fields);
  }

  /** Draws the last state and ends the bar's line (also before an error message, so it starts a line). */
  finish(fields?: Record<string, number | string>): void {
    this.bar?.finish(fields);
    this.bar = undefined;
    this.last = 0;
    this.lastEvent = performance.now();
  }
}

/** Four significant digits, still a number (so tables align it right). */
export function round4(value: number): number {
  return Number.isFinite(value) ? Number(value.toPrecision(4)) : value;
}
