// Loads the worked float64 cases of the symmetry toolkit (test/fixtures/reference/), or the
// file SYMTELE_REFERENCE names.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ReferenceCase {
  name: string;
  dims: number[];
  samples: number;
  loss: 'mse' | 'ce';
  actionKind: 'pinv' | 'inverse';
  activation: { leakyReluSlope: number };
  weights: number[][][];
  x: number[][];
  target: number[][] | number[];
  lossValue: number;
  gradNormSq: number;
  groupElements: number[][][];
  actedWeights: number[][][];
  actedLoss: number;
  teleport: { objective: string; direction: string; steps: number; lr: number; weights: number[][][]; gradNormSqAfter: number; lossAfter: number };
  curvature: { lieAlgebra: (number[][] | null)[]; kappa: number };
  sharpness: { displacements: number[]; directions: number[][]; phi: number };
}

const here = path.dirname(fileURLToPath(import.meta.url));

export function referenceCasesPath(): string {
  return process.env.SYMTELE_REFERENCE ?? path.resolve(here, '../fixtures/reference/symmetry-cases.json');
}

export function loadReferenceCases(): ReferenceCase[] {
  const p = referenceCasesPath();
  if (!fs.existsSync(p)) throw new Error(`reference cases not found at ${p} (set SYMTELE_REFERENCE)`);
  return JSON.parse(fs.readFileSync(p, 'utf8')) as ReferenceCase[];
}
