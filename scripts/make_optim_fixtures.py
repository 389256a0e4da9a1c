#!/usr/bin/env python3
"""Reference trajectories of torch.optim for test/optim/optim.test.ts.

Run with Debian's python3-torch (1.13):  /usr/bin/python3 scripts/make_optim_fixtures.py

Writes test/fixtures/optim/inputs.json (initial parameters and a fixed sequence of gradients,
so the results do not depend on a model) and one <case>.json per optimizer setting with the
parameters after every step. Everything in float64, with torch's single-tensor code path
(foreach=False).
"""
import json
import os

import torch

torch.set_default_dtype(torch.float64)
STEPS = 50
SHAPES = [[3, 4], [5], [2, 3]]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'optim')

# (case name, our config, torch class, torch kwargs)
CASES = [
    ('sgd', {'name': 'sgd', 'lr': 0.1}, torch.optim.SGD, {'lr': 0.1}),
    ('sgd_weight_decay_maximize', {'name': 'sgd', 'lr': 0.05, 'weightDecay': 0.1, 'maximize': True},
     torch.optim.SGD, {'lr': 0.05, 'weight_decay': 0.1, 'maximize': True}),
    ('sgd_momentum_dampening', {'name': 'sgd', 'lr': 0.05, 'momentum': 0.9, 'dampening': 0.3, 'weightDecay': 0.01},
     torch.optim.SGD, {'lr': 0.05, 'momentum': 0.9, 'dampening': 0.3, 'weight_decay': 0.01}),
    ('sgd_nesterov', {'name': 'sgd', 'lr': 0.05, 'momentum': 0.8, 'nesterov': True},
     torch.optim.SGD, {'lr': 0.05, 'momentum': 0.8, 'nesterov': True}),
    ('momentum', {'name': 'momentum', 'lr': 0.05}, torch.optim.SGD, {'lr': 0.05, 'momentum': 0.9}),
    ('adagrad', {'name': 'adagrad'}, torch.optim.Adagrad, {}),
    ('adagrad_options', {'name': 'adagrad', 'lr': 0.1, 'lrDecay': 0.05, 'weightDecay': 0.01,
                         'initialAccumulatorValue': 0.1, 'eps': 1e-6},
     torch.optim.Adagrad, {'lr': 0.1, 'lr_decay': 0.05, 'weight_decay': 0.01,
                           'initial_accumulator_value': 0.1, 'eps': 1e-6}),
    ('adagrad_maximize', {'name': 'adagrad', 'lr': 0.1, 'maximize': True},
     torch.optim.Adagrad, {'lr': 0.1, 'maximize': True}),
    ('rmsprop', {'name': 'rmsprop'}, torch.optim.RMSprop, {}),
    ('rmsprop_centered', {'name': 'rmsprop', 'lr': 0.01, 'centered': True},
     torch.optim.RMSprop, {'lr': 0.01, 'centered': True}),
    ('rmsprop_centered_momentum', {'name': 'rmsprop', 'lr': 0.01, 'centered': True, 'momentum': 0.9, 'weightDecay': 0.01},
     torch.optim.RMSprop, {'lr': 0.01, 'centered': True, 'momentum': 0.9, 'weight_decay': 0.01}),
    ('rmsprop_options', {'name': 'rmsprop', 'lr': 0.01, 'alpha': 0.9, 'eps': 1e-4, 'momentum': 0.5, 'maximize': True},
     torch.optim.RMSprop, {'lr': 0.01, 'alpha': 0.9, 'eps': 1e-4, 'momentum': 0.5, 'maximize': True}),
    ('adam', {'name': 'adam', 'lr': 0.01}, torch.optim.Adam, {'lr': 0.01}),
    ('adam_defaults', {'name': 'adam'}, torch.optim.Adam, {}),
    ('adam_amsgrad_weight_decay', {'name': 'adam', 'lr': 0.01, 'amsgrad': True, 'weightDecay': 0.01},
     torch.optim.Adam, {'lr': 0.01, 'amsgrad': True, 'weight_decay': 0.01}),
    ('adam_options', {'name': 'adam', 'lr': 0.01, 'betas': [0.8, 0.99], 'eps': 1e-6, 'maximize': True},
     torch.optim.Adam, {'lr': 0.01, 'betas': (0.8, 0.99), 'eps': 1e-6, 'maximize': True}),
]


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


def make_inputs():
    g = torch.Generator().manual_seed(20240101)
    params = [torch.randn(s, generator=g) for s in SHAPES]
    scales = [1.0, 0.1, 3.0]  # different gradient scales per parameter
    grads = []
    for k in range(STEPS):
        step = []
        for i, s in enumerate(SHAPES):
            x = torch.randn(s, generator=g) * scales[i]
            x = x * (torch.rand(s, generator=g) > 0.1)  # some exact zeros
            if i == 1 and k < 3:
                x = torch.zeros(s)  # a parameter without gradient at first
            step.append(x)
        grads.append(step)
    return params, grads


def run(cls, kwargs, params0, grads):
    params = [p.clone().requires_grad_(True) for p in params0]
    opt = cls(params, foreach=False, **kwargs)
    traj = []
    for step in grads:
        for p, gr in zip(params, step):
            p.grad = gr.clone()
        opt.step()
        traj.append([flat(p) for p in params])
    return traj


def main():
    os.makedirs(OUT, exist_ok=True)
    params0, grads = make_inputs()
    inputs = {
        'torch': torch.__version__,
        'shapes': SHAPES,
        'params': [flat(p) for p in params0],
        'grads': [[flat(x) for x in step] for step in grads],
    }
    with open(os.path.join(OUT, 'inputs.json'), 'w') as f:
        json.dump(inputs, f)
    for name, config, cls, kwargs in CASES:
        traj = run(cls, kwargs, params0, grads)
        case = {'name': name, 'config': config, 'torch': {'class': cls.__name__, 'kwargs': kwargs},
                'trajectory': traj}
        with open(os.path.join(OUT, name + '.json'), 'w') as f:
            json.dump(case, f)
    print(f'wrote {len(CASES)} cases and inputs.json to {os.path.normpath(OUT)}')


if __name__ == '__main__':
    main()
