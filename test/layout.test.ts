// The architecture as the imports show it: no import circle (type imports included), and no
// arrow from a lower layer to a higher one. Layers, lowest first: the base (ops, rng, config,
// run directories, logging, reports, backends, data); models and the toolkit (nn, symmetry,
// teleport, optim); tasks and training; the meta experiment and the paper's studies; the fault
// soak; the bench and the CLI; the public entry. And no core code branches on a paper variant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/cli.js';

const LAYER: Record<string, number> = {
  ops: 0, rng: 0, config: 0, run: 0, logging: 0, report: 0, backend: 0, data: 0,
  nn: 1, symmetry: 1, teleport: 1, optim: 1,
  tasks: 2, train: 2,
  meta: 3, distributed: 3, studies: 3,
  faults: 4,
  bench: 5, cli: 5,
  '.': 6,
};

const SRC = path.join(ROOT, 'src');
const files: string[] = [];
const walk = (d: string) => {
  for (const f of fs.readdirSync(d)) {
    const p = path.join(d, f);
    if (fs.statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(p);
  }
};
walk(SRC);
const folder = (f: string) => {
  const parts = path.relative(SRC, f).split(path.sep);
  return parts.length === 1 ? '.' : parts[0]!;
};
/** Relative imports and re-exports of a file (static and dynamic), as source paths. */
const imports = (f: string): string[] =>
  [...fs.readFileSync(f, 'utf8').matchAll(/(?:^(?:import|export)\s+(?:[^'";]*?from\s+)?|import\()['"](\.[^'"]+)['"]/gm)]
    .map((m) => path.normalize(path.join(path.dirname(f), m[1]!.replace(/\.js$/, '.ts'))))
    .filter((t) => fs.existsSync(t));
const graph = new Map(files.map((f) => [f, imports(f)]));

test('every folder of src/ has a layer', () => {
  for (const f of files) assert.ok(folder(f) in LAYER, `${path.relative(ROOT, f)}: folder "${folder(f)}" has no layer`);
});

test('no import arrow from a lower layer to a higher one', () => {
  const up = files.flatMap((f) => graph.get(f)!.filter((t) => LAYER[folder(t)]! > LAYER[folder(f)]!).map((t) => `${path.relative(ROOT, f)} -> ${path.relative(ROOT, t)}`));
  assert.deepEqual(up, []);
});

test('no import circle', () => {
  // Tarjan's strongly connected components: a component of more than one file is a circle
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const circles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    for (const w of graph.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        c.push(path.relative(ROOT, w));
      } while (w !== v);
      if (c.length > 1) circles.push(c);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  assert.deepEqual(circles, []);
});

test('no code of the core names a paper variant (they are presets: experiments/presets/)', () => {
  const CORE = ['ops', 'rng', 'config', 'run', 'nn', 'symmetry', 'teleport', 'optim', 'tasks', 'meta'];
  const core = files.filter((f) => CORE.includes(folder(f)));
  const code = (f: string) => fs.readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const named = core.filter((f) => /LSTM\((update|lr)/.test(code(f))).map((f) => path.relative(ROOT, f));
  assert.deepEqual(named, []);
});

test('tests mirror src/: a test folder is named after the src/ folder it tests', () => {
  const TEST = path.join(ROOT, 'test');
  const folders = fs.readdirSync(TEST).filter((d) => fs.statSync(path.join(TEST, d)).isDirectory() && !['helpers', 'fixtures'].includes(d));
  const unmatched = folders.filter((d) => !fs.existsSync(path.join(SRC, d)));
  assert.deepEqual(unmatched, []);
  const loose = fs.readdirSync(TEST).filter((f) => f.endsWith('.test.ts'));
  assert.deepEqual(loose.sort(), ['examples.test.ts', 'layout.test.ts', 'package.test.ts'], 'only whole-repository tests sit at the top of test/');
});
