#!/usr/bin/env python3
"""Figure 5 (teleportation inside standard optimizers) run by the authors' own code, on the
initial weights, mini-batch order and teleport batches that symtele uses for each model id.

The authors' repository is not part of symtele: give its directory with --authors-dir (or the
environment variable SYMTELE_AUTHORS_DIR). Its modules are imported as they are:
  - gradient_descent_mlp_utils: train_step, valid_MLP, teleport, loss_multi_layer;
  - models: MLP;
  - teleport_optimization.get_optimizer. That file is a script that downloads the data and runs
    the whole experiment when imported, so only the definition of get_optimizer is taken from
    it (parsed with ast, compiled and called unchanged).
The training loop of teleport_optimization.py is module-level script code, not a function; it is
transcribed below (`train`) line for line: per epoch, for each mini-batch, while in a teleport
epoch and fewer than 8 teleports done, get_W_list, teleport on the next teleport batch,
rebuild MLP and optimizer (the optimizer state is reset), then train_step; the epoch's train loss
is the sample-weighted mean of the mini-batch losses; valid_MLP on the test set after each
epoch. The settings are the script's: criterion CrossEntropyLoss, LeakyReLU(0.1), lr = 1e-2
for (Fashion-)MNIST passed to get_optimizer (momentum lr/10, RMSprop and Adam lr/100),
tele_epochs / tele_lr / tele_step per optimizer (REFERENCE_SCHEDULE), dim [20, 784, 16, 10, 10].

What symtele supplies (scripts/export-fig5-setup.ts writes it), replacing the script's sources:
  - the initial weights of each model id, loaded into their MLP at construction (MLP takes
    init_W_list), in place of init_param_MLP(dim, seed=(run+1)*54321);
  - the training split (symtele's 50,000 samples, pixels byte/255 in float32) and, per epoch,
    the model id's mini-batch order, in place of random_split(seed 1) + SequentialSampler;
  - the k-th teleport's batch of 200 samples, in place of next(teleport_loader_iterator);
  - the test set as an iterable of batches of 20 with a `sampler` of its length (what valid_MLP
    reads), in place of the test DataLoader.
Arms: 'none'; 'teleport': their teleport(..., telestep=10) as the script calls it (hidden states
updated as h <- (I+T)h inside it); 'teleport-exact': their teleport called tele_step times with
telestep=1, so that the hidden states are recomputed from the current weights before every
gradient-ascent step (symtele's teleport; the cap check is the same: once ||dL/dW||^2 > cap no
call moves the weights). Both rebuild the optimizer after every teleport, as the script does.

Beside each teleport (outside their function) the script records ||dL/dW||^2 and the loss on the
teleport batch, and the loss on the whole training split, before and after it (the level-set
check); --dtype float64 sets torch's default dtype (their functions then build every tensor in
float64) and casts the supplied weights and data.

Results go to --out as JSON, rewritten after every epoch: finished runs (arm, model id) under
`runs`, the one in progress under `partial` (its epochs so far); a rerun skips the finished runs
and starts the partial one again. Several processes can share the runs: each writes its own
--out and skips what the others' files (--skip-from) hold finished or in progress.

    /usr/bin/python3 scripts/reference_fig5_authors.py --authors-dir DIR --setup SETUP \\
        --optimizer momentum --models 0-9 --arms none teleport --epochs 40 --out ref.json
    /usr/bin/python3 scripts/reference_fig5_authors.py --authors-dir DIR --setup SETUP --check
"""
import argparse
import ast
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

# teleport_optimization.py's per-optimizer teleport settings (tele_epochs, tele_lr, tele_step)
REFERENCE_SCHEDULE = {
    'SGD': ([2], 1e-4, 10),
    'Adagrad': ([2], 1e-4, 10),
    'momentum': ([0], 5e-2, 10),
    'RMSprop': ([0], 5e-2, 10),
    'Adam': ([0], 5e-2, 10),
}
REFERENCE_LR = 1e-2  # `lr` of the script for MNIST and Fashion-MNIST
TELEPORTS = 8  # `teleport_count < 8`
NAMES = {'momentum': 'momentum', 'adagrad': 'Adagrad', 'rmsprop': 'RMSprop', 'adam': 'Adam', 'sgd': 'SGD'}


def load_authors(directory):
    """Their modules, imported as they are, and get_optimizer taken from their script."""
    if not directory or not os.path.isfile(os.path.join(directory, 'gradient_descent_mlp_utils.py')):
        sys.exit('reference_fig5_authors: --authors-dir (or SYMTELE_AUTHORS_DIR) must name a checkout of the authors\' '
                 'Teleportation-Optimization repository (gradient_descent_mlp_utils.py not found)')
    sys.path.insert(0, directory)
    import gradient_descent_mlp_utils as utils
    import models
    script = os.path.join(directory, 'teleport_optimization.py')
    tree = ast.parse(open(script).read(), script)
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == 'get_optimizer']
    if len(fn) != 1:
        sys.exit(f'reference_fig5_authors: no get_optimizer in {script}')
    namespace = {'torch': torch}
    exec(compile(ast.Module(body=fn, type_ignores=[]), script, 'exec'), namespace)
    return utils, models.MLP, namespace['get_optimizer']


class Setup:
    """The inputs exported by scripts/export-fig5-setup.ts."""

    def __init__(self, directory, dtype):
        self.dir = directory
        self.manifest = json.load(open(os.path.join(directory, 'manifest.json')))
        m = self.manifest
        self.dtype = dtype
        read = lambda name, t: np.fromfile(os.path.join(directory, name), dtype=t)
        self.train_x = torch.from_numpy(read('train_x.f32', '<f4').reshape(m['train']['n'], m['train']['d'])).to(dtype)
        self.train_y = torch.from_numpy(read('train_y.i32', '<i4').astype(np.int64))
        self.test_x = torch.from_numpy(read('test_x.f32', '<f4').reshape(m['test']['n'], m['test']['d'])).to(dtype)
        self.test_y = torch.from_numpy(read('test_y.i32', '<i4').astype(np.int64))
        self.dims = m['config']['dims']
        self.batch_size = m['config']['batchSize']

    def init_weights(self, model):
        flat = np.fromfile(os.path.join(self.dir, f'init_{model}.f32'), dtype='<f4')
        ws, off = [], 0
        for i in range(len(self.dims) - 1):
            r, c = self.dims[i + 1], self.dims[i]
            ws.append(torch.from_numpy(flat[off:off + r * c].reshape(r, c).copy()).to(self.dtype))
            off += r * c
        return ws

    def order(self, model):
        return np.fromfile(os.path.join(self.dir, f'order_{model}.i32'), dtype='<i4').reshape(self.manifest['epochs'], -1)

    def teleport_rows(self, model):
        t = self.manifest['teleport']
        return np.fromfile(os.path.join(self.dir, f'teleport_{model}.i32'), dtype='<i4').reshape(t['count'], t['batchSize'])


class Batches:
    """An iterable of (data, label) mini-batches with a `sampler` of the sample count, what
    their loop and valid_MLP read from a DataLoader."""

    def __init__(self, x, y, rows, batch_size):
        self.x, self.y, self.rows, self.batch_size = x, y, torch.from_numpy(np.asarray(rows, dtype=np.int64)), batch_size
        self.sampler = range(len(rows))

    def __iter__(self):
        for s in range(0, len(self.rows), self.batch_size):
            idx = self.rows[s:s + self.batch_size]
            yield self.x[idx], self.y[idx]

    def __len__(self):
        return (len(self.rows) + self.batch_size - 1) // self.batch_size


def grad_norm_sq(utils, W_list, X, Y, sigma):
    """||dL/dW||^2 and L on a batch (their loss_multi_layer), the teleport's objective."""
    ws = [w.detach().clone().requires_grad_(True) for w in W_list]
    L, _ = utils.loss_multi_layer(ws, X, Y, sigma)
    gs = torch.autograd.grad(L, ws)
    return float(sum((g ** 2).sum() for g in gs)), float(L)


def full_loss(utils, W_list, X_t, Y, sigma):
    with torch.no_grad():
        return float(utils.loss_multi_layer(W_list, X_t, Y, sigma)[0])


def train(authors, setup, opt_method, model_id, arm, epochs, probe=True, on_epoch=lambda record: None):
    """teleport_optimization.py's training loop (with and without teleport) on the supplied inputs;
    `on_epoch` gets the record after every epoch."""
    utils, MLP, get_optimizer = authors
    criterion = nn.CrossEntropyLoss()
    sigma = nn.LeakyReLU(0.1)
    batch_size = setup.batch_size
    dim = [batch_size] + list(setup.dims)
    lr = REFERENCE_LR
    dataset = 'MNIST'
    tele_epochs, tele_lr, tele_step = REFERENCE_SCHEDULE[opt_method]
    orders = setup.order(model_id)
    tele_rows = setup.teleport_rows(model_id)
    test_loader = Batches(setup.test_x, setup.test_y, np.arange(len(setup.test_y)), batch_size)
    train_x_t = torch.t(setup.train_x)

    W_list = setup.init_weights(model_id)
    model = MLP(init_W_list=W_list, activation=sigma)
    optimizer = get_optimizer(model, opt_method, lr, dataset)
    record = {'model': model_id, 'trainLoss': [], 'testLoss': [], 'testCorrect': [], 'epochSeconds': [], 'teleportSeconds': 0.0, 'teleports': []}
    teleport_count = 0
    steps = 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        tele_s = 0.0
        epoch_loss = 0.0
        train_loader = Batches(setup.train_x, setup.train_y, orders[epoch], batch_size)
        for data, label in train_loader:
            batch_size = data.shape[0]
            data = torch.t(data.view(batch_size, -1))
            if arm != 'none' and epoch in tele_epochs and teleport_count < TELEPORTS:
                k = teleport_count
                teleport_count += 1
                ts = time.perf_counter()
                W_list = model.get_W_list()
                idx = torch.from_numpy(tele_rows[k].astype(np.int64))
                tele_data, tele_target = setup.train_x[idx], setup.train_y[idx]
                n_tele = tele_data.shape[0]
                tele_data = torch.t(tele_data.view(n_tele, -1))
                ev = {'k': k, 'atStep': steps}
                # diagnostics (not timed): the teleport's objective and the loss, on its batch and on the training split
                tp = time.perf_counter()
                ev['objectiveBefore'], ev['lossBefore'] = grad_norm_sq(utils, W_list, tele_data, tele_target, sigma)
                if probe:
                    ev['trainLossBefore'] = full_loss(utils, W_list, train_x_t, setup.train_y, sigma)
                before = [w.clone() for w in W_list]
                ts += time.perf_counter() - tp
                if arm == 'teleport':
                    W_list = utils.teleport(W_list, tele_data, tele_target, tele_lr, dim, sigma, telestep=tele_step, random_teleport=False, reverse=False)
                elif arm == 'teleport-exact':
                    for _ in range(tele_step):
                        W_list = utils.teleport(W_list, tele_data, tele_target, tele_lr, dim, sigma, telestep=1, random_teleport=False, reverse=False)
                else:
                    raise ValueError(f'unknown arm {arm}')
                model = MLP(init_W_list=W_list, activation=sigma)
                optimizer = get_optimizer(model, opt_method, lr, dataset)
                te = time.perf_counter()
                ev['seconds'] = te - ts
                ev['objectiveAfter'], ev['lossAfter'] = grad_norm_sq(utils, W_list, tele_data, tele_target, sigma)
                if probe:
                    ev['trainLossAfter'] = full_loss(utils, W_list, train_x_t, setup.train_y, sigma)
                ev['relativeChange'] = [float((w - b).norm() / b.norm()) for w, b in zip(W_list, before)]
                record['teleports'].append(ev)
                record['teleportSeconds'] += ev['seconds']
                tele_s += time.perf_counter() - ts
            loss = utils.train_step(data, label, model, criterion, optimizer)
            epoch_loss += loss.item() * data.size(1)
            steps += 1
        record['epochSeconds'].append(time.perf_counter() - t0 - tele_s)
        record['trainLoss'].append(epoch_loss / len(train_loader.sampler))
        valid_loss, valid_correct = utils.valid_MLP(model, criterion, test_loader)
        record['testLoss'].append(valid_loss)
        record['testCorrect'].append(valid_correct)
        on_epoch(record)
    return record


def check(authors, setup, steps):
    """Model 0, plain steps of the optimizer symtele recorded (manifest `check`) on the same
    batches: the mini-batch losses of both sides."""
    utils, MLP, get_optimizer = authors
    c = setup.manifest.get('check')
    if not c:
        sys.exit('reference_fig5_authors: the setup has no check (export it with --check-steps K)')
    opt_method = NAMES[c['optimizer']['name']]
    criterion = nn.CrossEntropyLoss()
    sigma = nn.LeakyReLU(0.1)
    model = MLP(init_W_list=setup.init_weights(c['model']), activation=sigma)
    optimizer = get_optimizer(model, opt_method, REFERENCE_LR, 'MNIST')
    loader = Batches(setup.train_x, setup.train_y, setup.order(c['model'])[0], setup.batch_size)
    ours = c['batchLoss'][:steps]
    theirs = []
    for (data, label), _ in zip(loader, ours):
        data = torch.t(data.view(data.shape[0], -1))
        theirs.append(float(utils.train_step(data, label, model, criterion, optimizer)))
    diff = [abs(a - b) for a, b in zip(ours, theirs)]
    return {'optimizer': c['optimizer'], 'model': c['model'], 'steps': len(diff), 'symtele': ours, 'reference': theirs,
            'absDiff': diff, 'maxAbsDiff': max(diff), 'step0': {'symtele': ours[0], 'reference': theirs[0]}}


def parse_models(s):
    out = []
    for part in s.split(','):
        a, _, b = part.partition('-')
        out.extend(range(int(a), int(b or a) + 1))
    return out


def read_json(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return {}


def write_json(path, obj):
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--authors-dir', default=os.environ.get('SYMTELE_AUTHORS_DIR'))
    p.add_argument('--setup', required=True, help='directory written by scripts/export-fig5-setup.ts')
    p.add_argument('--optimizer', default='momentum', choices=sorted(NAMES))
    p.add_argument('--models', default='0-9')
    p.add_argument('--arms', nargs='+', default=['none', 'teleport'], choices=['none', 'teleport', 'teleport-exact'])
    p.add_argument('--epochs', type=int, default=40)
    p.add_argument('--dtype', default='float32', choices=['float32', 'float64'])
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--no-probe', action='store_true', help='skip the training-split loss before and after each teleport')
    p.add_argument('--check', type=int, nargs='?', const=30, metavar='STEPS', help='only the agreement check: STEPS plain steps of model 0')
    p.add_argument('--out')
    p.add_argument('--skip-from', nargs='*', default=[], metavar='FILE',
                   help='result files of other processes of the same setting: skip the runs finished or in progress there')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    torch.set_default_dtype(dtype)
    authors = load_authors(a.authors_dir)
    setup = Setup(a.setup, dtype)
    if a.check is not None:
        r = check(authors, setup, a.check)
        print(json.dumps(r if a.out else {k: v for k, v in r.items() if k not in ('symtele', 'reference', 'absDiff')}, indent=1))
        if a.out:
            write_json(a.out, r)
        return
    if not a.out:
        sys.exit('--out is required')
    if a.epochs > setup.manifest['epochs']:
        sys.exit(f'the setup holds batch orders for {setup.manifest["epochs"]} epochs, not {a.epochs}')
    opt_method = NAMES[a.optimizer]
    meta = {'what': 'the authors\' own functions (teleport_optimization.py, gradient_descent_mlp_utils.py, models.py) on symtele\'s inputs',
            'optimizer': a.optimizer, 'referenceOptimizer': opt_method, 'epochs': a.epochs, 'dtype': a.dtype, 'threads': a.threads,
            'torch': torch.__version__, 'setup': {k: setup.manifest[k] for k in ('config', 'epochs', 'train', 'test', 'teleport')},
            'schedule': dict(zip(('teleEpochs', 'teleLr', 'teleStep'), REFERENCE_SCHEDULE[opt_method])), 'lr': REFERENCE_LR}
    res = read_json(a.out)
    if res.get('meta', {}).get('epochs') not in (None, a.epochs) or res.get('meta', {}).get('dtype') not in (None, a.dtype) \
            or res.get('meta', {}).get('optimizer') not in (None, a.optimizer):
        sys.exit(f'{a.out} holds runs of another setting ({res["meta"]}); choose another --out')
    res['meta'] = meta
    runs = res.setdefault('runs', {})
    for model_id in parse_models(a.models):
        for arm in a.arms:
            key = f'{arm}/{model_id}'
            if key in runs or any(key in other.get('runs', {}) or key in other.get('partial', {}) for other in map(read_json, a.skip_from)):
                continue
            t0 = time.perf_counter()

            def save_partial(record):
                res['partial'] = {key: record}
                write_json(a.out, res)

            runs[key] = train(authors, setup, opt_method, model_id, arm, a.epochs, probe=not a.no_probe, on_epoch=save_partial)
            res.pop('partial', None)
            r = runs[key]
            print(f'{a.optimizer} {a.dtype} {key}: train loss {r["trainLoss"][0]:.4f} (epoch 1) {r["trainLoss"][-1]:.4f} '
                  f'(epoch {a.epochs}), {time.perf_counter() - t0:.0f} s', flush=True)
            write_json(a.out, res)


if __name__ == '__main__':
    main()
