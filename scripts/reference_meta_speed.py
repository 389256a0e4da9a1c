#!/usr/bin/env python3
"""Wall-clock speed of the reference implementation's meta-training protocol, in PyTorch.

Times what the authors' code (Rose-STL-Lab/Teleportation-Optimization, learn-to-teleport/) does
per meta-training trajectory on the paper's section 5.2 problem, written anew from reading it:

- problem: X, Y, W1, W2 all 20x20, uniform [0, 1) entries (X and Y require grad, as there, so
  every meta-backward also runs through pinv(X)); loss 0.5 ||Y - W2 lrelu_0.1(W1 X)||^2;
- LSTM(update): two stacked LSTM cells (800 -> 300 -> 300) and a linear head 300 -> 800 read the
  flattened gradient and output the update, clamped to +-1e7, subtracted from the weights;
- LSTM(update,tele): as above, then a second LSTM of the same shape with a head 300 -> 400 reads
  the same gradient and outputs T (20x20), scaled to Frobenius norm 0.01, applied as
  W2 <- W2 (I - T), W1 <- lrelu_10((I + T) lrelu_0.1(W1 X)) pinv(X) (then pinv of the new hidden
  layer, computed and unused, as there);
- 100 steps per trajectory; at steps 10, 20, ..., 90 the summed losses since the last window
  are back-propagated (graph retained) and both LSTMs take an Adam step (lr 1e-3 update,
  1e-4 tele), then states and weights are detached; one trajectory per meta-step.

It also times one plain gradient-descent step of the 20x20 net (loss, gradient, update; lr 3e-4).

Prints one JSON object. Usage: python3 reference_meta_speed.py --threads 1 [--trajectories 5]
Set-up is the caller's: run it with the BLAS environment you mean to measure.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import time

import torch
from torch import nn

N = 20  # every matrix of the problem is N x N
HIDDEN = 300
STEPS = 100
UNROLL = 10
MAGNITUDE = 0.01

leaky = nn.LeakyReLU(0.1)
leaky_inverse = nn.LeakyReLU(10.0)


class TwoCellLSTM(nn.Module):
    """Two stacked LSTM cells and a linear read-out, batch of one."""

    def __init__(self, n_in, hidden, n_out):
        super().__init__()
        self.first = nn.LSTMCell(n_in, hidden)
        self.second = nn.LSTMCell(hidden, hidden)
        self.head = nn.Linear(hidden, n_out)
        self.hidden = hidden

    def zero_state(self):
        z = lambda: torch.zeros(1, self.hidden, requires_grad=True)
        return [(z(), z()), (z(), z())]

    def forward(self, x, state):
        a = self.first(x, state[0])
        b = self.second(a[0], state[1])
        return self.head(b[0]), [a, b]


def detached(t):
    return t.detach().requires_grad_(True)


def loss_of(w1, w2, x, y):
    return 0.5 * torch.norm(y - w2 @ leaky(w1 @ x)) ** 2


def problem(seed):
    g = torch.Generator().manual_seed(seed)
    w1, w2, x, y = (torch.rand(N, N, generator=g, requires_grad=True) for _ in range(4))
    return w1, w2, x, y


def teleport(w1, w2, x, x_pinv, t):
    t = t / torch.norm(t) * MAGNITUDE
    eye = torch.eye(N)
    w2 = w2 @ (eye - t)
    w1 = leaky_inverse((eye + t) @ leaky(w1 @ x)) @ x_pinv
    torch.linalg.pinv(leaky(w1 @ x))  # the reference computes the next layer's inverse; unused for one pair
    return w1, w2


def trajectory(update_net, tele_net, opt_update, opt_tele, seed, steps):
    """One 100-step meta-training trajectory; returns the last loss (to show it stayed finite)."""
    w1, w2, x, y = problem(seed)
    x_pinv = torch.linalg.pinv(x)
    s_update = update_net.zero_state()
    s_tele = tele_net.zero_state() if tele_net is not None else None
    window = None
    for step in range(steps):
        loss = loss_of(w1, w2, x, y)
        g1, g2 = torch.autograd.grad(loss, (w1, w2), retain_graph=True)
        grads = torch.cat((g1.flatten(), g2.flatten()))[None, :]
        upd, s_update = update_net(grads, s_update)
        upd = torch.clamp(upd[0], -1e7, 1e7)
        w1 = w1 - upd[: N * N].reshape(N, N)
        w2 = w2 - upd[N * N:].reshape(N, N)
        window = loss if window is None else window + loss
        if step % UNROLL == 0 and step != 0:
            opt_update.zero_grad()
            opt_tele.zero_grad()
            window.backward(retain_graph=True)
            opt_update.step()
            opt_tele.step()
            window = None
            s_update = [(detached(h), detached(c)) for h, c in s_update]
            if s_tele is not None:
                s_tele = [(detached(h), detached(c)) for h, c in s_tele]
            w1, w2 = detached(w1), detached(w2)
        if tele_net is not None:
            # the reference feeds (dL/dW1, dL/dW2) to the teleport LSTM in this order
            t, s_tele = tele_net(grads, s_tele)
            w1, w2 = teleport(w1, w2, x, x_pinv, t.reshape(N, N))
    return float(loss.detach())


def time_meta(with_tele, trajectories, warmup, seed, steps):
    torch.manual_seed(seed)
    update_net = TwoCellLSTM(2 * N * N, HIDDEN, 2 * N * N)
    tele_net = TwoCellLSTM(2 * N * N, HIDDEN, N * N) if with_tele else None
    opt_update = torch.optim.Adam(update_net.parameters(), lr=1e-3)
    tele_params = list(tele_net.parameters()) if with_tele else [torch.zeros(1, requires_grad=True)]
    opt_tele = torch.optim.Adam(tele_params, lr=1e-4)
    seconds, last = [], None
    for i in range(warmup + trajectories):
        t0 = time.perf_counter()
        last = trajectory(update_net, tele_net, opt_update, opt_tele, seed + 1 + i, steps)
        dt = time.perf_counter() - t0
        if i >= warmup:
            seconds.append(dt)
    med = statistics.median(seconds)
    return {
        'trajectoriesPerSecond': 1.0 / med,
        'secondsPerTrajectory': {'median': med, 'min': min(seconds), 'max': max(seconds), 'n': len(seconds)},
        'lastLoss': last,
    }


def time_gd_step(runs, steps, seed):
    """Milliseconds per GD step, as the reference runs plain GD (graph of the weights retained)."""
    per_step = []
    for r in range(runs + 1):
        w1, w2, x, y = problem(seed + r)
        ws = [w1, w2]
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = loss_of(ws[0], ws[1], x, y)
            grads = torch.autograd.grad(loss, ws, retain_graph=True)
            ws = [w - 3e-4 * g for w, g in zip(ws, grads)]
        float(loss)
        if r > 0:  # the first run is warm-up
            per_step.append((time.perf_counter() - t0) * 1000 / steps)
    return statistics.median(per_step)


def cpu_model():
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith('Model name:'):
                return line.split(':', 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or 'unknown'


def blas_info():
    """Torch's build BLAS settings and the BLAS/LAPACK libraries actually mapped into this process."""
    import re
    conf = torch.__config__.show()
    build = dict(re.findall(r'\b((?:BLAS|LAPACK)_INFO)=([^,\s]+)', conf))
    build['mkldnn'] = 'MKL-DNN' in conf or 'oneDNN' in conf
    libs = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                name = os.path.basename(line.split()[-1]) if '/' in line else ''
                if re.search(r'blas|lapack|mkl', name, re.I):
                    libs.add(os.path.realpath(line.split()[-1]))
    except OSError:
        pass
    build['loaded'] = sorted(os.path.basename(l) for l in libs)
    return build


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, required=True, help='torch.set_num_threads')
    ap.add_argument('--trajectories', type=int, default=5, help='timed trajectories per variant (median reported)')
    ap.add_argument('--warmup', type=int, default=1, help='untimed trajectories first')
    ap.add_argument('--steps', type=int, default=STEPS, help='steps per trajectory (100 as in the paper)')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    if a.threads < 1 or a.trajectories < 1 or a.warmup < 0 or a.steps < UNROLL + 1:
        ap.error('--threads and --trajectories must be >= 1, --warmup >= 0, --steps > 10')
    torch.set_num_threads(a.threads)
    out = {
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'cpu': cpu_model(),
        'blas': blas_info(),
        'openblasEnv': {k: os.environ[k] for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE', 'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS') if k in os.environ},
        'trajectoryLength': a.steps,
        'timedTrajectories': a.trajectories,
        'warmup': a.warmup,
    }
    out['updateTele'] = time_meta(True, a.trajectories, a.warmup, a.seed, a.steps)
    out['update'] = time_meta(False, a.trajectories, a.warmup, a.seed, a.steps)
    out['gdStepMs'] = time_gd_step(3, 300, a.seed)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
