#!/usr/bin/env python3
"""Wall-clock speed of meta-training in the authors' own code: their `train_meta_opt`, called as it is.

The authors' repository (Rose-STL-Lab/Teleportation-Optimization) is not part of symtele: give
its directory with --authors-dir (or the environment variable SYMTELE_AUTHORS_DIR). Their
learn-to-teleport/gradient_descent_mlp.py is imported unchanged (its folder goes on sys.path, as
it imports `teleportation` and `lstm` from beside it) and timed on the calls of
learn-to-teleport/run_mlp_regression.py, with n_run = --trajectories (the script uses 700 / 600):

  - LSTM(update,tele): train_meta_opt([20, 20, 20, 20], n_run=N, n_epoch=100, unroll=10,
    lr=1e-4, lr_meta=1e-3, learn_tele=True, T_magnitude=0.01)
  - LSTM(update): the same with learn_tele=False.

trajectoriesPerSecond is n_run over the wall time of the whole call (its set-up of the LSTMs and
Adam included). Per-trajectory times come from wrapping the module's `init_param`, which the
function calls once at the start of every trajectory (seed n*n*12345-1); the wrapper only notes
the time and returns the original's result. The trajectories are the function's own (its seeds).
Its "run n" prints go to stderr so that the last line of stdout is the JSON object.

    python3 scripts/reference_meta_authors.py --authors-dir DIR --threads 1 [--trajectories 5] [--warmup]

Set-up is the caller's: run it with the BLAS environment you mean to measure.
"""
import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import torch

DIM = [20, 20, 20, 20]  # X, W1, W2, Y all 20x20: the paper's section 5.2 problem
STEPS = 100  # n_epoch of the paper's LSTM(update,tele) and LSTM(update) calls
CALL = dict(unroll=10, lr=1e-4, lr_meta=1e-3, T_magnitude=0.01)
SOURCES = ('gradient_descent_mlp.py', 'lstm.py', 'teleportation.py')


def load_authors(directory):
    """Their gradient_descent_mlp module, imported as it is, and the sha256 of the files it runs."""
    folder = os.path.join(directory or '', 'learn-to-teleport')
    if not directory or not os.path.isfile(os.path.join(folder, 'gradient_descent_mlp.py')):
        sys.exit('reference_meta_authors: --authors-dir (or SYMTELE_AUTHORS_DIR) must name a checkout of the authors\' '
                 'Teleportation-Optimization repository (learn-to-teleport/gradient_descent_mlp.py not found)')
    sys.path.insert(0, folder)
    import gradient_descent_mlp
    digests = {}
    for name in SOURCES:
        with open(os.path.join(folder, name), 'rb') as f:
            digests[f'learn-to-teleport/{name}'] = hashlib.sha256(f.read()).hexdigest()
    return gradient_descent_mlp, digests


def time_call(module, n_run, steps, learn_tele):
    """One train_meta_opt call, timed whole, with the start of each trajectory noted."""
    original = module.init_param
    run_seeds = {n * n * 12345 - 1 for n in range(n_run)}
    marks = []

    def noting_init_param(dim, seed=12345):
        if seed in run_seeds:
            marks.append(time.perf_counter())
        return original(dim, seed=seed)

    kwargs = dict(n_run=n_run, n_epoch=steps, learn_tele=learn_tele, **CALL)
    module.init_param = noting_init_param
    try:
        with contextlib.redirect_stdout(sys.stderr):
            t0 = time.perf_counter()
            module.train_meta_opt(list(DIM), **kwargs)
            t1 = time.perf_counter()
    finally:
        module.init_param = original
    per = [b - a for a, b in zip(marks, marks[1:] + [t1])]
    return {
        'call': {'function': 'train_meta_opt', 'dim': DIM, **kwargs},
        'callSeconds': t1 - t0,
        'trajectoriesPerSecond': n_run / (t1 - t0),
        'secondsPerTrajectory': {'mean': (t1 - t0) / n_run, 'median': statistics.median(per), 'min': min(per),
                                 'max': max(per), 'n': len(per)},
    }


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
    ap.add_argument('--authors-dir', default=os.environ.get('SYMTELE_AUTHORS_DIR'))
    ap.add_argument('--threads', type=int, required=True, help='torch.set_num_threads')
    ap.add_argument('--trajectories', type=int, default=5, help='n_run of each timed call')
    ap.add_argument('--warmup', action='store_true', help='one untimed small call first (n_run=1, n_epoch=20)')
    ap.add_argument('--steps', type=int, default=STEPS, help='n_epoch (100 as in the paper; fewer only for quick runs)')
    a = ap.parse_args()
    if a.threads < 1 or a.trajectories < 1 or a.steps <= CALL['unroll']:
        ap.error('--threads and --trajectories must be >= 1, --steps > 10')
    torch.set_num_threads(a.threads)
    module, digests = load_authors(a.authors_dir)
    out = {
        'implementation': 'authors',
        'authorsSources': digests,
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'cpu': cpu_model(),
        'openblasEnv': {k: os.environ[k] for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE', 'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS') if k in os.environ},
        'trajectoryLength': a.steps,
        'timedTrajectories': a.trajectories,
        'warmup': a.warmup,
    }
    if a.warmup:
        time_call(module, 1, 2 * CALL['unroll'], True)
    out['updateTele'] = time_call(module, a.trajectories, a.steps, True)
    out['update'] = time_call(module, a.trajectories, a.steps, False)
    out['blas'] = blas_info()  # after the calls, so that every library they loaded is listed
    print(json.dumps(out))


if __name__ == '__main__':
    main()
