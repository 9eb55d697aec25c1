import type { Provisioned } from '../infra/chain.js';
import type { Dialect } from '../db/dialect.js';
import { isSentinelTopology } from '../infra/redis-sentinel.js';
import { isClusterTopology } from '../infra/redis-cluster.js';
import type { CpuComponent } from './cpu.js';

// Which processes make up a run, for the CPU accounting: the lab itself, each booking server
// instance, the store's server, each Redis, the link proxy. A server the lab did not start (a URL
// it was given, a container, a black-box target) has no pid the lab owns: it is named with the
// reason instead of being left out, so a reader sees what the figures do not cover.

export interface RunProcesses {
  /** The booking server instances (absent: the core runs in the lab's process, --transport direct). */
  instances?: readonly { readonly pid: number; readonly alive: boolean }[];
  /** The store's server, as provisioned (its pid follows a revive). */
  store?: { dialect: Dialect; server: Provisioned };
  /** The Redis servers the run's servers use. */
  redis?: readonly Provisioned[];
  /** The link proxy host, when the servers reach the stores through links. */
  linkHostPid?: number;
  /** A black-box target: its URL. */
  target?: string;
}

const STORE_NAME: Record<Dialect, string> = { pg: 'postgres', mysql: 'mysql' };
const STORE_FLAG: Record<Dialect, string> = { pg: '--database-url or DATABASE_URL', mysql: '--database-url or MYSQL_URL' };

/** Why the processes of a server the lab was given or had a container start cannot be read. */
function unreadable(kind: Provisioned['kind'], flag: string): string | undefined {
  if (kind === 'url') return `a server the lab did not start (${flag}): its processes are not the lab's to read`;
  if (kind === 'testcontainers') return 'runs in a Docker container (testcontainers): the lab does not read a container\'s processes';
  return undefined;
}

export function runComponents(p: RunProcesses): CpuComponent[] {
  const out: CpuComponent[] = [];
  for (const [i, inst] of (p.instances ?? []).entries()) out.push({ name: `server#${i}`, tree: true, pids: () => [inst.alive ? inst.pid : undefined] });
  if (p.store) {
    const { dialect, server } = p.store;
    const why = unreadable(server.kind, STORE_FLAG[dialect]);
    // The postmaster with its backends, WAL writer, checkpointer …: the tree rule.
    out.push(why ? { name: STORE_NAME[dialect], notMeasured: why } : { name: STORE_NAME[dialect], tree: true, pids: () => [server.pid] });
  }
  for (const [i, r] of (p.redis ?? []).entries()) {
    const why = unreadable(r.kind, '--redis-url or REDIS_URL');
    if (why) out.push({ name: `redis#${i}`, notMeasured: why });
    else if (isSentinelTopology(r)) {
      // The data nodes (roles swap on a failover), and the three Sentinels watching them.
      out.push({ name: `redis#${i}`, tree: true, note: 'primary and replica', pids: () => [r.primary().pid, r.replica().pid] });
      out.push({ name: 'sentinels', tree: true, pids: () => r.sentinels().map((s) => s.pid) });
    } else if (isClusterTopology(r)) {
      out.push({ name: `redis#${i}`, tree: true, note: 'every cluster node', pids: () => r.nodes().map((n) => n.pid) });
    } else out.push({ name: `redis#${i}`, tree: true, pids: () => [r.pid] });
  }
  if (p.linkHostPid !== undefined) out.push({ name: 'links', tree: true, pids: () => [p.linkHostPid] });
  if (p.target) out.push({ name: 'target', notMeasured: `a black-box target (${p.target}): its processes are not the lab's to read; on this machine it shows in how busy the machine was` });
  // The lab's process alone: its children are the components above.
  out.push({ name: 'lab', tree: false, pids: () => [process.pid],
    ...(p.instances ? {} : p.target ? {} : { note: 'the booking core runs in the lab\'s process (--transport direct)' }) });
  return out;
}
