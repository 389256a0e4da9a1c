// One validation path: `config check` gives the verdict the run gives (the same decoding and
// the same preflight), lists every problem at every depth in one pass, checks output paths
// before any work and refuses sizes that cannot fit, with the estimate in the message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { ConfigError, decodeConfig, decodeOrThrow } from '../../src/config/codec.js';
import { outputPathProblem } from '../../src/config/preflight.js';
import { MetaExperimentCodec, resolveAll } from '../../src/meta/config.js';
import { estimateMeta, preflightMeta } from '../../src/meta/preflight.js';
import { getConfig } from '../../src/config/registry.js';
import '../../src/cli/commands/teleport.js';
import '../../src/studies/generalization/correlation.js';
import '../../src/studies/generalization/teleport-generalization.js';
import '../../src/studies/generalization/displacement.js';
import '../../src/studies/optimizers/config.js';
import { assertIncludesAll, symtele } from '../helpers/cli.js';

/** Run `fn` in a fresh temporary folder holding a regular file `afile` (removed afterwards). */
async function inTmp(fn: (dir: string, file: string) => unknown): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-preflight-'));
  try {
    const file = path.join(dir, 'afile');
    fs.writeFileSync(file, 'x');
    await fn(dir, file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The problems of a config, or [] when it decodes. */
function problems(raw: unknown): string[] {
  const r = decodeConfig(MetaExperimentCodec, raw, 'x.json');
  return E.isLeft(r) ? [...r.left.problems] : [];
}

/** Runs `fn` and returns the ConfigError it throws (fails when it throws nothing else). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail('expected a ConfigError');
}

test('every problem at every depth in one pass: top-level fields and inside every variant, each at its path', () => {
  const p = problems({
    seed: -1,
    heldout: { trajectories: 5, steps: 50 },
    tableSteps: [1, 10, 60],
    variants: [
      { preset: 'tuned/GD' },
      { preset: 'tuned/LSTM(update)', train: { trajectories: 0, foo: 1 } },
      { preset: 'tuned/LSTM(update,tele)', colour: 2, train: { batch: -1 }, learned: { update: { hidden: 0 } } },
    ],
  });
  for (const want of [
    'seed: expected a non-negative integer, got -1',
    'tableSteps[2]: 60 is beyond heldout.steps 50',
    'variants[1].train.trajectories: expected a positive integer, got 0',
    'variants[1].train.foo: unknown key',
    'variants[2].colour: unknown key',
    'variants[2].train.batch: expected a positive integer, got -1',
    'variants[2].learned.update.hidden: expected a positive integer, got 0',
  ]) {
    assert.ok(p.some((l) => l.startsWith(want)), `missing "${want}" in:\n${p.join('\n')}`);
  }
  assert.equal(p.length, 7, p.join('\n'));
  // a valid one stays valid; tableSteps may reach the last step
  assert.deepEqual(problems({ heldout: { trajectories: 2, steps: 30 }, tableSteps: [0, 30] }), []);
  // the transfer study's evaluation tasks: one label each
  const transfer = JSON.parse(fs.readFileSync('experiments/meta-transfer-quick.json', 'utf8'));
  assert.ok(problems({ ...transfer, evalTasks: [transfer.evalTasks[0], transfer.evalTasks[0]] }).some((l) => /^evalTasks: label "width 20 \(2 layers\)" used twice/.test(l)));
});

test('the checks across variants (warm start, labels) are decoding problems too', () => {
  const p = problems({ variants: [{ preset: 'tuned/GD' }, { preset: 'tuned/GD' }, { preset: 'tuned/LSTM(lr,tele)', train: { warmStart: 'GD' } }] });
  assert.ok(p.some((l) => l.startsWith('variants[2].train.warmStart: this entry has no update module')), p.join('\n'));
  assert.ok(p.some((l) => l.startsWith('variants: label "GD" used twice')), p.join('\n'));
});

test('output paths under a file or not writable: one error naming each field, thrown by the preflight before any work', async () => {
  await inTmp(async (dir, file) => {
    const exp = decodeOrThrow(MetaExperimentCodec, { checkpointDir: path.join(file, 'ck'), logdir: path.join(file, 'a', 'logs') });
    const e = configError(() => preflightMeta(exp, 'x.json', { json: path.join(file, 'r.json') }));
    for (const field of ['checkpointDir', 'logdir', '--json']) {
      assert.ok(e.problems.some((l) => l.startsWith(`${field}: `) && l.includes(`under ${file}, which is a file`)), `${field} in:\n${e.problems.join('\n')}`);
    }
    assert.equal(e.problems.length, 3);
    // meta eval writes no checkpoints: checkpointDir is not an output there
    const evalOnly = configError(() => preflightMeta(exp, 'x.json', { train: false }));
    assert.deepEqual(evalOnly.problems.map((l) => l.split(':')[0]), ['logdir']);
    // nothing was created by the check
    assert.deepEqual(fs.readdirSync(dir), ['afile']);
    // a path that is a file where a folder is expected, and the other way round
    assert.match(outputPathProblem({ field: 'logdir', path: file, kind: 'dir' })!, /^logdir: .* is a file, expected a directory/);
    assert.match(outputPathProblem({ field: '--json', path: dir, kind: 'file' })!, /^--json: .* is a directory, expected a file/);
    assert.equal(outputPathProblem({ field: 'logdir', path: path.join(dir, 'new', 'deeper'), kind: 'dir' }), null);
    if (process.getuid?.() !== 0) {
      // root writes anywhere; others cannot create under a read-only folder
      const ro = path.join(dir, 'ro');
      fs.mkdirSync(ro, { mode: 0o555 });
      assert.match(outputPathProblem({ field: 'checkpointDir', path: path.join(ro, 'x', 'y'), kind: 'dir' })!, /^checkpointDir: .* cannot be created, .*ro is not writable/);
      fs.chmodSync(ro, 0o755);
    }
  });
});

test('absurd sizes are refused with the estimate in the message; the default job is within limits', async () => {
  const heldout = decodeOrThrow(MetaExperimentCodec, { heldout: { trajectories: 1e8, steps: 1e8 }, tableSteps: [1], variants: [{ preset: 'tuned/GD' }] });
  const m = configError(() => preflightMeta(heldout, 'x.json')).problems.join('\n');
  assert.match(m, /sizes: an estimated [\d.]+ PiB of memory, above the .* allowed .*held-out records [\d.]+ PiB \(1\.00e\+16 entries/);
  assert.match(m, /sizes: an estimated [\d.e+]+ years of work/);
  assert.match(m, /heldout: results\.json would be/);

  const train = decodeOrThrow(MetaExperimentCodec, { variants: [{ preset: 'tuned/LSTM(update)', train: { trajectories: 1e9 } }] });
  const t = configError(() => preflightMeta(train, 'x.json')).problems;
  assert.equal(t.length, 1, t.join('\n'));
  assert.match(t[0]!, /^sizes: an estimated [\d.]+ years of work, above the 30\.0 days allowed: .*meta-training [\d.]+ years/);

  // the estimate grows with the sizes: twice the training trajectories, about twice the work
  const at = (n: number) => {
    const exp = decodeOrThrow(MetaExperimentCodec, { variants: [{ preset: 'tuned/LSTM(update)', train: { trajectories: n, evalEvery: 0 } }] });
    const resolved = resolveAll(exp, 'x');
    assert.ok(E.isRight(resolved));
    return estimateMeta(exp, resolved.right);
  };
  const [a, b] = [at(1000), at(2000)];
  assert.ok(b.seconds > 1.9 * a.seconds - 1 && b.seconds < 2 * a.seconds, `${a.seconds} ${b.seconds}`);

  // the default job passes, with an estimate of minutes (measured: about 4 minutes alone)
  const def = JSON.parse(fs.readFileSync('experiments/meta-default.json', 'utf8'));
  await inTmp(async (dir) => {
    const ok = preflightMeta(decodeOrThrow(MetaExperimentCodec, { ...def, logdir: path.join(dir, 'l'), checkpointDir: path.join(dir, 'c') }), 'default');
    assert.ok(ok.estimate.seconds > 30 && ok.estimate.seconds < 3600, String(ok.estimate.seconds));
    assert.ok(ok.estimate.bytes < os.totalmem() / 2);
  });
});

/** Write a meta config into `dir` and return its path. */
const writeConfig = (dir: string, name: string, raw: unknown) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, JSON.stringify(raw));
  return f;
};

test('CLI: config check --kind meta gives the verdict of meta train on the same bad configs', async () => {
  await inTmp(async (dir) => {
    // each of these used to pass `config check` and fail only in `meta train`
    const f = writeConfig(dir, 'bad.json', {
      heldout: { trajectories: 2, steps: 20 },
      tableSteps: [1, 50],
      variants: [{ preset: 'tuned/LSTM(update)', train: { trajectories: 0 } }, { preset: 'tuned/LSTM(update,tele)', train: { batch: -1 } }, { preset: 'tuned/LSTM(lr,tele)', learned: { tele: { colour: 1 } } }],
      logdir: path.join(dir, 'logs'),
      checkpointDir: path.join(dir, 'ck'),
  });
  const check = await symtele(['config', 'check', f, '--kind', 'meta']);
  const run = await symtele(['meta', 'train', '--config', f, '--quiet'], { SYMTELE_BACKEND: 'cpu' });
  for (const r of [check, run]) {
    assert.equal(r.code, 2, r.stderr);
    assertIncludesAll(r.stderr, [
      'variants[0].train.trajectories: expected a positive integer, got 0',
      'variants[1].train.batch: expected a positive integer, got -1',
      'variants[2].learned.tele.colour: unknown key',
      'tableSteps[1]: 50 is beyond heldout.steps 20',
    ]);
    assert.ok(!r.stderr.includes('backend:'), 'refused before the backend starts');
  }
  // the same problems, line for line
  const lines = (s: string) => s.split('\n').filter((l) => l.startsWith('  '));
  assert.deepEqual(lines(check.stderr), lines(run.stderr));
  assert.deepEqual(fs.readdirSync(dir).filter((f) => !f.endsWith('.json')), ['afile'], 'nothing written');
  });
});

test('CLI: output paths under a file and absurd sizes exit 2 before any work, naming the field and the estimate', async () => {
  await inTmp(async (dir, file) => {
    const f = writeConfig(dir, 'paths.json', { checkpointDir: path.join(file, 'ck'), logdir: path.join(dir, 'logs') });
    const train = await symtele(['meta', 'train', '--config', f, '--quiet']);
    assert.equal(train.code, 2, train.stderr);
    assert.match(train.stderr, /checkpointDir: .*afile[\\/]ck is under .*afile, which is a file/);
    const check = await symtele(['config', 'check', f, '--kind', 'meta']);
    assert.equal(check.code, 2);
    assert.match(check.stderr, /checkpointDir: .* which is a file/);
    // --json under a file: refused before training (it used to fail after all training and evaluation)
    const ok = writeConfig(dir, 'ok.json', { logdir: path.join(dir, 'logs'), checkpointDir: path.join(dir, 'ck') });
    const json = await symtele(['main', '--config', ok, '--json', path.join(file, 'r.json'), '--quiet']);
    assert.equal(json.code, 2, json.stderr);
    assert.match(json.stderr, /--json: .*r\.json is under .*afile, which is a file/);
    assert.ok(!json.stderr.includes('backend:'), json.stderr);
    // heldout 1e8 x 1e8: refused at once with the estimate (it used to fail after 29 s and 1.6 GB)
    const huge = writeConfig(dir, 'huge.json', { heldout: { trajectories: 1e8, steps: 1e8 }, tableSteps: [1], logdir: path.join(dir, 'logs'), checkpointDir: path.join(dir, 'ck') });
    for (const args of [['config', 'check', huge, '--kind', 'meta'], ['meta', 'train', '--config', huge]]) {
      const r = await symtele(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /sizes: an estimated [\d.]+ PiB of memory/);
    }
    // a valid config: config check prints the estimate
    const good = await symtele(['config', 'check', ok, '--kind', 'meta']);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stderr, /valid meta config\nestimate: memory that grows with the sizes ~[\d.]+ \w+ .*, work ~[\d.]+ min\n {2}held-out records/);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['afile', 'huge.json', 'ok.json', 'paths.json'], 'nothing written');
  });
});

test('every registered kind with an output folder checks it in config check and in its run command alike', async () => {
  await inTmp(async (dir, file) => {
    // decoding: checks across fields of a study are part of its codec (they used to run only in the command)
    const corr = writeConfig(dir, 'corr.json', { curvature: { layer: 5 }, snapshots: [50] });
    const bad = await symtele(['config', 'check', corr, '--kind', 'correlation']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /curvature\.layer: expected a hidden layer of 784-16-10-10 \(0\.\.1\), got 5\n {2}snapshots: expected epochs before the last \(40\), got 50/);
    // output paths: the same verdict from config check and from the run, flags (--json) included
    const out = writeConfig(dir, 'out.json', { out: path.join(file, 'o') });
    const check = await symtele(['config', 'check', out, '--kind', 'correlation']);
    const run = await symtele(['run', 'correlation', '--config', out, '--json', path.join(file, 'j.json')]);
    for (const r of [check, run]) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /out: .*afile[\\/]o is under .*afile, which is a file/);
      assert.ok(!r.stderr.includes('backend:'), r.stderr);
    }
    assert.match(run.stderr, /--json: .*j\.json is under .*afile, which is a file/);
    // the other kinds' preflights, as config check and their commands call them
    for (const [kind, raw] of [['teleport-generalization', {}], ['optimizers-mnist', {}], ['teleport-integration', {}], ['displacement', {}], ['teleport', {}]] as const) {
      const k = getConfig(kind)!;
      const value = decodeOrThrow(k.codec, { ...raw, out: path.join(file, 'o') }, kind);
      const e = configError(() => k.preflight!(value, kind));
      assert.match(e.problems.join('\n'), /^out: .* which is a file/, kind);
    }
  });
});
