// Line charts as inline SVG, for report.html: no script, no network, no chart library to bundle. Every
// text that reaches the markup goes through escapeXml (series names come from the user's metrics).

export interface Series {
  name: string;
  /** [x, y] points; non-finite y values are skipped (a gap, not a spike to infinity). */
  points: ReadonlyArray<readonly [number, number]>;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Logarithmic y axis (for loss and learning-rate curves spanning decades); needs positive values. */
  logY?: boolean;
  /** Draw a dot on each point (few points, such as one per epoch). */
  markers?: boolean;
  /** Only whole numbers on the x axis (epochs). */
  integerX?: boolean;
}

// Colour-blind-safe palette (Okabe and Ito).
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Round tick values: 1, 2 or 5 times a power of ten, about `count` of them over [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  // d3's rule: the power of ten below the raw step, times 1, 2, 5 or 10, whichever is nearest.
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const error = raw / power;
  const step = power * (error >= Math.sqrt(50) ? 10 : error >= Math.sqrt(10) ? 5 : error >= Math.sqrt(2) ? 2 : 1);
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export function formatNumber(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e4 || abs < 1e-3) return value.toExponential(1).replace('e+', 'e');
  return Number(value.toPrecision(3)).toString();
}

/** An SVG line chart; an empty chart (with its title and a note) when no series has a finite point. */
export function lineChart(series: readonly Series[], options: LineChartOptions): string {
  const width = options.width ?? 560;
  const height = options.height ?? 300;
  const margin = { left: 64, right: 16, top: 32, bottom: 44 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const transform = (y: number) => (options.logY ? Math.log10(y) : y);
  const usable = series.map((s) => ({
    name: s.name,
    points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!options.logY || y > 0)),
  }));
  const all = usable.flatMap((s) => s.points);
  const parts: string[] = [
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(options.title)}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" class="chart-title">${escapeXml(options.title)}</text>`,
  ];
  if (all.length === 0) {
    parts.push(`<text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="chart-empty">no data</text></svg>`);
    return parts.join('');
  }
  let [xMin, xMax] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [yMin, yMax] = [Math.min(...all.map((p) => transform(p[1]))), Math.max(...all.map((p) => transform(p[1])))];
  if (xMax === xMin) [xMin, xMax] = [xMin - 1, xMax + 1];
  if (yMax === yMin) [yMin, yMax] = [yMin - (Math.abs(yMin) || 1) * 0.1, yMax + (Math.abs(yMax) || 1) * 0.1];
  const padY = (yMax - yMin) * 0.05;
  [yMin, yMax] = [yMin - padY, yMax + padY];
  const sx = (x: number) => margin.left + ((x - xMin) / (xMax - xMin)) * plotWidth;
  const sy = (y: number) => margin.top + plotHeight - ((transform(y) - yMin) / (yMax - yMin)) * plotHeight;

  // Axes, grid and ticks.
  parts.push(`<g class="axes" font-size="11" fill="#444">`);
  const yTicks = options.logY
    ? niceTicks(Math.floor(yMin), Math.ceil(yMax), Math.min(6, Math.ceil(yMax) - Math.floor(yMin))).filter((t) => t >= yMin && t <= yMax).map((t) => 10 ** t)
    : niceTicks(yMin, yMax);
  for (const tick of yTicks) {
    const y = sy(tick);
    parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${escapeXml(formatNumber(tick))}</text>`);
  }
  for (const tick of niceTicks(xMin, xMax, 6).filter((t) => !options.integerX || Number.isInteger(t))) {
    const x = sx(tick);
    parts.push(`<text x="${x.toFixed(1)}" y="${height - margin.bottom + 16}" text-anchor="middle">${escapeXml(formatNumber(tick))}</text>`);
  }
  parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${margin.top + plotHeight}" y2="${margin.top + plotHeight}" stroke="#888"/>`);
  parts.push(`<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#888"/>`);
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  if (options.yLabel) {
    parts.push(`<text transform="translate(14 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`);
  }
  parts.push('</g>');

  // Lines, then a legend when there is more than one series.
  usable.forEach((s, i) => {
    if (s.points.length === 0) return;
    const colour = COLOURS[i % COLOURS.length];
    const path = s.points.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
    parts.push(`<path class="series" d="${path}" fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round"><title>${escapeXml(s.name)}</title></path>`);
    if (options.markers || s.points.length === 1) {
      for (const [x, y] of s.points) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${colour}"/>`);
    }
  });
  if (usable.length > 1) {
    usable.forEach((s, i) => {
      const x = margin.left + 8 + (i % 3) * Math.floor(plotWidth / 3);
      const y = margin.top + 10 + Math.floor(i / 3) * 16;
      parts.push(`<rect x="${x}" y="${y - 8}" width="12" height="4" fill="${COLOURS[i % COLOURS.length]}"/>`);
      parts.push(`<text x="${x + 16}" y="${y - 3}" font-size="11" fill="#222">${escapeXml(s.name)}</text>`);
    });
  }
  parts.push('</svg>');
  return parts.join('');
}
