#!/usr/bin/env python3
"""Float64 cases of the reference-mode sharpness phi and curvature psi, computed independently
of the TypeScript code with numpy, by a line-for-line port of the authors' functions
(curvature_utils.compute_gamma_12 / compute_curvature, gradient_descent_mlp_utils.loss_multi_layer,
the loops of correlation.py). Writes test/fixtures/reference/metrics-reference-cases.json.

    python3 scripts/reference-metrics-cases.py
"""
import json
import os

import numpy as np

SLOPE = 0.1


def sigma(x):
    return np.where(x > 0, x, SLOPE * x)


def sigma_1(x):
    return np.where(x > 0, 1.0, SLOPE)


def compute_gamma_12(M_list, W_list, X):
    # curvature_utils.compute_gamma_12: each hidden layer's term with the unmoved weights, summed
    g1 = [np.zeros_like(W) for W in W_list]
    g2 = [np.zeros_like(W) for W in W_list]
    h = X
    for m in range(len(W_list) - 1):
        M, U, V = M_list[m], W_list[m + 1], W_list[m]
        h_inv = np.linalg.pinv(h)
        M_2 = M @ M
        sigma_VX = sigma(V @ h)
        sigma_1_VX = sigma_1(V @ h)
        g1[m + 1] += -U @ M
        g1[m] += ((M @ sigma_VX) / sigma_1_VX) @ h_inv
        g2[m + 1] += U @ M_2
        g2[m] += ((M_2 @ sigma_VX) / sigma_1_VX) @ h_inv
        h = sigma(V @ h)
    return g1, g2


def compute_curvature(g1, g2):
    a = np.concatenate([g.ravel() for g in g1])
    b = np.concatenate([g.ravel() for g in g2])
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return np.sqrt(na**2 * nb**2 - np.dot(a, b) ** 2) / na**3


def loss(W_list, X, Y):
    # loss_multi_layer: log-softmax over classes (rows), mean NLL over the batch
    h = X
    for W in W_list[:-1]:
        h = sigma(W @ h)
    out = W_list[-1] @ h
    mx = out.max(axis=0, keepdims=True)
    logp = out - mx - np.log(np.exp(out - mx).sum(axis=0, keepdims=True))
    return -logp[Y, np.arange(X.shape[1])].mean()


def vec_to_W_list(vec, dims):
    out, start = [], 0
    for i in range(len(dims) - 1):
        r, c = dims[i + 1], dims[i]
        out.append(vec[start:start + r * c].reshape(r, c))
        start += r * c
    return out


def make_case(name, dims, k, draws, displacements, seed):
    rng = np.random.default_rng(seed)
    W = [rng.uniform(-1, 1, (dims[i + 1], dims[i])) / np.sqrt(dims[i]) for i in range(len(dims) - 1)]
    n = sum(w.size for w in W)
    vec = np.concatenate([w.ravel() for w in W])
    out_draws = []
    for _ in range(draws):
        X = rng.uniform(0, 1, (dims[0], k))
        Y = rng.integers(0, dims[-1], k)
        # torch.rand M, Frobenius-normalised, one per hidden layer
        Ms = [rng.uniform(0, 1, (d, d)) for d in dims[1:-1]]
        Ms = [M / np.linalg.norm(M) for M in Ms]
        kappa = compute_curvature(*compute_gamma_12(Ms, W, X))
        # torch.rand direction per displacement, normalised to norm t
        dirs = rng.uniform(0, 1, (len(displacements), n))
        losses = [loss(vec_to_W_list(vec + d / np.linalg.norm(d) * t, dims), X, Y) for d, t in zip(dirs, displacements)]
        out_draws.append({
            'x': X.tolist(), 'labels': Y.tolist(), 'ms': [M.tolist() for M in Ms], 'directions': dirs.tolist(),
            'kappa': float(kappa), 'meanLoss': float(np.mean(losses)),
        })
    return {
        'name': name, 'dims': dims, 'slope': SLOPE, 'displacements': displacements,
        'weights': [w.tolist() for w in W], 'draws': out_draws,
        'psi': float(np.mean([d['kappa'] for d in out_draws])),
        'phi': float(np.mean([d['meanLoss'] for d in out_draws])),
    }


def main():
    cases = [
        make_case('three-layer', [7, 4, 3, 3], 5, 3, [0.001, 0.011, 0.021], 1),
        make_case('four-layer', [9, 5, 4, 3, 3], 6, 2, [0.05, 0.5], 2),
    ]
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, '..', 'test', 'fixtures', 'reference', 'metrics-reference-cases.json')
    with open(path, 'w') as f:
        json.dump(cases, f)
    print('wrote', os.path.normpath(path), [(c['name'], c['phi'], c['psi']) for c in cases])


if __name__ == '__main__':
    main()
