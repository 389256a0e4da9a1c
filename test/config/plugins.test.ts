// Extension without forking: a plugin in the test tree (test/fixtures/plugin/parts.js: a
// quadratic task family and a learned optimizer with per-tensor step sizes, registered through
// the public API) trains, resumes after a kill, evaluates and logs through the CLI like a
// built-in part, in this process and on a worker thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { symteleBuilt } from '../helpers/cli.js';
import { eventFiles, readEventFile } from '../../src/logging/tensorboard.js';

const PLUGIN = path.join('test', 'fixtures', 'plugin', 'parts.js');

const config = (dir: string) => ({
  seed: 3,
  metaSeeds: [0],
  task: { kind: 'quadratic', dim: 6, condition: 20 },
  heldout: { trajectories: 4, steps: 20 },
  tableSteps: [1, 10, 20],
  variants: [
    { label: 'SGD', baseline: { kind: 'sgd', lr: [0.01, 0.03, 0.1] } },
    {
      label: 'layer-lr',
      learned: { kind: 'layer-lr' },
      train: { trajectories: 8, batch: 2, trajectoryLength: 20, unroll: 5, metaLr: { lr: 0.05 }, evalEvery: 1, valTrajectories: 2, valSteps: 20 },
    },
  ],
  logdir: path.join(dir, 'logs'),
  checkpointDir: path.join(dir, 'ckpt'),
  checkpointEvery: 1,
  histogramEvery: 0,
});

/** Write the config into a fresh folder; returns the config file and the held-out losses of results.json after `runs`. */
function setup(): { dir: string; file: string; losses: () => Record<string, number[][]> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-plugin-'));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config(dir)));
  const losses = () => {
    const r = JSON.parse(fs.readFileSync(path.join(dir, 'logs', 'results.json'), 'utf8')) as { variants: Record<string, { loss: number[][] }> };
    return Object.fromEntries(Object.entries(r.variants).map(([k, v]) => [k, v.loss]));
  };
  return { dir, file, losses };
}

test('plugin parts: listed, trained from the CLI, killed and resumed to identical numbers, evaluated from checkpoints, logged', async () => {
  const list = await symteleBuilt(['--plugin', PLUGIN, 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /quadratic - a diagonal quadratic \(plugin\)\n\s+fields: dim: a positive integer; condition: a positive number/);
  assert.match(list.stdout, /layer-lr - learned step size per parameter tensor \(plugin\)/);

  const whole = setup();
  const cut = setup();
  try {
    const a = await symteleBuilt(['--plugin', PLUGIN, 'meta', 'train', '--config', whole.file]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stderr, /SGD: lr 0\.1 \(validation scores/);
    // a progress line per tenth of the unit (no TTY here), with its place among the units and an ETA
    assert.match(a.stderr, /unit 1\/1 layer-lr seed 0: 50% \(2\/4\) [\d.]+s ETA \d+s metaLoss=/);

    // SIGKILL mid-training: no handler runs; the resume starts from the last checkpoint
    let killed = false;
    const b = await symteleBuilt(['--plugin', PLUGIN, 'meta', 'train', '--config', cut.file], (line, kill) => {
      if (!killed && /layer-lr seed 0: batch 2\/4/.test(line)) {
        killed = true;
        kill('SIGKILL');
      }
    });
    assert.ok(killed, b.stderr);
    assert.equal(b.code, null, 'killed by a signal');
    const c = await symteleBuilt(['--plugin', PLUGIN, 'meta', 'train', '--config', cut.file, '--resume']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, /layer-lr seed 0: resumed at batch [1-4]\/4/);
    assert.deepEqual(cut.losses(), whole.losses());

    // the trained unit evaluates from its checkpoints alone, to the same numbers
    fs.rmSync(path.join(cut.dir, 'logs', 'results.json'));
    const e = await symteleBuilt(['--plugin', PLUGIN, 'meta', 'eval', '--config', cut.file]);
    assert.equal(e.code, 0, e.stderr);
    assert.deepEqual(cut.losses(), whole.losses());

    // TensorBoard scalars of the unit
    const [events] = eventFiles(path.join(whole.dir, 'logs', 'layer-lr', 'seed-0'));
    const tags = new Set(readEventFile(events!).flatMap((ev) => ev.values.map((v) => v.tag)));
    for (const tag of ['meta/window_loss', 'meta/grad_norm_lr', 'val/score_mean_log_loss']) assert.ok(tags.has(tag), `${tag} in ${[...tags].join(', ')}`);

    // without the plugin, the config names parts nobody registered: a clear refusal before any work
    const none = await symteleBuilt(['meta', 'train', '--config', whole.file, '--fresh']);
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /task\.kind: expected one of "regression" \| "classification" \| "mixture", got "quadratic"/);
    assert.match(none.stderr, /variants\[1\]\.learned\.kind: expected one of .*got "layer-lr"/);
  } finally {
    fs.rmSync(whole.dir, { recursive: true, force: true });
    fs.rmSync(cut.dir, { recursive: true, force: true });
  }
});

test('plugin parts train on a worker thread (--jobs) to the numbers of this process', async () => {
  const here = setup();
  const thread = setup();
  try {
    const a = await symteleBuilt(['--plugin', PLUGIN, 'meta', 'train', '--config', here.file, '--quiet']);
    assert.equal(a.code, 0, a.stderr);
    const b = await symteleBuilt(['--plugin', PLUGIN, 'meta', 'train', '--config', thread.file, '--quiet', '--jobs', '2']);
    assert.equal(b.code, 0, b.stderr);
    assert.doesNotMatch(a.stderr + b.stderr, /unit 1\/1|\[meta\]/, '--quiet: no progress');
    assert.deepEqual(thread.losses(), here.losses());
  } finally {
    fs.rmSync(here.dir, { recursive: true, force: true });
    fs.rmSync(thread.dir, { recursive: true, force: true });
  }
});
