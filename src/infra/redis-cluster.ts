import { spawn, spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { freePort, waitFor } from './ports.js';
import { registerCleanup } from './cleanup.js';
import type { Provisioned } from './chain.js';
import { InfraUnavailableError, describeCause } from './errors.js';
import { removeStaleDirs } from './postgres.js';
import { infoOf, makeNodeDir, NodeStartError, redisNode, REDIS_DIR_PREFIX, type RedisNode } from './redis-node.js';

// One logical Redis split over N primaries by hash slot (a Redis Cluster), each primary with R
// replicas, all redis-server processes from PATH on loopback, created by `redis-cli --cluster
// create`. Servers reach it through a redis-cluster:// URL naming every node: the client reads the
// slot map from any of them and sends each command to the primary of its key's slot.

export interface ClusterShape {
  /** Primaries (3 at least: redis-cli will not create a cluster of fewer). */
  primaries: number;
  /** Replicas of each primary (asynchronous, as Redis replication always is). */
  replicasPerPrimary: number;
}

export interface ClusterNodeView { port: number; pid: number | undefined; role: 'primary' | 'replica' }

export interface ClusterTopology extends Provisioned {
  readonly topology: 'cluster';
  readonly shape: ClusterShape;
  /** Every node with the role it was created with (a failover, which the lab does not cause, would swap them). */
  nodes(): ClusterNodeView[];
}

export function isClusterTopology(p: Provisioned): p is ClusterTopology {
  return (p as Partial<ClusterTopology>).topology === 'cluster';
}

export const MIN_PRIMARIES = 3;

// The cluster bus listens on its own port (by default the data port + 10000, which may be taken or
// above 65535): given explicitly, from the same free-port helper. A node silent for 5 s is failing.
const clusterConf = (port: number, busPort: number, dir: string) => [
  `port ${port}`, `cluster-port ${busPort}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`, 'daemonize no', 'loglevel notice', `logfile ${dir}/redis.log`,
  'save ""', 'appendonly no', 'cluster-enabled yes', `cluster-config-file ${dir}/nodes.conf`, 'cluster-node-timeout 5000',
  'cluster-announce-ip 127.0.0.1',
  // No persistence, and no RDB files from replication either.
  'repl-diskless-sync yes', 'repl-diskless-sync-delay 0', 'rdb-del-sync-files yes',
  '',
].join('\n');

/** Starts the nodes, creates the cluster and waits until every node says cluster_state:ok; leaves nothing behind if it cannot. */
export async function provisionRedisCluster(shape: ClusterShape): Promise<ClusterTopology> {
  if (shape.primaries < MIN_PRIMARIES) throw new Error(`a Redis Cluster needs at least ${MIN_PRIMARIES} primaries (got ${shape.primaries})`);
  for (const bin of ['redis-server', 'redis-cli']) {
    if (spawnSync(bin, ['--version'], { stdio: 'ignore' }).status !== 0) {
      throw new InfraUnavailableError(`--redis-cluster starts redis-server processes from PATH and creates the cluster with redis-cli, and there is no ${bin}; install redis-server (apt-get install redis-server, which brings redis-cli)`);
    }
  }
  await removeStaleDirs(REDIS_DIR_PREFIX, 'server.pid', 'SIGTERM');
  const total = shape.primaries * (1 + shape.replicasPerPrimary);
  const nodes: RedisNode[] = [];
  const stopAll = async () => {
    for (const n of nodes) await n.stop().catch(() => undefined);
    for (const n of nodes) await rm(n.dir, { recursive: true, force: true }).catch(() => undefined);
  };
  const label = `Redis Cluster (${shape.primaries} primaries${shape.replicasPerPrimary ? ` × ${shape.replicasPerPrimary + 1} nodes` : ''})`;
  const unregister = registerCleanup(label, stopAll, () => { for (const n of nodes) n.terminateNow(); });
  try {
    const taken = new Set<number>();
    for (let i = 0; i < total; i++) nodes.push(await startNode(taken));
    // redis-cli makes the first `primaries` addresses primaries and the rest their replicas.
    await createCluster(nodes.map((n) => `127.0.0.1:${n.port}`), shape.replicasPerPrimary);
    await waitFor(() => everyNodeOk(nodes), 20_000, `cluster_state:ok on all ${total} nodes, each knowing the others`);
    return topology(shape, nodes, stopAll, unregister);
  } catch (err) {
    unregister();
    await stopAll();
    throw new InfraUnavailableError(`could not start a Redis Cluster: ${describeCause(err)}`, { cause: err });
  }
}

/** Tries per node: a port from freePort() is free when chosen, and the load of other tests may take it before redis-server binds it. */
const START_TRIES = 5;

/**
 * One cluster node started on a data port and a bus port no other node of this cluster has, each
 * started as soon as its ports are chosen (the window in which something else may bind them is
 * one node's start, not the whole cluster's); a port taken meanwhile means other ports, not a failure.
 */
async function startNode(taken: Set<number>): Promise<RedisNode> {
  const pick = async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) { taken.add(p); return p; }
    }
  };
  for (let attempt = 1; ; attempt++) {
    const dir = await makeNodeDir();
    const port = await pick();
    const node = await redisNode(port, dir, clusterConf(port, await pick(), dir));
    try {
      await node.start();
      return node;
    } catch (err) {
      await node.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      if (!(err instanceof NodeStartError && err.portTaken) || attempt >= START_TRIES) throw err;
    }
  }
}

function createCluster(addresses: string[], replicas: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => { out = (out + String(d)).slice(-4000); });
    c.stderr.on('data', (d) => { out = (out + String(d)).slice(-4000); });
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.on('error', reject);
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && /All 16384 slots covered/.test(out)) resolve();
      else reject(new Error(`redis-cli --cluster create ${signal ? `was killed (${signal}) after 30 s` : `exited with ${code}`}: ${out.trim().split('\n').slice(-5).join(' / ')}`));
    });
  });
}

/**
 * Every node says cluster_state:ok and knows every other node (ok alone comes before the gossip
 * has reached everyone: a replica may not know another yet), and every replica is in sync.
 */
async function everyNodeOk(nodes: RedisNode[]): Promise<boolean> {
  for (const n of nodes) {
    const r = n.client();
    try {
      await r.connect();
      if ((await infoOf(r, 'cluster')).cluster_enabled !== '1') return false;
      const info = String(await r.call('CLUSTER', 'INFO'));
      if (!/^cluster_state:ok\r?$/m.test(info) || !new RegExp(`^cluster_known_nodes:${nodes.length}\r?$`, 'm').test(info)) return false;
      const repl = await infoOf(r, 'replication');
      if (repl.role === 'slave' && repl.master_link_status !== 'up') return false;
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  }
  return true;
}

function topology(shape: ClusterShape, nodes: RedisNode[], stopAll: () => Promise<void>, unregister: () => void): ClusterTopology {
  const first = nodes[0]!;
  return {
    url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    kind: 'embedded', topology: 'cluster', shape,
    port: first.port, dataDir: first.dir,
    get pid() { return first.pid; },
    nodes: () => nodes.map((n, i) => ({ port: n.port, pid: n.pid, role: i < shape.primaries ? 'primary' : 'replica' })),
    stop: async () => {
      unregister();
      await stopAll();
    },
  };
}
