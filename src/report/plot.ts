// Plots for experiment reports: vega-lite specs rendered headless to SVG, and to PNG with
// resvg (system fonts). One place for every figure the experiments write.
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';
import { writeFileAtomic } from '../logging/atomic.js';

export interface Series {
  name: string;
  x: number[];
  y: number[];
  /** Optional band (e.g. mean ± std), drawn shaded behind the line. */
  lo?: number[];
  hi?: number[];
  /** Dashed line (e.g. test loss next to a solid training loss). */
  dashed?: boolean;
}

export interface LinePlot {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logY?: boolean;
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

function lineSpec(p: LinePlot): vl.TopLevelSpec {
  const rows: Row[] = [];
  for (const s of p.series) {
    s.x.forEach((x, i) => {
      const y = s.y[i];
      if (!Number.isFinite(y) || (p.logY && y <= 0)) return;
      const row: Row = { series: s.name, x, y, dashed: !!s.dashed };
      if (s.lo && s.hi && Number.isFinite(s.lo[i]) && Number.isFinite(s.hi[i])) {
        // a log axis cannot show a band reaching zero or below: clip it just above zero
        row.lo = p.logY ? Math.max(s.lo[i], y * 1e-3) : s.lo[i];
        row.hi = s.hi[i];
      }
      rows.push(row);
    });
  }
  const yScale = p.logY ? { type: 'log' as const } : { zero: false };
  const color = { field: 'series', type: 'nominal' as const, title: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: p.title,
    width: p.width ?? 520,
    height: p.height ?? 320,
    data: { values: rows },
    layer: [
      {
        transform: [{ filter: 'isValid(datum.lo)' }],
        mark: { type: 'area', opacity: 0.18 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: p.xLabel },
          y: { field: 'lo', type: 'quantitative', scale: yScale, title: p.yLabel },
          y2: { field: 'hi' },
          color,
        },
      },
      {
        mark: { type: 'line', strokeWidth: 1.8 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: p.xLabel },
          y: { field: 'y', type: 'quantitative', scale: yScale, title: p.yLabel },
          color,
          strokeDash: { field: 'dashed', type: 'nominal', legend: null, scale: { domain: [false, true], range: [[1, 0], [5, 3]] } },
        },
      },
    ],
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
