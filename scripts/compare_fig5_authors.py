#!/usr/bin/env python3
"""Tables of Figure 5's side by side: symtele's optimizers-mnist run and the authors' own code
(scripts/reference_fig5_authors.py) on the same model ids (same initial weights, batch order and
teleport batches); or, with --control, the float32 / float64 runs of the authors' code.

    python3 scripts/compare_fig5_authors.py SYMTELE_RESULTS.json REFERENCE.json[,MORE.json] [--epochs 1 5 10 40]
    python3 scripts/compare_fig5_authors.py --control REFERENCE_FLOAT32.json REFERENCE_FLOAT64.json

SYMTELE_RESULTS.json: results.json of `symtele run optimizers-mnist`, or a saved (partial)
runs/<optimizer>.json; REFERENCE: one or more (comma-separated) result files of
reference_fig5_authors.py with the same settings. Markdown goes to stdout.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_fig5 import interval, mean_ci  # noqa: E402


def pearson(a, b):
    """Pearson r and its 95% interval (Fisher z), over the pairs."""
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    sa = math.sqrt(sum((x - ma) ** 2 for x in a))
    sb = math.sqrt(sum((y - mb) ** 2 for y in b))
    r = sum((x - ma) * (y - mb) for x, y in zip(a, b)) / (sa * sb)
    if n < 4 or abs(r) >= 1:
        return r, float('nan'), float('nan')
    z, h = math.atanh(r), 1.96 / math.sqrt(n - 3)
    return r, math.tanh(z - h), math.tanh(z + h)


def fmt_r(t):
    return f'{t[0]:+.2f} [{t[1]:+.2f}, {t[2]:+.2f}]'


def symtele_arms(path):
    d = json.load(open(path))
    if 'result' in d:  # a saved runs/<optimizer>.json
        d = {'optimizers': [d['result']]}
    return d['optimizers'][0]['optimizer']['name'], {a['arm']: {r['model']: r for r in a['runs']} for a in d['optimizers'][0]['arms']}


def reference_arms(paths):
    """The finished runs of one or more result files of the same setting (split over processes), by arm and model id."""
    arms, meta = {}, None
    for path in paths.split(',') if isinstance(paths, str) else paths:
        d = json.load(open(path))
        if meta is not None and {k: v for k, v in d['meta'].items() if k != 'threads'} != {k: v for k, v in meta.items() if k != 'threads'}:
            sys.exit(f'{path}: another setting than the files before it')
        meta = d['meta']
        for key, r in d['runs'].items():
            arm, _, model = key.partition('/')
            arms.setdefault(arm, {})[int(model)] = r
    return meta, arms


def at(run, e, key='trainLoss'):
    return run[key][e - 1] if run is not None and len(run[key]) >= e else float('nan')


def side_by_side(ours_path, ref_path, epochs):
    name, ours = symtele_arms(ours_path)
    meta, ref = reference_arms(ref_path)
    models = sorted(set(ours['none']) & set(ref.get('none', {})) & set(ref.get('teleport', {})))
    reached = min(min(len(r['trainLoss']) for arm in ('none', 'teleport') for r in (ref[arm][m] for m in models)),
                  min(len(r['trainLoss']) for r in ours['none'].values()))
    reached_ref = min(len(r['trainLoss']) for arm in ('none', 'teleport') for r in (ref[arm][m] for m in models))
    later = [e for e in epochs if reached < e <= reached_ref]
    epochs = [e for e in epochs if e <= reached]
    out = {'optimizer': name, 'models': models, 'epochsReached': reached, 'epochs': epochs, 'rows': {}, 'perModel': [], 'correlation': {}}
    rows = [('symtele, teleport-reset (exact h)', ours, 'teleport-reset'), ('symtele, teleport (state transported)', ours, 'teleport'),
            ('reference (authors\' code), teleport as called by their script', ref, 'teleport')]
    print(f'\n**{name}**: train loss, paired difference teleport − none, mean [95% t-interval] over {len(models)} model ids '
          f'({", ".join(map(str, models))}); reference: the authors\' functions, torch {meta["torch"]}, {meta["dtype"]}\n')
    print('| implementation, arm | ' + ' | '.join(f'epoch {e}' for e in epochs) + ' |')
    print('| --- | ' + ' | '.join('---' for _ in epochs) + ' |')
    for label, arms, arm in rows:
        if arm not in arms:
            continue
        ds = {e: [at(arms[arm].get(m), e) - at(arms['none'][m], e) for m in models] for e in epochs}
        out['rows'][label] = {e: mean_ci(ds[e])[:3] for e in epochs}
        print(f'| {label} | ' + ' | '.join(interval(ds[e]) for e in epochs) + ' |')
    print('\nThe no-teleport runs of both implementations, same model ids: mean train loss and the mean |symtele − reference|\n')
    print('| | ' + ' | '.join(f'epoch {e}' for e in epochs) + ' |')
    print('| --- | ' + ' | '.join('---' for _ in epochs) + ' |')
    print('| symtele none | ' + ' | '.join(f'{sum(at(ours["none"][m], e) for m in models) / len(models):.4f}' for e in epochs) + ' |')
    print('| reference none | ' + ' | '.join(f'{sum(at(ref["none"][m], e) for m in models) / len(models):.4f}' for e in epochs) + ' |')
    gaps = {e: [abs(at(ours['none'][m], e) - at(ref['none'][m], e)) for m in models] for e in epochs}
    print('| mean (max) abs difference | ' + ' | '.join(f'{sum(gaps[e]) / len(models):.1e} ({max(gaps[e]):.1e})' for e in epochs) + ' |')
    out['noneGap'] = {e: [sum(gaps[e]) / len(models), max(gaps[e])] for e in epochs}
    print('\nPer model id: no-teleport train loss (reference) and teleport − none (reference / symtele teleport-reset)\n')
    print('| model id | ' + ' | '.join(f'none, epoch {e}' for e in epochs) + ' | ' + ' | '.join(f'gain, epoch {e}' for e in epochs) + ' |')
    print('| --- | ' + ' | '.join('---' for _ in epochs * 2) + ' |')
    for m in models:
        gr = [at(ref['teleport'][m], e) - at(ref['none'][m], e) for e in epochs]
        go = [at(ours['teleport-reset'].get(m), e) - at(ours['none'][m], e) for e in epochs] if 'teleport-reset' in ours else [float('nan')] * len(epochs)
        out['perModel'].append({'model': m, 'referenceNone': [at(ref['none'][m], e) for e in epochs], 'referenceGain': gr,
                                'symteleNone': [at(ours['none'][m], e) for e in epochs], 'symteleGain': go})
        print(f'| {m} | ' + ' | '.join(f'{at(ref["none"][m], e):.4f}' for e in epochs) + ' | '
              + ' | '.join(f'{a:+.4f} / {b:+.4f}' for a, b in zip(gr, go)) + ' |')
    print('\nHow the gain depends on the no-teleport run: Pearson r across model ids [95% interval, Fisher z] between '
          'teleport − none at an epoch and the no-teleport loss at epoch 1, and the mean loss of the pair (teleport + none) / 2 at '
          'the same epoch (not none alone: a difference correlates negatively with its own subtracted term by construction); '
          'and between the two implementations\' gains\n')
    print('| epoch | reference: r(gain, none at 1) | reference: r(gain, pair mean) | symtele: r(gain, none at 1) | '
          'symtele: r(gain, pair mean) | r(reference gain, symtele gain) |')
    print('| --- | --- | --- | --- | --- | --- |')
    for j, e in enumerate(epochs):
        pm = out['perModel']
        gr = [p['referenceGain'][j] for p in pm]
        go = [p['symteleGain'][j] for p in pm]
        rn1 = [p['referenceNone'][0] for p in pm]
        rne = [p['referenceNone'][j] + g / 2 for p, g in zip(pm, gr)]
        on1 = [p['symteleNone'][0] for p in pm]
        one = [p['symteleNone'][j] + g / 2 for p, g in zip(pm, go)]
        c = {'refVsNone1': pearson(gr, rn1), 'refVsPairMean': pearson(gr, rne), 'oursVsNone1': pearson(go, on1),
             'oursVsPairMean': pearson(go, one), 'refVsOurs': pearson(gr, go)}
        out['correlation'][e] = c
        print(f'| {e} | ' + ' | '.join(fmt_r(c[k]) for k in ('refVsNone1', 'refVsPairMean', 'oursVsNone1', 'oursVsPairMean', 'refVsOurs')) + ' |')
    if later:
        print(f'\nThe reference alone at the epochs symtele\'s run has not reached (it has {reached}): teleport − none, mean '
              '[95% t-interval]; r(gain, none at 1); r(gain, pair mean)\n')
        print('| epoch | reference: teleport − none | r(gain, none at 1) | r(gain, pair mean) |')
        print('| --- | --- | --- | --- |')
        for e in later:
            gr = [at(ref['teleport'][m], e) - at(ref['none'][m], e) for m in models]
            pmean = [at(ref['none'][m], e) + g / 2 for m, g in zip(models, gr)]
            rn1 = [at(ref['none'][m], 1) for m in models]
            out['referenceOnly'] = {**out.get('referenceOnly', {}), e: {'gain': mean_ci(gr)[:3], 'perModel': gr,
                                                                        'rNone1': pearson(gr, rn1), 'rPairMean': pearson(gr, pmean)}}
            print(f'| {e} | {interval(gr)} | {fmt_r(pearson(gr, rn1))} | {fmt_r(pearson(gr, pmean))} |')
            print(f'|  | per model id: ' + ', '.join(f'{m}: {g:+.4f}' for m, g in zip(models, gr)) + ' | | |')
    ep = [s for m in models for s in ref['none'][m]['epochSeconds']]
    te = [ref['teleport'][m]['teleportSeconds'] for m in models]
    print(f'\nReference cost: a 2,500-step epoch {sum(ep) / len(ep):.2f} s (mean over runs and epochs, training only), '
          f'the 8 teleports of a run {sum(te) / len(te):.2f} s (shared, loaded machine)')
    return out


def control(f32_path, f64_path):
    out = {}
    print('\nPer teleport (the 8 of a run, pooled over model ids): ||dL/dW||^2 after / before on its batch (median, max), '
          'the loss change on its batch and on the whole training split (mean |after − before|, max), largest relative weight change\n')
    print('| dtype | arm | teleports | ‖grad‖² ratio median (max) | batch loss change mean (max) | training-split loss change mean (max) | max ‖ΔW‖/‖W‖ |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    data = {}
    for path in (f32_path, f64_path):
        meta, arms = reference_arms(path)
        data[meta['dtype']] = arms
        for arm in ('teleport', 'teleport-exact'):
            if arm not in arms:
                continue
            ev = [t for r in arms[arm].values() for t in r['teleports']]
            ratio = sorted(t['objectiveAfter'] / t['objectiveBefore'] for t in ev)
            bl = [abs(t['lossAfter'] - t['lossBefore']) for t in ev]
            tl = [abs(t['trainLossAfter'] - t['trainLossBefore']) for t in ev if 'trainLossAfter' in t]
            rc = max(max(t['relativeChange']) for t in ev)
            out[f'{meta["dtype"]}/{arm}'] = {'teleports': len(ev), 'ratioMedian': ratio[len(ratio) // 2], 'ratioMax': ratio[-1],
                                             'batchLossChange': [sum(bl) / len(bl), max(bl)], 'trainLossChange': [sum(tl) / len(tl), max(tl)] if tl else None,
                                             'maxRelativeChange': rc}
            print(f'| {meta["dtype"]} | {arm} | {len(ev)} | {ratio[len(ratio) // 2]:.3g} ({ratio[-1]:.3g}) | {sum(bl) / len(bl):.2e} ({max(bl):.2e}) | '
                  + (f'{sum(tl) / len(tl):.2e} ({max(tl):.2e})' if tl else '–') + f' | {rc:.3g} |')
    epochs = min(len(r['trainLoss']) for arms in data.values() for a in arms.values() for r in a.values())
    print('\nTrain loss, paired difference teleport − none within each dtype, mean [95% t-interval] over model ids; and the '
          'float64 − float32 difference of the teleport arms\' gains\n')
    print('| comparison | n | ' + ' | '.join(f'epoch {e}' for e in range(1, epochs + 1)) + ' |')
    print('| --- | --- | ' + ' | '.join('---' for _ in range(epochs)) + ' |')
    for arm in ('teleport', 'teleport-exact'):
        for dt, arms in data.items():
            if arm not in arms:
                continue
            ms = sorted(set(arms[arm]) & set(arms['none']))
            print(f'| {dt}: {arm} − none | {len(ms)} | ' + ' | '.join(interval([at(arms[arm][m], e) - at(arms['none'][m], e) for m in ms]) for e in range(1, epochs + 1)) + ' |')
        if all(arm in a for a in data.values()):
            a32, a64 = data['float32'], data['float64']
            ms = sorted(set(a32[arm]) & set(a64[arm]) & set(a32['none']) & set(a64['none']))
            g = lambda a, m, e: at(a[arm][m], e) - at(a['none'][m], e)
            print(f'| {arm}: gain float64 − gain float32 | {len(ms)} | ' + ' | '.join(interval([g(a64, m, e) - g(a32, m, e) for m in ms]) for e in range(1, epochs + 1)) + ' |')
    ms = sorted(set(data['float32']['none']) & set(data['float64']['none']))
    print(f'| none: float64 − float32 | {len(ms)} | ' + ' | '.join(interval([at(data['float64']['none'][m], e) - at(data['float32']['none'][m], e) for m in ms]) for e in range(1, epochs + 1)) + ' |')
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('files', nargs=2)
    p.add_argument('--control', action='store_true')
    p.add_argument('--epochs', type=int, nargs='+', default=[1, 5, 10, 40])
    p.add_argument('--json', help='also write the numbers of the tables here')
    a = p.parse_args()
    out = control(*a.files) if a.control else side_by_side(a.files[0], a.files[1], a.epochs)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(out, f, indent=1)


if __name__ == '__main__':
    main()
