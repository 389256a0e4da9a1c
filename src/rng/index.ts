// Seeded randomness. Every random draw in symtele comes from a named stream derived from the
// run's single seed, so that adding draws to one stream never shifts another.
import seedrandom from 'seedrandom';

export interface Stream {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Fill a new Float32Array of length n with uniform [lo, hi) values. */
  uniformArray(n: number, lo?: number, hi?: number): Float32Array;
  normalArray(n: number): Float32Array;
  /** A new permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array;
  /** Serialisable position of the stream, for checkpoints. */
  state(): StreamState;
}

/** Derive the seed string of a named sub-stream: streams with different paths are independent. */
export function deriveSeed(seed: number | string, ...path: (string | number)[]): string {
  return [String(seed), ...path.map(String)].join('/');
}

type Prng = (() => number) & { state(): object };
export interface StreamState { prng: object; spare: number | null }

export function stream(seed: number | string, ...path: (string | number)[]): Stream {
  return fromPrng(seedrandom.alea(deriveSeed(seed, ...path), { state: true }) as unknown as Prng, null);
}

/** Restore a stream from `state()` (checkpoint resume). */
export function restoreStream(state: StreamState): Stream {
  const prng = seedrandom.alea('', { state: state.prng as unknown as true }) as unknown as Prng;
  return fromPrng(prng, state.spare);
}

function fromPrng(prng: Prng, spare0: number | null): Stream {
  let spare = spare0;
  const next = () => prng();
  const normal = () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  return {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    normal,
    int: (n) => Math.floor(next() * n),
    uniformArray: (n, lo = 0, hi = 1) => {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * next();
      return a;
    },
    normalArray: (n) => {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = normal();
      return a;
    },
    permutation: (n) => {
      const p = new Int32Array(n);
      for (let i = 0; i < n; i++) p[i] = i;
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const t = p[i];
        p[i] = p[j];
        p[j] = t;
      }
      return p;
    },
    // The Box–Muller spare is part of the position.
    state: () => ({ prng: prng.state(), spare }),
  };
}
