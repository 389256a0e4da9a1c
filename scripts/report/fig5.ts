// The side-by-side tables of docs/results/optimizers.md (Figure 5 against PyTorch and against the
// authors' own code), ported from scripts/compare_fig5.py and scripts/compare_fig5_authors.py so
// that `npm run report` writes them from the committed result files; and the cost bench of
// scripts/bench_fig5.sh (docs/optimizers/bench/).
type Read = <T>(file: string) => T;

const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093];

/** Mean and 95% t-interval of the finite values (as compare_fig5.py). */
function meanCi(d: number[]): { m: number; lo: number; hi: number; n: number } {
  const v = d.filter(Number.isFinite);
  const n = v.length;
  if (!n) return { m: NaN, lo: NaN, hi: NaN, n };
  const m = v.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1)) : NaN;
  const h = n > 1 && n <= T975.length + 1 ? (T975[n - 2]! * sd) / Math.sqrt(n) : NaN;
  return { m, lo: m - h, hi: m + h, n };
}
/** Python's `{x:+.Nf}`. */
const pf = (x: number, d = 4) => (Number.isNaN(x) ? 'nan' : `${x >= 0 ? '+' : '-'}${Math.abs(x).toFixed(d)}`);
/** Python's `{x:.Ne}` (two-digit exponent). */
const pe = (x: number, d = 1) => x.toExponential(d).replace(/e([+-])(\d)$/, 'e$10$2');
const interval = (d: number[], digits = 4) => {
  const c = meanCi(d);
  return `${pf(c.m, digits)} [${pf(c.lo, digits)}, ${pf(c.hi, digits)}]`;
};
/** The same with a Unicode minus, bold when the interval excludes 0 (the style of the optimizers tables). */
const boldInterval = (d: number[], digits: number) => {
  const c = meanCi(d);
  const s = `${pf(c.m, digits)} [${pf(c.lo, digits)}, ${pf(c.hi, digits)}]`.replace(/-/g, '−');
  return c.lo > 0 || c.hi < 0 ? `**${s}**` : s;
};

interface Teleport { objectiveBefore: number; objectiveAfter: number; lossBefore: number; lossAfter: number; trainLossBefore?: number; trainLossAfter?: number; relativeChange?: number[] }
interface Run { model?: number; trainLoss: number[]; epochSeconds: number[]; teleportSeconds: number; teleports: Teleport[] }
interface Ours { optimizers: { optimizer: { name: string }; epochs: number; arms: { arm: string; runs: Run[] }[] }[] }
interface Torch { epochs: number; optimizers: Record<string, { arms: Record<string, Run[]> }> }

const diffs = (a: Run[], b: Run[], e: number) => a.flatMap((p, i) => (p.trainLoss.length >= e && b[i]!.trainLoss.length >= e ? [p.trainLoss[e - 1]! - b[i]!.trainLoss[e - 1]!] : []));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** compare_fig5.py: per optimizer of both files, the paired differences, the cost and the teleports' gain and drift. */
export function fig5SideBySide(read: Read, oursFile: string, torchFile: string): string {
  const ours = read<Ours>(oursFile);
  const ref = read<Torch>(torchFile);
  const out: string[] = [];
  for (const o of ours.optimizers) {
    const name = o.optimizer.name;
    const t = ref.optimizers[name];
    if (!t) continue;
    const arms = Object.fromEntries(o.arms.map((a) => [a.arm, a.runs]));
    const tarms = t.arms;
    const reached = Math.min(o.epochs, ref.epochs);
    const epochs = [...new Set([1, 2, 5, 10, reached])].filter((e) => e <= reached).sort((a, b) => a - b);
    const rows: [string, Run[] | undefined][] = [
      ['symtele, teleport-reset (exact h)', arms['teleport-reset']],
      ['symtele, reset only', arms['reset']],
      ['PyTorch reference, teleport (h <- (I+T)h)', tarms['teleport-reference']],
      ['PyTorch reference, teleport (exact h)', tarms['teleport-exact']],
      ['PyTorch reference, reset only', tarms['reset']],
    ];
    out.push(`**${name}**: paired train-loss difference to none, mean [95% t-interval], ${arms['none']!.length} runs each`, '');
    out.push(`| implementation, arm | ${epochs.map((e) => `epoch ${e}`).join(' | ')} |`, `| --- | ${epochs.map(() => '---').join(' | ')} |`);
    for (const [label, runs] of rows) {
      if (!runs) continue;
      const base = label.startsWith('symtele') ? arms['none']! : tarms['none']!;
      out.push(`| ${label} | ${epochs.map((e) => interval(diffs(runs, base, e))).join(' | ')} |`);
    }
    out.push('', 'Cost: seconds of a training epoch (none arm, per run) and of the 8 teleports of a run', '');
    out.push('| implementation | epoch s | 8 teleports s | teleports in epochs |', '| --- | --- | --- | --- |');
    for (const [label, runs, base] of [
      ['symtele (lockstep, per run amortised)', arms['teleport-reset'], arms['none']!],
      ['PyTorch reference (one model)', tarms['teleport-exact'] ?? tarms['teleport-reference'], tarms['none']!],
    ] as [string, Run[] | undefined, Run[]][]) {
      if (!runs) continue;
      const ep = mean(base.map((r) => mean(r.epochSeconds)));
      const te = mean(runs.map((r) => r.teleportSeconds));
      out.push(`| ${label} | ${ep.toFixed(2)} | ${te.toFixed(2)} | ${(te / ep).toFixed(2)} |`);
    }
    out.push('', 'Per teleport, on its batch of 200: ||grad||^2 after / before (mean, range) and |loss after - before| (mean, max)', '');
    out.push('| implementation, arm | ‖grad‖² ratio | loss drift |', '| --- | --- | --- |');
    for (const [label, runs] of rows) {
      const ev = (runs ?? []).flatMap((r) => r.teleports);
      if (!ev.length) continue;
      const ratio = ev.map((x) => x.objectiveAfter / x.objectiveBefore);
      const drift = ev.map((x) => Math.abs(x.lossAfter - x.lossBefore));
      out.push(`| ${label} | ${mean(ratio).toFixed(3)} (${Math.min(...ratio).toFixed(3)}–${Math.max(...ratio).toFixed(3)}) | ${pe(mean(drift))} (max ${pe(Math.max(...drift))}) |`);
    }
    out.push('');
  }
  return out.join('\n').trimEnd();
}

/** A PyTorch reference file alone: train loss, each arm − none, per optimizer, at epochs 1, 2, 5, 10 (those reached). */
export function torchArmsTable(read: Read, torchFile: string): string {
  const ref = read<Torch>(torchFile);
  const epochs = [1, 2, 5, 10].filter((e) => e <= ref.epochs);
  const lines = [`| optimizer | arms | ${epochs.map((e) => `epoch ${e}`).join(' | ')} |`, `| --- | --- | ${epochs.map(() => '---').join(' | ')} |`];
  for (const [name, o] of Object.entries(ref.optimizers)) {
    for (const [arm, runs] of Object.entries(o.arms)) {
      if (arm === 'none') continue;
      lines.push(`| ${name} | ${arm} − none | ${epochs.map((e) => boldInterval(diffs(runs, o.arms['none']!, e), 3)).join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

// ---- the authors' own code (scripts/reference_fig5_authors.py) ----------------------------
interface Authors { meta: { dtype: string; torch: string }; runs: Record<string, Run> }
type Arms = Record<string, Record<number, Run>>;

function authorsArms(read: Read, files: string[]): Arms {
  const arms: Arms = {};
  for (const f of files) {
    for (const [key, r] of Object.entries(read<Authors>(f).runs)) {
      const [arm, model] = key.split('/');
      (arms[arm!] ??= {})[Number(model)] = r;
    }
  }
  return arms;
}
function oursArms(read: Read, file: string): Arms {
  const o = read<Ours>(file).optimizers[0]!;
  return Object.fromEntries(o.arms.map((a) => [a.arm, Object.fromEntries(a.runs.map((r) => [r.model!, r]))]));
}
const at = (r: Run | undefined, e: number) => (r && r.trainLoss.length >= e ? r.trainLoss[e - 1]! : NaN);
const ids = (a: Record<number, Run>) => Object.keys(a).map(Number);

/** compare_fig5_authors.py: teleport − none over the model ids both have, and per model id. */
export function fig5AuthorsTables(read: Read, oursFile: string, refFile: string, epochs: number[]): string {
  const ours = oursArms(read, oursFile);
  const ref = authorsArms(read, [refFile]);
  const models = ids(ours['none']!).filter((m) => ref['none']?.[m] && ref['teleport']?.[m]).sort((a, b) => a - b);
  const rows: [string, Arms, string][] = [
    ['symtele, teleport-reset (exact h)', ours, 'teleport-reset'],
    ['symtele, teleport (state transported)', ours, 'teleport'],
    ["reference (the authors' code), teleport as their script calls it", ref, 'teleport'],
  ];
  const gain = (arms: Arms, arm: string, m: number, e: number) => at(arms[arm]![m], e) - at(arms['none']![m], e);
  const lines = [`Train loss, paired difference teleport − none, mean [95% t-interval] over the ${models.length} model ids:`, '', `| implementation, arm | ${epochs.map((e) => `epoch ${e}`).join(' | ')} |`, `| --- | ${epochs.map(() => '---').join(' | ')} |`];
  for (const [label, arms, arm] of rows) if (arms[arm]) lines.push(`| ${label} | ${epochs.map((e) => boldInterval(models.map((m) => gain(arms, arm, m, e)), 4)).join(' | ')} |`);
  lines.push('', "Per model id: the reference's no-teleport train loss at epoch 1, and teleport − none for the reference / symtele's teleport-reset:", '');
  lines.push(`| model id | none, epoch 1 | ${epochs.map((e) => `epoch ${e}`).join(' | ')} |`, `| --- | --- | ${epochs.map(() => '---').join(' | ')} |`);
  const u = (x: number) => pf(x).replace(/-/g, '−');
  for (const m of models) lines.push(`| ${m} | ${at(ref['none']![m], 1).toFixed(4)} | ${epochs.map((e) => `${u(gain(ref, 'teleport', m, e))} / ${u(gain(ours, 'teleport-reset', m, e))}`).join(' | ')} |`);
  return lines.join('\n');
}

/** compare_fig5_authors.py --control: the teleports pooled per dtype and arm, and the paired differences per dtype. */
export function fig5ControlTables(read: Read, f32: string, f64: string): string {
  const data: Record<string, Arms> = {};
  const lines = [
    "Pooled over the 40 teleports of each arm: ‖grad‖² after / before on the teleport's batch (median, max); the loss change on the batch and on the training split, mean |after − before| (max); the largest relative weight change ‖ΔW‖/‖W‖:",
    '',
    '| dtype | arm | teleports | ‖grad‖² ratio median (max) | batch loss change mean (max) | training-split loss change mean (max) | max ‖ΔW‖/‖W‖ |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  /** Python's `{x:.3g}`. */
  const g3 = (x: number) => {
    const e = Math.floor(Math.log10(Math.abs(x)));
    const strip = (t: string) => t.replace(/\.?0+(e|$)/, '$1');
    return e < -4 || e >= 3 ? strip(x.toExponential(2)).replace(/e([+-])(\d)$/, 'e$10$2') : strip(x.toPrecision(3));
  };
  for (const f of [f32, f64]) {
    const dtype = read<Authors>(f).meta.dtype;
    const arms = (data[dtype] = authorsArms(read, [f]));
    for (const arm of ['teleport', 'teleport-exact']) {
      if (!arms[arm]) continue;
      const ev = Object.values(arms[arm]!).flatMap((r) => r.teleports);
      const ratio = ev.map((t) => t.objectiveAfter / t.objectiveBefore).sort((a, b) => a - b);
      const bl = ev.map((t) => Math.abs(t.lossAfter - t.lossBefore));
      const tl = ev.filter((t) => t.trainLossAfter !== undefined).map((t) => Math.abs(t.trainLossAfter! - t.trainLossBefore!));
      const rc = Math.max(...ev.map((t) => Math.max(...t.relativeChange!)));
      lines.push(`| ${dtype} | ${arm} | ${ev.length} | ${g3(ratio[ratio.length >> 1]!)} (${g3(ratio.at(-1)!)}) | ${pe(mean(bl), 2)} (${pe(Math.max(...bl), 2)}) | ${tl.length ? `${pe(mean(tl), 2)} (${pe(Math.max(...tl), 2)})` : '–'} | ${g3(rc)} |`);
    }
  }
  const first = [1, 2, 3];
  lines.push('', 'Per teleport, the loss change on the whole training split (after − before), per model id, teleports 1, 2, 3 of a run:', '');
  lines.push(`| arm | teleport | ${Object.keys(data).join(' | ')} |`, `| --- | --- | ${Object.keys(data).map(() => '---').join(' | ')} |`);
  const signedE = (x: number) => `${x >= 0 ? '+' : '−'}${pe(Math.abs(x))}`;
  for (const arm of ['teleport', 'teleport-exact']) {
    for (const k of first) {
      const cells = Object.values(data).map((a) =>
        Object.values(a[arm] ?? {}).map((r) => r.teleports[k - 1]).map((t) => (t && t.trainLossAfter !== undefined ? signedE(t.trainLossAfter - t.trainLossBefore!) : '–')).join(', '),
      );
      lines.push(`| ${arm} | ${k} | ${cells.join(' | ')} |`);
    }
  }
  const all = Object.values(data).flatMap((a) => Object.values(a).flatMap((x) => Object.values(x)));
  const n = Math.min(...all.map((r) => r.trainLoss.length));
  const epochs = Array.from({ length: n }, (_, i) => i + 1);
  lines.push('', 'Train loss, paired difference teleport − none within each dtype, mean [95% t-interval] over the model ids; and the float64 − float32 difference of the teleport arms\' gains:', '');
  lines.push(`| comparison | n | ${epochs.map((e) => `epoch ${e}`).join(' | ')} |`, `| --- | --- | ${epochs.map(() => '---').join(' | ')} |`);
  const gain = (a: Arms, arm: string, m: number, e: number) => at(a[arm]![m], e) - at(a['none']![m], e);
  const common = (...xs: Record<number, Run>[]) => ids(xs[0]!).filter((m) => xs.every((x) => x[m])).sort((a, b) => a - b);
  for (const arm of ['teleport', 'teleport-exact']) {
    for (const [dt, a] of Object.entries(data)) {
      if (!a[arm]) continue;
      const ms = common(a[arm]!, a['none']!);
      lines.push(`| ${dt}: ${arm} − none | ${ms.length} | ${epochs.map((e) => boldInterval(ms.map((m) => gain(a, arm, m, e)), 3)).join(' | ')} |`);
    }
    const a32 = data['float32']!;
    const a64 = data['float64']!;
    if (a32[arm] && a64[arm]) {
      const ms = common(a32[arm]!, a64[arm]!, a32['none']!, a64['none']!);
      lines.push(`| ${arm}: gain float64 − gain float32 | ${ms.length} | ${epochs.map((e) => boldInterval(ms.map((m) => gain(a64, arm, m, e) - gain(a32, arm, m, e)), 3)).join(' | ')} |`);
    }
  }
  const ms = common(data['float32']!['none']!, data['float64']!['none']!);
  lines.push(`| none: float64 − float32 | ${ms.length} | ${epochs.map((e) => boldInterval(ms.map((m) => at(data['float64']!['none']![m], e) - at(data['float32']!['none']![m], e)), 3)).join(' | ')} |`);
  return lines.join('\n');
}

/** scripts/bench_fig5.sh: one 250-step epoch, one teleport and the 8 teleports in 2,500-step epochs, per implementation. */
export function fig5BenchTable(read: Read, dir: string): string {
  const lines = ['| implementation | 250-step epoch | one teleport (10 steps on 200 samples) | the 8 teleports, in 2,500-step epochs |', '| --- | --- | --- | --- |'];
  const row = (label: string, epoch: number, teleports: number, count: number) => lines.push(`| ${label} | ${epoch.toFixed(2)} s | ${(teleports / count).toFixed(2)} s | ${(teleports / (epoch * 10)).toFixed(1)} |`);
  for (const threads of [1, 2]) {
    const t = read<Torch & { torch: string }>(`${dir}/bench-torch-threads${threads}.json`);
    const o = t.optimizers['momentum']!;
    const tele = o.arms['teleport-exact']![0]!;
    row(`PyTorch ${t.torch}, ${threads} thread${threads > 1 ? 's' : ''}`, o.arms['none']![0]!.epochSeconds[0]!, tele.teleportSeconds, tele.teleports.length);
  }
  const s = read<Ours>(`${dir}/bench-symtele.json`).optimizers[0]!;
  const tele = s.arms.find((a) => a.arm === 'teleport-reset')!.runs[0]!;
  row('symtele (tfjs wasm, lockstep of 2 models, per model)', s.arms.find((a) => a.arm === 'none')!.runs[0]!.epochSeconds[0]!, tele.teleportSeconds, tele.teleports.length);
  return lines.join('\n');
}
