// Plots a researcher can read: ± std bands that fit a log axis, a linear panel of the late steps
// with its range robust to a diverged series, legends inside the figure and never truncated,
// diverged series named and marked, and "diverged in all / k of N" labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { lineSpec, bandSeries, divergedIn, tailRange, type LinePlot } from '../../src/report/plot.js';
import { integrationSummary, divergedNote, type IntegrationResults, type VariantRun } from '../../src/studies/optimizers/integration.js';
import { decodeOrThrow } from '../../src/config/codec.js';
import { IntegrationConfig } from '../../src/studies/optimizers/config.js';

/** A plot's SVG and, for every legend label, its box in the SVG's coordinates. */
async function render(p: LinePlot): Promise<{ svg: string; width: number; height: number; labels: { text: string; x1: number; x2: number; y1: number; y2: number }[] }> {
  const view = new vega.View(vega.parse(vl.compile(lineSpec(p)).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const [width, height] = /viewBox="0 0 (\S+) (\S+)"/.exec(svg)!.slice(1).map(Number) as [number, number];
    const labels: { text: string; x1: number; x2: number; y1: number; y2: number }[] = [];
    // group offsets add up from the root, which the SVG translates by the view's origin
    type Item = { x?: number; y?: number; text?: string; bounds: { x1: number; x2: number; y1: number; y2: number }; items?: Mark[] };
    type Mark = { marktype: string; role: string; items: Item[] };
    const walk = (mark: Mark, ox: number, oy: number) => {
      for (const item of mark.items) {
        if (mark.role === 'legend-label') labels.push({ text: String(item.text), x1: ox + item.bounds.x1, x2: ox + item.bounds.x2, y1: oy + item.bounds.y1, y2: oy + item.bounds.y2 });
        if (mark.marktype === 'group') for (const child of item.items ?? []) walk(child, ox + (item.x ?? 0), oy + (item.y ?? 0));
      }
    };
    const [ox, oy] = view.origin();
    walk((view.scenegraph() as unknown as { root: Mark }).root, ox, oy);
    return { svg, width, height, labels };
  } finally {
    view.finalize();
  }
}

const steps = Array.from({ length: 101 }, (_, i) => i);
/** runs × steps: a loss falling from 5e5 to `final`, with a spread across runs. */
const runs = (final: number, n: number, spread = 0.05) =>
  Array.from({ length: n }, (_, r) => steps.map((i) => final * (1 + spread * (r - (n - 1) / 2)) + 5e5 * Math.exp(-i)));

test('held-out plot: bands, a linear panel of the late steps where variants differ, full legends inside the figure', async () => {
  const long = 'LSTM(update,tele) with a long label that a default legend would cut short';
  const exploding = runs(15, 3).map((r) => r.map((v, i) => (i > 60 ? 1e9 * i : v)));
  const p: LinePlot = {
    title: 'Held-out loss',
    xLabel: 'step',
    yLabel: 'loss',
    logY: true,
    linearTail: { from: 50 },
    series: [bandSeries('GD', steps, runs(18.8, 10), { unit: 'runs' }), bandSeries(long, steps, runs(15.6, 30)), bandSeries('exploding', steps, exploding)],
  };
  const { svg, width, height, labels } = await render(p);
  // a band (area) and a line in each of two panels
  for (const panel of ['concat_0', 'concat_1']) {
    assert.match(svg, new RegExp(`class="mark-area role-mark ${panel}_layer_0_marks"[^>]*>\\s*<path [^>]*d="M`), panel);
    assert.match(svg, new RegExp(`class="mark-line role-mark ${panel}_layer_1_marks"`), panel);
  }
  assert.match(svg, /step 50 on, linear scale/);
  // the linear panel's range comes from the two close variants, not the exploding one
  const { domain, offScale } = tailRange(p.series, 50);
  assert.deepEqual(offScale, ['exploding']);
  assert.ok(domain[0] > 10 && domain[1] < 25, `domain ${domain}`);
  assert.match(svg, /right panel leaves out exploding \(off its scale\)/);
  // every legend label whole (no ellipsis) and inside the SVG
  assert.deepEqual(labels.map((l) => l.text).sort(), ['GD', 'exploding', long].sort());
  assert.ok(!svg.includes('…'));
  for (const l of labels) assert.ok(l.x1 >= 0 && l.x2 <= width && l.y1 >= 0 && l.y2 <= height, `${l.text}: ${JSON.stringify(l)} outside 0 0 ${width} ${height}`);
});

test('log axis: a band reaching zero is clipped at half the lowest line, and the plot says so', async () => {
  const wide = [steps.map(() => 1), steps.map(() => 40)]; // mean 20.5, std 19.5: lower edge 1
  const p: LinePlot = { title: 't', xLabel: 'step', yLabel: 'loss', logY: true, series: [bandSeries('a', steps, wide), bandSeries('b', steps, [steps.map(() => 10)])] };
  const spec = lineSpec(p) as unknown as { title: { subtitle: string[] }; layer: { data: { values: { lo?: number }[] } }[] };
  const los = spec.layer[0]!.data.values.map((r) => r.lo).filter((v): v is number => v !== undefined);
  assert.equal(Math.min(...los), 5); // half the lowest line (10), not 1
  assert.match(spec.title.subtitle.join(' '), /band edges below 5 \(half the lowest line\) are drawn at 5/);
});

test('a diverged series is named, crossed where it stopped, and not silently missing', async () => {
  const dead = [0, 1, 2].map(() => steps.map((i) => (i < 6 ? 100 - i : NaN)));
  const s = bandSeries('keep momentum', steps, dead, { xName: 'epoch' });
  assert.equal(s.name, 'keep momentum: diverged in all 3 repeats, from epoch 6');
  assert.deepEqual(s.marks, [6]);
  const { svg, labels } = await render({ title: 't', xLabel: 'epoch', yLabel: 'loss', logY: true, series: [s, bandSeries('ok', steps, runs(5, 3))] });
  assert.ok(labels.some((l) => l.text === s.name));
  // the cross sits on the last finite point (epoch 5)
  assert.match(svg, /class="mark-symbol role-mark concat_0_layer_2_marks|class="mark-symbol role-mark layer_2_marks/);
  const some = bandSeries('reset', steps, [dead[0]!, runs(5, 1)[0]!, runs(5, 1)[0]!]);
  assert.equal(some.name, 'reset: diverged in 1 of 3 repeats');
  assert.ok(Number.isFinite(some.y[50]!)); // the mean goes on over the finite repeats
});

test('diverged labels: all vs some of N', () => {
  assert.equal(divergedIn(3, 3), 'diverged in all 3 repeats');
  assert.equal(divergedIn(1, 3), 'diverged in 1 of 3 repeats');
  assert.equal(divergedIn(1, 1, 'runs'), 'diverged in 1 of 1 runs');
  assert.equal(divergedIn(0, 3), '');
});

test('teleport-integration summary: all-diverged rows say "all", partly diverged ones "k of N"', () => {
  const config = decodeOrThrow(IntegrationConfig, { repeats: 3, epochs: 4, teleportAt: 2 });
  const ok: VariantRun = { loss: [4, 3, 2, 1, 0.5], diverged: false };
  const nan: VariantRun = { loss: [4, 3, NaN, NaN, NaN], diverged: true };
  const res: IntegrationResults = {
    config,
    panels: [
      {
        name: 'momentum',
        optimizer: config.panels[0]!.optimizer,
        variants: [
          { label: 'none', state: 'transport', runs: [ok, ok, ok] },
          { label: 'all', state: 'keep', runs: [nan, nan, nan] },
          { label: 'some', state: 'reset', runs: [ok, nan, ok] },
        ],
      },
    ],
  };
  const table = integrationSummary(res);
  assert.match(table, /\| none \|.*\| none \|/);
  assert.match(table, /\| all \|.*\| diverged in all 3 repeats \(non-finite from epoch 2\) \|/);
  assert.match(table, /\| some \|.*\| diverged in 1 of 3 repeats \(non-finite from epoch 2\) \|/);
  assert.ok(!/some repeats/.test(table));
  assert.equal(divergedNote([nan, nan, nan], ' (', ')'), ' (diverged in all 3 repeats (non-finite from epoch 2))');
});

test('the band of values that are never negative (a loss) stays at or above 0; a signed series keeps its band', () => {
  const steps = [0, 1, 2];
  const loss = bandSeries('loss', steps, [[0.1, 0.1, 0.1], [0.1, 0.1, 0.1], [10, 10, 10]]); // mean - std < 0
  assert.deepEqual(loss.lo, [0, 0, 0]);
  assert.ok(loss.hi!.every((h, i) => h > loss.y[i]!));
  const signed = bandSeries('signed', steps, [[-0.1, 0.1, 0.1], [0.1, 0.1, 0.1], [10, 10, 10]]);
  assert.ok(signed.lo![1]! < 0);
});
