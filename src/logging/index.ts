/** Sinks: TensorBoard event files, JSONL metrics, progress reports (atomic writes: run/atomic.ts). */
export * from './tensorboard.js';
export * from './jsonl.js';
export * from './progress.js';
