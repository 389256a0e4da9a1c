#!/usr/bin/env python3
"""Side-by-side table of Figure 5's teleport effect: symtele's run (results.json of
`symtele run optimizers-mnist`) and the PyTorch reference protocol (scripts/reference_fig5.py).

    python3 scripts/compare_fig5.py docs/optimizers/results-mnist-5k.json docs/optimizers/reference-pytorch-mnist-5k.json
"""
import json
import math
import sys

T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093]
NAMES = {'momentum': 'momentum', 'adagrad': 'adagrad', 'rmsprop': 'rmsprop', 'adam': 'adam'}


def mean_ci(d):
    """Mean and 95% t-interval (df = n - 1) of the finite values: (mean, low, high, n)."""
    d = [v for v in d if math.isfinite(v)]
    n = len(d)
    if n == 0:
        return float('nan'), float('nan'), float('nan'), 0
    m = sum(d) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in d) / (n - 1)) if n > 1 else float('nan')
    h = T975[n - 2] * sd / math.sqrt(n) if 1 < n <= len(T975) + 1 else float('nan')
    return m, m - h, m + h, n


def interval(d):
    m, lo, hi, _ = mean_ci(d)
    return f'{m:+.4f} [{lo:+.4f}, {hi:+.4f}]'


def diffs(a, b, e, key='trainLoss'):
    return [p[key][e - 1] - q[key][e - 1] for p, q in zip(a, b) if len(p[key]) >= e and len(q[key]) >= e]


def teleport_stats(runs):
    ev = [t for r in runs for t in r['teleports']]
    ratio = [t['objectiveAfter'] / t['objectiveBefore'] for t in ev]
    drift = [abs(t['lossAfter'] - t['lossBefore']) for t in ev]
    return f'{sum(ratio) / len(ratio):.3f} ({min(ratio):.3f}–{max(ratio):.3f})', f'{sum(drift) / len(drift):.1e} (max {max(drift):.1e})'


def main(ours_path, torch_path):
    ours = json.load(open(ours_path))
    if 'result' in ours:  # one optimizer's saved (possibly partial) result, <out>/runs/<optimizer>.json
        ours = {'optimizers': [ours['result']]}
    ref = json.load(open(torch_path))
    for o in ours['optimizers']:
        name = o['optimizer']['name']
        if name not in ref['optimizers']:
            continue
        arms = {a['arm']: a['runs'] for a in o['arms']}
        tarms = ref['optimizers'][name]['arms']
        reached = min(o['epochs'], ref['epochs'])
        epochs = sorted({e for e in (1, 2, 5, 10, reached) if e <= reached})
        print(f'\n{name}: paired train-loss difference to none, mean [95% t-interval], {len(arms["none"])} runs each\n')
        print('| implementation, arm | ' + ' | '.join(f'epoch {e}' for e in epochs) + ' |')
        print('| --- | ' + ' | '.join('---' for _ in epochs) + ' |')
        rows = [('symtele, teleport-reset (exact h)', arms.get('teleport-reset')), ('symtele, reset only', arms.get('reset')),
                ('PyTorch reference, teleport (h <- (I+T)h)', tarms.get('teleport-reference')),
                ('PyTorch reference, teleport (exact h)', tarms.get('teleport-exact')), ('PyTorch reference, reset only', tarms.get('reset'))]
        for label, runs in rows:
            if runs is None:
                continue
            base = arms['none'] if label.startswith('symtele') else tarms['none']
            print(f'| {label} | ' + ' | '.join(interval(diffs(runs, base, e)) for e in epochs) + ' |')
        print('\nCost: seconds of a training epoch (none arm, per run) and of the 8 teleports of a run\n')
        print('| implementation | epoch s | 8 teleports s | teleports in epochs |')
        print('| --- | --- | --- | --- |')
        for label, runs, base in (('symtele (lockstep, per run amortised)', arms.get('teleport-reset'), arms['none']),
                                  ('PyTorch reference (one model)', tarms.get('teleport-exact') or tarms.get('teleport-reference'), tarms['none'])):
            if runs is None:
                continue
            ep = sum(sum(r['epochSeconds']) / len(r['epochSeconds']) for r in base) / len(base)
            te = sum(r['teleportSeconds'] for r in runs) / len(runs)
            print(f'| {label} | {ep:.2f} | {te:.2f} | {te / ep:.2f} |')
        print('\nPer teleport, on its batch of 200: ||grad||^2 after / before (mean, range) and |loss after - before| (mean, max)\n')
        print('| implementation, arm | ‖grad‖² ratio | loss drift |')
        print('| --- | --- | --- |')
        for label, runs in rows:
            if runs is None or not any(r['teleports'] for r in runs):
                continue
            g, d = teleport_stats(runs)
            print(f'| {label} | {g} | {d} |')


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: compare_fig5.py OURS_RESULTS.json TORCH_RESULTS.json')
    main(sys.argv[1], sys.argv[2])
