// The programs of examples/ run as a user runs them (`npx tsx examples/<file>`), and do what
// they say: the teleport changes Adam's curve from the same start, the learned optimizer is
// meta-trained and evaluated beside a tuned Adam, and its checkpoints evaluate again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './helpers/cli.js';

const run = (file: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join('examples', file), ...args], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `${file}: ${r.stderr}`);
  return r.stdout;
};

test('examples/teleporting-adam.ts: same start, the teleported run differs after it, no tensor left', () => {
  const out = run('teleporting-adam.ts');
  const curve = (label: string) => out.split('\n').find((l) => l.startsWith(label))!.match(/step \d+: [\d.]+/g)!;
  const [plain, tele] = [curve('Adam   '), curve('Adam + teleport')];
  assert.equal(plain[0], tele[0], 'the same initial loss');
  assert.notEqual(plain[1], tele[1]);
  assert.match(out, /tensors left: 0/);
});

test('examples/learned-optimizer.ts then examples/evaluate-saved.ts: trained, saved, evaluated again from the checkpoints', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-examples-'));
  try {
    const trained = run('learned-optimizer.ts', dir);
    assert.match(trained, /Adam: lr [\d.e-]+ \(validation scores/);
    assert.match(trained, /\| learned momentum \| 16 \|/);
    assert.ok(fs.existsSync(path.join(dir, 'logs', 'results.json')));
    const again = run('evaluate-saved.ts', dir);
    assert.match(again, /evaluated Adam, learned momentum on 32 held-out problems of 100 steps/);
    assert.ok(fs.existsSync(path.join(dir, 'eval-logs', 'results.json')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("examples/quick-start.ts (the README's quick start) trains and evaluates its three entries", () => {
  const out = run('quick-start.ts');
  assert.match(out, /^LSTM\(update,tele\), small LSTM, Adam$/m);
  assert.match(out, /\| Adam \| 8 \|/);
  fs.rmSync(path.join(ROOT, 'logs', 'quick-start'), { recursive: true, force: true });
  fs.rmSync(path.join(ROOT, 'checkpoints', 'quick-start'), { recursive: true, force: true });
});

test('examples type-check against the built package (what a user importing symtele compiles against), scripts against src', () => {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const dir of ['examples', 'scripts']) {
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json')], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, `${dir}: ${r.stdout}${r.stderr}`);
  }
});
