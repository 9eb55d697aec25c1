import type { ServerConfig } from '../server/start.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

// N booking server processes on the same PostgreSQL and Redis, as N pods would be: each has its
// own pool, Redis clients, sweeper election and outbox relay. The nemesis stops, kills and
// restarts them by their PIDs; a restarted instance comes back on the same port, so clients
// reconnect to it as they would to a pod behind a stable address.

export interface Instance {
  readonly index: number;
  readonly url: string;
  /** The current process (it changes when the instance is restarted). */
  readonly pid: number;
  readonly paused: boolean;
  readonly alive: boolean;
  /** Times the instance was started again after a kill. */
  readonly restarts: number;
  pause(): void;
  resume(): void;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
  /** Starts the instance again on its port. */
  restart(): Promise<void>;
  /** The strategy's counters of the current process (a killed process's counts are gone with it). */
  counters(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** `cfg` is every instance's config, or one per instance (links give each instance its own store URLs). */
export async function startInstances(n: number, cfg: ServerConfig | ServerConfig[], opts: { onLog?: (index: number, line: string) => void } = {}): Promise<Instance[]> {
  const started: Instance[] = [];
  try {
    // One at a time: each runs its strategy's init (e.g. rebuilding Redis state) before serving.
    for (let i = 0; i < n; i++) started.push(await startInstance(i, Array.isArray(cfg) ? cfg[i]! : cfg, opts));
    return started;
  } catch (err) {
    for (const s of started) await s.stop().catch(() => undefined);
    throw err;
  }
}

async function startInstance(index: number, cfg: ServerConfig, opts: { onLog?: (index: number, line: string) => void }): Promise<Instance> {
  // The index is the instance label of the server's metrics, unless the caller numbered it already.
  const spawn = (port?: number) => startServerProcess({ instance: String(index), ...cfg, ...(port ? { port } : {}) }, { onLog: (l) => opts.onLog?.(index, l), component: `server ${index}` });
  let proc: ServerProcess = await spawn();
  const port = proc.port;
  let paused = false;
  let alive = true;
  let restarts = 0;
  const resume = () => {
    proc.signal('SIGCONT');
    paused = false;
  };
  return {
    index,
    url: proc.url,
    get pid() { return proc.pid; },
    get paused() { return paused; },
    get alive() { return alive; },
    get restarts() { return restarts; },
    pause() {
      proc.signal('SIGSTOP');
      paused = true;
    },
    resume,
    async kill() {
      proc.signal('SIGKILL');
      await proc.exited;
      await proc.stop(); // unregisters the cleanup hook; the process is already gone
      alive = false;
      paused = false;
    },
    async restart() {
      proc = await spawn(port);
      alive = true;
      restarts++;
    },
    async counters() {
      if (!alive) return {};
      const res = await fetch(`http://127.0.0.1:${port}/lab/counters`, { signal: AbortSignal.timeout(5000) });
      return ((await res.json()) as { counters: Record<string, number> }).counters;
    },
    async stop() {
      if (paused) resume();
      if (alive) await proc.stop();
      alive = false;
    },
  };
}

/** The strategy's counters summed over the instances. */
export async function sumCounters(instances: Instance[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const i of instances) {
    for (const [k, v] of Object.entries(await i.counters().catch(() => ({} as Record<string, number>)))) out[k] = (out[k] ?? 0) + v;
  }
  return out;
}
