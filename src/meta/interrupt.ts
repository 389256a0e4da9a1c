// Stopping a run cleanly on SIGINT / SIGTERM: the first signal asks the training loop to stop
// after the batch it is in (it then checkpoints, flushes its logs and throws `Interrupted`);
// a second one exits at once. Training yields to the event loop between windows, so a signal
// is seen within one window.

/** Polled by the training loop: the signal that asked it to stop, if any. */
export interface StopFlag {
  readonly requested: NodeJS.Signals | null;
}

export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals, readonly where: string) {
    super(`stopped by ${signal} ${where}`);
    this.name = 'Interrupted';
  }
}

/** The exit status of a process stopped by SIGINT (128 + 2), the shell's convention. */
export const INTERRUPTED_EXIT = 130;

/** Let pending signal handlers and I/O callbacks run (a compute loop never yields by itself). */
export const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Install the handlers; `dispose()` restores the default behaviour. */
export function stopOnSignals(say: (line: string) => void): StopFlag & { dispose(): void } {
  let requested: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (requested) {
      say(`${sig} again: exiting now (the last checkpoint is kept; the run resumes from it)`);
      process.exit(INTERRUPTED_EXIT);
    }
    requested = sig;
    say(`${sig}: stopping after the current batch (checkpoint, flush logs); send it again to exit at once`);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  for (const s of signals) process.on(s, onSignal);
  return {
    get requested() {
      return requested;
    },
    dispose: () => signals.forEach((s) => process.removeListener(s, onSignal)),
  };
}
