// Numerical checks of the paper's theory (section 3.2, Appendices A and B) on convex
// quadratics L(w) = 1/2 w^T A w - b^T w, using tfjs autodiff for every derivative.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { expm } from '../../src/ops/expm.js';
import { stream } from '../../src/rng/index.js';

before(async () => {
  await initBackend('cpu');
});

const vec = (a: ArrayLike<number>) => tf.tensor1d(Array.from(a));
const dot = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(a, b)).dataSync()[0];
const cos = (a: tf.Tensor, b: tf.Tensor) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));
const mv = (m: tf.Tensor, v: tf.Tensor) => tf.squeeze(tf.matMul(m as tf.Tensor2D, tf.reshape(v, [-1, 1]) as tf.Tensor2D));

/** A = Q diag(d) Q^T with Q = exp(skew) orthogonal; also returns A^{1/2}, A^{-1/2} and A^{-1}. */
function spd(d: number[], seed: number) {
  const n = d.length;
  const r = stream(seed, 'spd');
  const k = tf.tensor2d(r.normalArray(n * n), [n, n]);
  const q = expm(tf.sub(k, tf.transpose(k)));
  const with_ = (p: (x: number) => number) => tf.matMul(tf.matMul(q, tf.diag(tf.tensor1d(d.map(p)))), q, false, true);
  return { A: with_((x) => x), sqrt: with_(Math.sqrt), isqrt: with_((x) => 1 / Math.sqrt(x)), inv: with_((x) => 1 / x) };
}

const quadratic = (A: tf.Tensor, b: tf.Tensor) => (w: tf.Tensor) => tf.sub(tf.mul(0.5, tf.sum(tf.mul(w, mv(A, w)))), tf.sum(tf.mul(b, w))) as tf.Scalar;
const gradNormSq = (L: (w: tf.Tensor) => tf.Scalar) => (w: tf.Tensor) => tf.sum(tf.square(tf.grad(L)(w))) as tf.Scalar;

/** Newton direction pieces at w: gradient g, Hessian-vector Hg (autodiff), v_perp of eq. 43. */
function newtonPieces(A: tf.Tensor, Ainv: tf.Tensor, b: tf.Tensor, w: tf.Tensor) {
  const L = quadratic(A, b);
  const g = tf.grad(L)(w);
  const dGradNorm = tf.grad(gradNormSq(L))(w); // = 2 H g
  const v1 = tf.neg(g);
  const v2 = tf.neg(mv(Ainv, g));
  const vPar = tf.mul(v1, dot(v2, v1) / dot(v1, v1));
  const vPerp = tf.sub(v2, vPar);
  // the Lagrange solution of (55): the part of H g orthogonal to g
  const hg = mv(A, g);
  const best = tf.sub(hg, tf.mul(g, dot(hg, g) / dot(g, g)));
  return { g, dGradNorm, vPerp, best, hg };
}

test('autodiff of the gradient norm equals 2 H grad (the identity behind Props. B.2 and B.3)', () => {
  tf.tidy(() => {
    const { A, inv } = spd([0.5, 1, 2, 4, 7], 1);
    const r = stream(1, 'w');
    const { dGradNorm, hg } = newtonPieces(A, inv, vec(r.normalArray(5)), vec(r.normalArray(5)));
    const err = tf.norm(tf.sub(dGradNorm, tf.mul(2, hg))).dataSync()[0] / tf.norm(hg).dataSync()[0];
    assert.ok(err < 1e-4, `relative error ${err}`);
  });
});

test('Prop. B.2: the gradient norm grows along the symmetry component of Newton\'s direction', () => {
  for (let seed = 0; seed < 20; seed++) {
    tf.tidy(() => {
      const r = stream(seed, 'b2');
      const n = 2 + (seed % 6);
      const { A, inv } = spd(Array.from({ length: n }, () => 0.2 + 5 * r.next()), seed);
      const { dGradNorm, vPerp } = newtonPieces(A, inv, vec(r.normalArray(n)), vec(r.normalArray(n)));
      assert.ok(dot(vPerp, dGradNorm) >= -1e-5 * Math.sqrt(dot(vPerp, vPerp) * dot(dGradNorm, dGradNorm)));
    });
  }
});

test('Prop. B.3: in two dimensions v_perp is the steepest direction of the gradient norm orthogonal to the gradient', () => {
  tf.tidy(() => {
    const { A, inv } = spd([0.3, 3], 2);
    const r = stream(2, 'w');
    const { vPerp, best } = newtonPieces(A, inv, vec(r.normalArray(2)), vec(r.normalArray(2)));
    assert.ok(cos(vPerp, best) > 1 - 1e-5, `cos ${cos(vPerp, best)}`);
  });
});

test('Prop. B.3 beyond two dimensions: the steepest orthogonal direction is the projected H grad, which v_perp only approximates', () => {
  // The proof of Prop. B.3 solves the Lagrange problem correctly (the maximiser is the part
  // of H g orthogonal to g) but then identifies it with v_perp, the part of H^-1 g orthogonal
  // to g. The two agree when the orthogonal complement of g is one-dimensional (n = 2) and
  // differ in general; Prop. B.2 (a non-negative rate along v_perp) still holds.
  tf.tidy(() => {
    const n = 6;
    const { A, inv } = spd([0.2, 0.5, 1, 2, 5, 9], 3);
    const r = stream(3, 'w');
    const { g, dGradNorm, vPerp, best } = newtonPieces(A, inv, vec(r.normalArray(n)), vec(r.normalArray(n)));
    const rate = (v: tf.Tensor) => dot(v, dGradNorm) / Math.sqrt(dot(v, v));
    // no random unit direction orthogonal to g beats the Lagrange solution
    for (let i = 0; i < 200; i++) {
      const v = vec(r.normalArray(n));
      const vo = tf.sub(v, tf.mul(g, dot(v, g) / dot(g, g)));
      assert.ok(rate(vo) <= rate(best) * (1 + 1e-5));
    }
    const c = cos(vPerp, best);
    assert.ok(rate(vPerp) > 0 && c < 0.999, `cos(v_perp, argmax) = ${c}`);
  });
});

/**
 * The level-set symmetry of L(w) = 1/2 w^T A w: g = A^{-1/2} exp(S) A^{1/2}, S skew, keeps
 * w^T A w. Teleport = gradient ascent on S of ||grad L(g w)||^2, with autodiff through expm.
 */
function teleportQuadratic(A: tf.Tensor, sq: tf.Tensor, isq: tf.Tensor, w: tf.Tensor, steps: number, lr: number): tf.Tensor {
  let cur = w;
  const n = w.shape[0];
  for (let s = 0; s < steps; s++) {
    const obj = (S: tf.Tensor) => {
      const skew = tf.sub(S, tf.transpose(S));
      const g = tf.matMul(tf.matMul(isq as tf.Tensor2D, expm(skew) as tf.Tensor2D), sq as tf.Tensor2D);
      return tf.sum(tf.square(mv(A, mv(g, cur)))) as tf.Scalar;
    };
    const G = tf.grad(obj)(tf.zeros([n, n]));
    const skew = tf.mul(tf.sub(G, tf.transpose(G)), lr);
    cur = mv(tf.matMul(tf.matMul(isq as tf.Tensor2D, expm(skew) as tf.Tensor2D), sq as tf.Tensor2D), cur);
  }
  return cur;
}

test('after teleporting to a critical point of the gradient norm, the gradient is parallel to Newton\'s direction', () => {
  tf.tidy(() => {
    const { A, sqrt, isqrt, inv } = spd([1, 2, 3, 5], 4);
    const w = vec(stream(4, 'w').normalArray(4));
    const L = quadratic(A, tf.zeros([4]));
    const newtonCos = (v: tf.Tensor) => cos(tf.grad(L)(v), mv(inv, tf.grad(L)(v)));
    const before = newtonCos(w);
    const t = teleportQuadratic(A, sqrt, isqrt, w, 300, 2e-3);
    const after = newtonCos(t);
    const drift = Math.abs(L(t).dataSync()[0] - L(w).dataSync()[0]) / L(w).dataSync()[0];
    assert.ok(drift < 1e-3, `teleport stays on the level set (relative drift ${drift} after 300 float32 steps)`);
    assert.ok(before < 0.95 && after > 1 - 1e-4, `cos before ${before}, after ${after}`);
  });
});

test('Prop. A.2: on a strictly convex quadratic, teleport-then-GD reaches a lower loss than GD', () => {
  tf.tidy(() => {
    const { A, sqrt, isqrt } = spd([0.1, 0.4, 1, 2], 5);
    const L = quadratic(A, tf.zeros([4]));
    const gd = (w: tf.Tensor, steps: number, teleportEach: boolean) => {
      let cur = w;
      for (let s = 0; s < steps; s++) {
        if (teleportEach) cur = teleportQuadratic(A, sqrt, isqrt, cur, 30, 5e-3);
        cur = tf.sub(cur, tf.mul(0.4, tf.grad(L)(cur)));
      }
      return L(cur).dataSync()[0];
    };
    const w = vec(stream(5, 'w').normalArray(4));
    const plain = gd(w, 10, false);
    const tele = gd(w, 10, true);
    assert.ok(tele < plain, `teleport+GD ${tele} vs GD ${plain}`);
  });
});
