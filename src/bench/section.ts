// What a bench section is: a name and a run that returns its figures (JSON). Sections import
// this, never the runner, so they do not depend on each other or on it.
export type Figures = Record<string, unknown>;

export interface SectionOptions {
  quick: boolean;
  /** Batch sizes of the meta-training timings (default: each section's own). */
  batches?: number[];
}

export interface Section {
  name: string;
  run(opts: SectionOptions): Promise<Figures>;
}
