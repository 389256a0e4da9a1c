// Plots for experiment reports: vega-lite specs rendered headless to SVG, and to PNG with
// resvg (system fonts). One place for every figure the experiments write.
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';
import { writeFileAtomic } from '../run/atomic.js';

export interface Series {
  name: string;
  x: number[];
  y: number[];
  /** Optional band (e.g. mean ± std), drawn shaded behind the line. */
  lo?: number[];
  hi?: number[];
  /** Dashed line (e.g. test loss next to a solid training loss). */
  dashed?: boolean;
  /**
   * x values to mark with a cross on the line, e.g. where runs diverged: each cross sits at the
   * line's last finite point at or before that x, so a line that ends there still shows where.
   */
  marks?: number[];
}

export interface LinePlot {
  title: string;
  /** A line under the title saying how to read the plot; notes on clipping are added to it. */
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logY?: boolean;
  /**
   * A second panel on a linear scale of the points with x >= from, where curves that sit
   * together at the bottom of a log axis can be told apart. Its y range comes from the series
   * there; a series far above the others (a diverged one) is left out of it and named.
   */
  linearTail?: { from: number };
  width?: number;
  height?: number;
}

export interface ScatterPlot {
  title: string;
  xLabel: string;
  yLabel: string;
  points: { x: number; y: number; group?: string }[];
  width?: number;
  height?: number;
}

type Row = Record<string, number | string | boolean>;

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
};
const short = (v: number) => Number(v.toPrecision(2)).toString();

/** One row per finite point of a series; bands kept as given (clipped later). */
function seriesRows(s: Series, keep: (x: number, y: number) => boolean): Row[] {
  const rows: Row[] = [];
  s.x.forEach((x, i) => {
    const y = s.y[i];
    if (!finite(y) || !keep(x, y)) return;
    const row: Row = { series: s.name, x, y, dashed: !!s.dashed };
    if (finite(s.lo?.[i]) && finite(s.hi?.[i])) {
      row.lo = s.lo![i]!;
      row.hi = s.hi![i]!;
    }
    rows.push(row);
  });
  return rows;
}

/** The crosses of a series' marks: at the last finite point at or before each mark. */
function markRows(s: Series, keep: (x: number, y: number) => boolean): Row[] {
  return (s.marks ?? []).flatMap((m) => {
    let at = -1;
    s.x.forEach((x, i) => {
      if (x <= m && finite(s.y[i]) && keep(x, s.y[i]!)) at = i;
    });
    return at < 0 ? [] : [{ series: s.name, x: s.x[at]!, y: s.y[at]! }];
  });
}

/**
 * The series of a linear tail panel and its y range. A series whose median there is more than
 * 10 times the median of all the series' medians is off scale (a diverged or exploding one): it
 * is left out and named, so that it cannot stretch the range the others are read on; a series
 * with no finite point there (diverged earlier) is simply absent. The range is the shown lines'
 * span, widened by their bands by at most that span each way.
 */
export function tailRange(series: readonly Series[], from: number): { shown: Series[]; offScale: string[]; domain: [number, number] } {
  const inTail = (s: Series) => s.x.map((x, i) => (x >= from ? s.y[i] : undefined)).filter(finite);
  const withData = series.filter((s) => inTail(s).length > 0);
  const typical = median(withData.map((s) => median(inTail(s))));
  const shown = withData.filter((s) => median(inTail(s)) <= 10 * Math.abs(typical));
  const offScale = withData.filter((s) => !shown.includes(s)).map((s) => s.name);
  const ys = shown.flatMap(inTail);
  let lo = Math.min(...ys);
  let hi = Math.max(...ys);
  const span = Math.max(hi - lo, 1e-12 * Math.max(1, Math.abs(hi)));
  const band = (pick: (s: Series) => number[] | undefined) =>
    shown.flatMap((s) => s.x.map((x, i) => (x >= from && finite(s.y[i]) ? pick(s)?.[i] : undefined)).filter(finite));
  lo = Math.max(lo - span, Math.min(lo, ...band((s) => s.lo)));
  hi = Math.min(hi + span, Math.max(hi, ...band((s) => s.hi)));
  const pad = 0.05 * (hi - lo || span);
  return { shown, offScale, domain: [lo - pad, hi + pad] };
}

/** Words wrapped into lines of at most `chars` characters (a title's subtitle lines). */
function wrap(text: string, chars: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last]!.length + 1 + word.length <= chars) lines[last] += ` ${word}`;
    else lines.push(word);
  }
  return lines;
}

/** Band, line and cross layers over `rows` / `marks`, with the given y scale. */
function layers(rows: Row[], marks: Row[], xLabel: string, yLabel: string, yScale: object, color: object): object[] {
  const x = { field: 'x', type: 'quantitative', title: xLabel, scale: { nice: false } };
  return [
    {
      data: { values: rows },
      transform: [{ filter: 'isValid(datum.lo)' }],
      mark: { type: 'area', opacity: 0.18, clip: true },
      encoding: { x, y: { field: 'lo', type: 'quantitative', scale: yScale, title: yLabel }, y2: { field: 'hi' }, color },
    },
    {
      data: { values: rows },
      mark: { type: 'line', strokeWidth: 1.8, clip: true },
      encoding: {
        x,
        y: { field: 'y', type: 'quantitative', scale: yScale, title: yLabel },
        color,
        strokeDash: { field: 'dashed', type: 'nominal', legend: null, scale: { domain: [false, true], range: [[1, 0], [5, 3]] } },
      },
    },
    {
      data: { values: marks },
      mark: { type: 'point', shape: 'cross', size: 120, filled: true, opacity: 1, clip: true },
      encoding: { x, y: { field: 'y', type: 'quantitative', scale: yScale, title: yLabel }, color },
    },
  ];
}

/**
 * The vega-lite spec of a line plot. On a log axis a band's lower edge (mean - std can be at or
 * below zero) is clipped at half the smallest value of the lines, and the subtitle says so.
 */
export function lineSpec(p: LinePlot): vl.TopLevelSpec {
  const all = (x: number, y: number) => !p.logY || y > 0;
  const rows = p.series.flatMap((s) => seriesRows(s, all));
  const marks = p.series.flatMap((s) => markRows(s, all));
  const notes = p.subtitle ? [p.subtitle] : [];
  if (p.logY) {
    const floor = Math.min(...rows.map((r) => r.y as number)) / 2;
    let clipped = false;
    for (const r of rows) {
      if (r.lo !== undefined && (r.lo as number) < floor) {
        r.lo = floor;
        clipped = true;
      }
    }
    if (clipped) notes.push(`on the log axis, band edges below ${short(floor)} (half the lowest line) are drawn at ${short(floor)}`);
  }
  // every series in the legend, in one colour each, full labels (no truncation)
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: p.series.map((s) => s.name) },
    legend: { orient: 'bottom', direction: 'vertical', columns: p.series.length > 4 ? 2 : 1, labelLimit: 0, symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 3 },
  };
  const width = p.width ?? 520;
  const height = p.height ?? 320;
  const main = {
    width,
    height,
    ...(p.linearTail ? { title: { text: p.logY ? 'log scale' : 'all steps', fontSize: 11 } } : {}),
    layer: layers(rows, marks, p.xLabel, p.yLabel, p.logY ? { type: 'log' } : { zero: false }, color),
  };
  const panels: object[] = [main];
  let totalWidth = width;
  const tailOf = p.linearTail && tailRange(p.series, p.linearTail.from);
  // no panel when no series has a finite point in the tail
  if (p.linearTail && tailOf && tailOf.shown.length > 0) {
    const { from } = p.linearTail;
    const { shown, offScale, domain } = tailOf;
    const tail = (x: number) => x >= from;
    const tailWidth = Math.round(width * 0.75);
    totalWidth += tailWidth + 30;
    const tailRows = shown.flatMap((s) => seriesRows(s, tail));
    const tailMarks = shown.flatMap((s) => markRows(s, tail));
    panels.push({
      width: tailWidth,
      height,
      title: { text: `${p.xLabel} ${from} on, linear scale`, fontSize: 11 },
      layer: layers(tailRows, tailMarks, p.xLabel, p.yLabel, { domain, zero: false, nice: false }, color),
    });
    if (offScale.length > 0) notes.push(`right panel leaves out ${offScale.join(', ')} (off its scale)`);
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    // subtitle lines no wider than the panels (about 6 px a character at 11 px), so that a long note cannot widen the figure
    title: { text: p.title, ...(notes.length ? { subtitle: notes.flatMap((n) => wrap(n, Math.floor(totalWidth / 6))), subtitleFontSize: 11 } : {}) },
    ...(panels.length === 1 ? main : { hconcat: panels, spacing: 30 }),
  } as vl.TopLevelSpec;
}

function scatterSpec(p: ScatterPlot): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: p.title,
    width: p.width ?? 360,
    height: p.height ?? 300,
    data: { values: p.points.map((q) => ({ x: q.x, y: q.y, group: q.group ?? '' })) },
    mark: { type: 'point', filled: true, opacity: 0.7 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: p.xLabel, scale: { zero: false } },
      y: { field: 'y', type: 'quantitative', title: p.yLabel, scale: { zero: false } },
      // a legend only when the points come in groups
      ...(p.points.some((q) => q.group) ? { color: { field: 'group', type: 'nominal', title: null } } : {}),
    },
  } as vl.TopLevelSpec;
}

/** Render a vega-lite spec to SVG text. */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterise SVG to PNG (white background, system fonts). */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const r = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: scale }, font: { loadSystemFonts: true } });
  return r.render().asPng();
}

/** Write `<base>.svg` and `<base>.png` atomically; returns the two paths. */
export async function savePlot(base: string, plot: LinePlot | ScatterPlot | vl.TopLevelSpec): Promise<string[]> {
  const spec = 'series' in plot ? lineSpec(plot as LinePlot) : 'points' in plot ? scatterSpec(plot as ScatterPlot) : (plot as vl.TopLevelSpec);
  const svg = await renderSvg(spec);
  writeFileAtomic(`${base}.svg`, svg);
  writeFileAtomic(`${base}.png`, svgToPng(svg));
  return [`${base}.svg`, `${base}.png`];
}

/** Mean and (population) standard deviation over runs for each step: runs × steps -> per step. */
export function meanStd(runs: number[][]): { mean: number[]; std: number[] } {
  const steps = Math.max(...runs.map((r) => r.length));
  const mean: number[] = [];
  const std: number[] = [];
  for (let i = 0; i < steps; i++) {
    const v = runs.map((r) => r[i]).filter((q) => q !== undefined);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    mean.push(m);
    std.push(Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length));
  }
  return { mean, std };
}

/** Mean and population std of the finite values (NaN when none); n: how many were finite. */
export function finiteStats(values: readonly number[]): { mean: number; std: number; n: number } {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), n: v.length };
}

/** Index of a run's first non-finite value (a divergence), or undefined when all are finite. */
export function firstNonFinite(run: readonly number[]): number | undefined {
  const i = run.findIndex((v) => !Number.isFinite(v));
  return i < 0 ? undefined : i;
}

/** The distinct indices at which runs first stopped being finite, in order. */
export function divergenceSteps(runs: readonly (readonly number[])[]): number[] {
  return [...new Set(runs.map(firstNonFinite).filter((i): i is number => i !== undefined))].sort((a, b) => a - b);
}

/** How many of n runs diverged, in words: "" (none), "diverged in all 5 repeats", "diverged in 2 of 5 repeats". */
export function divergedIn(k: number, n: number, unit = 'repeats'): string {
  if (k === 0) return '';
  if (k === n && n > 1) return `diverged in all ${n} ${unit}`;
  return `diverged in ${k} of ${n} ${unit}`;
}

export interface BandOptions {
  dashed?: boolean;
  /** What a run is called in the label ("repeats", "runs"). */
  unit?: string;
  /** Name of x for "from epoch 6" in the label; no place in the label when absent. */
  xName?: string;
  /** How many runs diverged, when the caller's criterion is wider than "a value is not finite". */
  diverged?: number;
}

/**
 * A plot series of the mean over runs with a ± std band, at each x over the runs still finite
 * there (clipped at 0 when no run is ever negative). Runs that diverged are counted in the name ("diverged in all 5 repeats, from epoch 6"),
 * and a cross marks where each first stopped being finite: a diverged series is never just missing.
 */
export function bandSeries(name: string, x: number[], runs: number[][], opts: BandOptions = {}): Series {
  const at = x.map((_, i) => finiteStats(runs.map((r) => r[i] ?? NaN)));
  const stops = divergenceSteps(runs);
  const note = divergedIn(opts.diverged ?? runs.filter((r) => firstNonFinite(r) !== undefined).length, runs.length, opts.unit);
  const where = opts.xName && stops.length > 0 ? `, from ${opts.xName} ${stops.map((i) => x[i]).join(', ')}` : '';
  // values that are never negative (a loss) get a band that is not either
  const floor = runs.every((r) => r.every((v) => !(v < 0))) ? 0 : -Infinity;
  return {
    name: note ? `${name}: ${note}${where}` : name,
    x,
    y: at.map((s) => s.mean),
    lo: at.map((s) => Math.max(floor, s.mean - s.std)),
    hi: at.map((s) => s.mean + s.std),
    dashed: opts.dashed,
    marks: stops.map((i) => x[i]!),
  };
}
