// A resumed run gives the numbers of an uninterrupted one only on the backend that wrote its
// checkpoint (backends differ in the last float32 bits, and training amplifies that). Each
// checkpoint records its backend; a resume on another one is refused, or reported where a run
// may move between machines by design (meta-training units of a worker pool).
import { currentBackend } from './index.js';

/** The backend a checkpoint written now records. */
export const checkpointBackend = (): string => currentBackend();

/**
 * Why resuming a checkpoint written on `saved` here would change the run's numbers, or
 * undefined when it would not (same backend, or a checkpoint from before backends were recorded).
 */
export function backendChange(saved: string | undefined): string | undefined {
  const now = currentBackend();
  if (saved === undefined || saved === now) return undefined;
  return `it was written on the ${saved} backend and this run is on ${now}, so the resumed run would not give the numbers of an uninterrupted one`;
}

/** Refuse to resume `what` on another backend than the one that wrote it. */
export function checkResumeBackend(what: string, saved: string | undefined): void {
  const why = backendChange(saved);
  if (why !== undefined) throw new Error(`${what}: cannot resume: ${why}. Resume it with --backend ${saved}, or start the run over`);
}
