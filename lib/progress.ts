// A small progress reporter for fit/encode/eval, without a dependency. On a terminal it redraws one line in
// place (label, bar, n/total, rate, ETA, extra fields such as the loss); in a log file or CI, where
// carriage returns would pile up, it prints plain lines at most every few seconds, and always at the end.

export type ProgressFields = Readonly<Record<string, number | string>>;

/** The part of a stream the reporter uses; process.stderr fits. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  label: string;
  /** Steps in all (0 or unknown: no bar, no ETA). */
  total: number;
  /** Unit of the rate, default 'it' (shown as it/s). */
  unit?: string;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Redraw in place; default stream.isTTY. */
  tty?: boolean;
  /** Least time between two redraws on a terminal, default 100 ms. */
  redrawMs?: number;
  /** Least time between two plain lines, default 5000 ms. */
  plainIntervalMs?: number;
  /** Clock in ms, for tests. */
  now?: () => number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function formatValue(value: number | string): string {
  if (typeof value === 'string') return value;
  if (Number.isInteger(value)) return String(value);
  // Four significant digits reads well for losses and accuracies alike.
  return Math.abs(value) >= 1e-3 && Math.abs(value) < 1e5 ? value.toPrecision(4) : value.toExponential(3);
}

export class Progress {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly start: number;
  private readonly redrawMs: number;
  private readonly plainIntervalMs: number;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private done = 0;
  private fields: ProgressFields = {};
  private finished = false;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? Boolean(this.stream.isTTY);
    this.now = options.now ?? (() => performance.now());
    this.start = this.now();
    this.redrawMs = options.redrawMs ?? 100;
    this.plainIntervalMs = options.plainIntervalMs ?? 5000;
  }

  /** Sets the count of finished steps (and merges `fields`), redrawing if enough time has passed. */
  update(done: number, fields?: ProgressFields): void {
    if (this.finished) return;
    this.done = done;
    if (fields) this.fields = { ...this.fields, ...fields };
    const t = this.now();
    if (t - this.lastDraw < (this.tty ? this.redrawMs : this.plainIntervalMs)) return;
    this.lastDraw = t;
    this.draw(t);
  }

  tick(steps = 1, fields?: ProgressFields): void {
    this.update(this.done + steps, fields);
  }

  /** Draws the final state and ends the line; later calls do nothing. */
  finish(fields?: ProgressFields): void {
    if (this.finished) return;
    if (fields) this.fields = { ...this.fields, ...fields };
    this.draw(this.now());
    if (this.tty) this.stream.write('\n');
    this.finished = true;
  }

  /** The status line for the current state at time `t` (ms on the reporter's clock). */
  line(t = this.now()): string {
    const { label, total } = this.options;
    const unit = this.options.unit ?? 'it';
    const elapsed = Math.max(0, (t - this.start) / 1000);
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const parts = [label];
    if (total > 0) {
      const frac = Math.min(1, Math.max(0, this.done / total));
      if (this.tty) {
        const width = 24;
        const full = Math.round(frac * width);
        parts.push(`[${'#'.repeat(full)}${'-'.repeat(width - full)}]`);
      }
      parts.push(`${this.done}/${total}`, `${Math.round(frac * 100)}%`);
    } else {
      parts.push(String(this.done));
    }
    parts.push(`${rate >= 100 ? Math.round(rate) : rate.toPrecision(3)} ${unit}/s`);
    if (total > 0 && this.done < total) parts.push(`ETA ${formatDuration(rate > 0 ? (total - this.done) / rate : Number.NaN)}`);
    else parts.push(`in ${formatDuration(elapsed)}`);
    for (const [key, value] of Object.entries(this.fields)) parts.push(`${key}=${formatValue(value)}`);
    return parts.join(' ');
  }

  private draw(t: number): void {
    let text = this.line(t);
    if (this.tty) {
      const cols = this.stream.columns;
      // Longer than the terminal would wrap, and \r would then only return to the second half.
      if (cols && text.length >= cols) text = text.slice(0, cols - 1);
      this.stream.write(`\r${text}\x1b[K`);
    } else {
      this.stream.write(`${text}\n`);
    }
  }
}
