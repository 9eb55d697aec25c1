export interface PeriodicOptions {
  intervalMs: number;
  onError?: (e: unknown) => void;
  /** After every run: true when it finished, false when it threw (the server counts runs for its metrics). */
  onRun?: (ok: boolean) => void;
  onStop?: () => Promise<void>;
}

/**
 * Runs `task` every `intervalMs`, never two at once, until the returned stop is called; stop waits
 * for the run in progress and then calls `onStop` (e.g. a final drain).
 */
export function startPeriodic(task: () => Promise<void>, o: PeriodicOptions): () => Promise<void> {
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    current = current.then(task).then(() => o.onRun?.(true), (e: unknown) => {
      o.onRun?.(false);
      o.onError?.(e);
    });
  }, o.intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await current;
    await o.onStop?.();
  };
}
