// Float64 twins of the MLP, the group actions and the metrics, on plain arrays: the reference
// against which the float32 tfjs autodiff is checked by finite differences.
import { mat64, matmul64, transpose64, inv64, pinv64, expm64, scale64, add64, eye64, type Mat64 } from '../../src/ops/linalg64.js';

export type M = Mat64;
export const fromRows = (rows: number[][]): M => mat64(rows.length, rows[0].length, rows.flat());
export const toRows = (m: M): number[][] => Array.from({ length: m.rows }, (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
const map = (a: M, f: (v: number) => number): M => mat64(a.rows, a.cols, Array.from(a.data, f));
const zip = (a: M, b: M, f: (u: number, v: number) => number): M => mat64(a.rows, a.cols, Array.from(a.data, (u, i) => f(u, b.data[i])));
export const sig = (a: M, s: number) => map(a, (v) => (v > 0 ? v : s * v));
export const sigInv = (a: M, s: number) => map(a, (v) => (v > 0 ? v : v / s));
const mask = (a: M, s: number) => map(a, (v) => (v > 0 ? 1 : s));
export { matmul64 as mm, add64 as add, scale64 as scale, eye64 as eye, expm64 as expm, inv64 as inv, pinv64 as pinv };

export type Target = { kind: 'mse'; y: M } | { kind: 'ce'; labels: number[] };

export function forward(ws: M[], x: M, s: number): M {
  let h = x;
  for (let i = 0; i < ws.length - 1; i++) h = sig(matmul64(ws[i], h), s);
  return matmul64(ws[ws.length - 1], h);
}

function lossAndOutGrad(out: M, t: Target): { loss: number; dOut: M } {
  if (t.kind === 'mse') {
    const diff = zip(out, t.y, (o, y) => o - y);
    return { loss: 0.5 * diff.data.reduce((p, v) => p + v * v, 0), dOut: diff };
  }
  const k = out.cols;
  const dOut = mat64(out.rows, k);
  let loss = 0;
  for (let j = 0; j < k; j++) {
    let mx = -Infinity;
    for (let i = 0; i < out.rows; i++) mx = Math.max(mx, out.data[i * k + j]);
    let z = 0;
    for (let i = 0; i < out.rows; i++) z += Math.exp(out.data[i * k + j] - mx);
    loss += Math.log(z) + mx - out.data[t.labels[j] * k + j];
    for (let i = 0; i < out.rows; i++) dOut.data[i * k + j] = (Math.exp(out.data[i * k + j] - mx) / z - (i === t.labels[j] ? 1 : 0)) / k;
  }
  return { loss: loss / k, dOut };
}

export const loss = (ws: M[], x: M, t: Target, s: number) => lossAndOutGrad(forward(ws, x, s), t).loss;

/** dL/dW_i by backpropagation in float64. */
export function grads(ws: M[], x: M, t: Target, s: number): M[] {
  const pres: M[] = [];
  const hs: M[] = [x];
  for (let i = 0; i < ws.length - 1; i++) {
    pres.push(matmul64(ws[i], hs[i]));
    hs.push(sig(pres[i], s));
  }
  let d = lossAndOutGrad(matmul64(ws[ws.length - 1], hs[ws.length - 1]), t).dOut;
  const gs: M[] = new Array(ws.length);
  for (let i = ws.length - 1; i >= 0; i--) {
    gs[i] = matmul64(d, transpose64(hs[i]));
    if (i > 0) d = zip(matmul64(transpose64(ws[i]), d), mask(pres[i - 1], s), (a, b) => a * b);
  }
  return gs;
}

export const sumSq = (ms: M[]) => ms.reduce((p, m) => p + m.data.reduce((q, v) => q + v * v, 0), 0);
export const gradNormSq = (ws: M[], x: M, t: Target, s: number) => sumSq(grads(ws, x, t, s));

export function action(ws: M[], x: M, gs: (M | null)[], kind: 'pinv' | 'inverse', s: number): M[] {
  const out = [...ws];
  let h = x;
  for (let m = 0; m < ws.length - 1; m++) {
    const g = gs[m];
    if (g) {
      const V = out[m], U = out[m + 1];
      if (kind === 'pinv') {
        const pre = matmul64(V, h);
        out[m + 1] = matmul64(matmul64(U, sig(pre, s)), pinv64(sig(matmul64(g, pre), s)));
        out[m] = matmul64(g, V);
      } else {
        out[m + 1] = matmul64(U, inv64(g));
        out[m] = matmul64(sigInv(matmul64(g, sig(matmul64(V, h), s)), s), pinv64(h));
      }
    }
    h = sig(matmul64(out[m], h), s);
  }
  return out;
}

export const flat = (ws: M[]) => ws.flatMap((w) => Array.from(w.data));

/** Central finite difference of order 1..3 of a scalar function, Richardson-extrapolated. */
export function fd(f: (t: number) => number, order: 1 | 2 | 3, h: number): number {
  const once = (e: number) => {
    if (order === 1) return (f(e) - f(-e)) / (2 * e);
    if (order === 2) return (f(e) - 2 * f(0) + f(-e)) / (e * e);
    return (f(2 * e) - 2 * f(e) + 2 * f(-e) - f(-2 * e)) / (2 * e ** 3);
  };
  return (4 * once(h / 2) - once(h)) / 3;
}

/** gamma'(0), gamma''(0) of t -> exp(tM)·w by Richardson-extrapolated central differences. */
export function curveDerivs(ws: M[], x: M, ms: (M | null)[], kind: 'pinv' | 'inverse', s: number, h = 2e-3): [number[], number[]] {
  const curve = (t: number) => flat(action(ws, x, ms.map((m) => (m ? expm64(scale64(m, t)) : null)), kind, s));
  const d12 = (e: number) => {
    const p = curve(e), c = curve(0), q = curve(-e);
    return [p.map((v, i) => (v - q[i]) / (2 * e)), p.map((v, i) => (v - 2 * c[i] + q[i]) / (e * e))];
  };
  const [a1, a2] = d12(h);
  const [b1, b2] = d12(h / 2);
  return [b1.map((v, i) => (4 * v - a1[i]) / 3), b2.map((v, i) => (4 * v - a2[i]) / 3)];
}

export function kappa(ws: M[], x: M, ms: (M | null)[], kind: 'pinv' | 'inverse', s: number): number {
  const [g1, g2] = curveDerivs(ws, x, ms, kind, s);
  const dot = (a: number[], b: number[]) => a.reduce((p, v, i) => p + v * b[i], 0);
  const a = dot(g1, g1), b = dot(g2, g2), c = dot(g1, g2);
  return Math.sqrt(Math.max(a * b - c * c, 0)) / a ** 1.5;
}

export function sharpness(ws: M[], x: M, t: Target, s: number, ts: number[], dirs: number[][]): number {
  const base = flat(ws);
  let tot = 0;
  for (const step of ts) {
    for (const d of dirs) {
      let i = 0;
      const moved = ws.map((w) => {
        const m = mat64(w.rows, w.cols, Array.from(w.data, (_, j) => base[i + j] + step * d[i + j]));
        i += w.data.length;
        return m;
      });
      tot += loss(moved, x, t, s);
    }
  }
  return tot / (ts.length * dirs.length);
}
