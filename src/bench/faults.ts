// Bench section "faults": the crash soak (src/faults/soak.ts) at size: N = 50 injected SIGKILLs
// per run kind (one learned variant; a study of two; the study with its units on 2 threads; the
// study with a log file damaged after each kill; the study with a full disk, ENOSPC, instead of
// a kill), each run resumed until it finishes and compared with the uninterrupted run. Figures:
// faults injected, runs finished and recovered, leftovers of killed processes after finished runs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Figures, Section } from './section.js';
import { soak } from '../faults/soak.js';
import { FAULT_SINGLE, FAULT_STUDY } from '../faults/configs.js';

export const section: Section = {
  name: 'faults',
  async run({ quick }) {
    const faults = quick ? 4 : 50;
    const out: Figures = {};
    const kinds = [
      ['single', FAULT_SINGLE, [], 'kill'],
      ['study', FAULT_STUDY, [], 'kill'],
      ['studyJobs2', FAULT_STUDY, ['--jobs', '2'], 'kill'],
      ['logDamage', FAULT_STUDY, [], 'logDamage'],
      ['diskFull', FAULT_STUDY, [], 'diskFull'],
    ] as const;
    for (const [name, config, args, kind] of kinds) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symtele-faults-'));
      const t0 = performance.now();
      try {
        const r = soak({ config, dir, faults, seed: 7, kind, args: [...args], log: (l) => process.stdout.write(`  ${name}: ${l}\n`) });
        out[name] = { ...r, seconds: (performance.now() - t0) / 1000 };
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    return out;
  },
};
