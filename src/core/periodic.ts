/**
 * Runs `task` every `intervalMs`, never two at once, until the returned stop is called; stop waits
 * for the run in progress and then calls `onStop` (e.g. a final drain).
 */
export function startPeriodic(task: () => Promise<void>, o: { intervalMs: number; onError?: (e: unknown) => void; onStop?: () => Promise<void> }): () => Promise<void> {
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    current = current.then(task).catch((e) => o.onError?.(e));
  }, o.intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await current;
    await o.onStop?.();
  };
}
