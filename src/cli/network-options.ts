import type { RawRunOptions } from './options.js';

// The network and store shape of a run: links between each server instance and each store (their
// added round trip and jitter), the Redis topology, and PostgreSQL's commit durability. These are
// part of a result's identity: a figure measured at 2 ms is not comparable with one at 0 ms.

export type RedisTopology = 'single' | 'sentinel' | 'cluster';
export type DbDurability = 'full' | 'async';

export interface LinkOptions {
  /** Round-trip times the links add, ms (half each way); one cell per value. 0 = a link that adds nothing (its own cost only). */
  latenciesMs: number[];
  /** Jitter on each one-way delay, ms. */
  jitterMs: number;
}

export interface NetworkOptions {
  /** Absent: servers talk to the stores directly, as before links existed. */
  links?: LinkOptions;
  redisTopology: RedisTopology;
  /** With topology cluster: how many primaries, and replicas of each. */
  redisCluster?: { primaries: number; replicasPerPrimary: number };
  dbDurability: DbDurability;
}

export const REDIS_TOPOLOGIES: readonly RedisTopology[] = ['single', 'sentinel', 'cluster'];
/** redis-cli will not create a cluster of fewer primaries; more than this on one machine measures the machine. */
const CLUSTER_PRIMARIES = { min: 3, max: 16, default: 3 };
const MAX_CLUSTER_REPLICAS = 5;
export const DB_DURABILITIES: readonly DbDurability[] = ['full', 'async'];

/** "0", "0.5ms", "2ms", "1.5", "500us", "1s" → milliseconds (fractions allowed), or undefined. */
export function parseFineDuration(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(us|µs|ms|s)?$/.exec(raw.trim());
  if (!m) return undefined;
  const unit = { us: 0.001, µs: 0.001, ms: 1, s: 1000 } as const;
  const v = Number(m[1]) * unit[(m[2] ?? 'ms') as keyof typeof unit];
  return Number.isFinite(v) && v <= 10_000 ? Math.round(v * 1000) / 1000 : undefined;
}

export function parseNetwork(raw: Pick<RawRunOptions, 'linkLatency' | 'linkJitter' | 'redisTopology' | 'redisCluster' | 'redisClusterReplicas' | 'dbDurability'>, problems: string[]): NetworkOptions {
  let links: LinkOptions | undefined;
  if (raw.linkLatency !== undefined) {
    const latenciesMs: number[] = [];
    for (const part of raw.linkLatency.split(',').map((s) => s.trim()).filter(Boolean)) {
      const v = parseFineDuration(part);
      if (v === undefined) problems.push(`--link-latency: "${part}" is not a round-trip time; give e.g. 0, 0.5ms, 2ms (several separated by commas, at most 10 s)`);
      else if (!latenciesMs.includes(v)) latenciesMs.push(v);
    }
    if (latenciesMs.length === 0 && !problems.some((p) => p.startsWith('--link-latency'))) problems.push('--link-latency is empty; give e.g. 0,0.5ms,2ms');
    links = { latenciesMs, jitterMs: 0 };
  }
  if (raw.linkJitter !== undefined) {
    const j = parseFineDuration(raw.linkJitter);
    if (j === undefined) problems.push(`--link-jitter must be a duration such as 0.2ms or 1ms (got "${raw.linkJitter}")`);
    else if (!links) problems.push('--link-jitter needs --link-latency (the links it varies); e.g. --link-latency 2ms --link-jitter 0.5ms');
    else links.jitterMs = j;
  }
  const redisTopology = (raw.redisTopology ?? (raw.redisCluster !== undefined ? 'cluster' : 'single')) as RedisTopology;
  if (!REDIS_TOPOLOGIES.includes(redisTopology)) problems.push(`--redis-topology must be one of ${REDIS_TOPOLOGIES.join(', ')} (got "${raw.redisTopology}")`);
  const redisCluster = parseCluster(raw, redisTopology, problems);
  const dbDurability = (raw.dbDurability ?? 'full') as DbDurability;
  if (!DB_DURABILITIES.includes(dbDurability)) problems.push(`--db-durability must be full (synchronous_commit on) or async (synchronous_commit off) (got "${raw.dbDurability}")`);
  return { ...(links ? { links } : {}), redisTopology, ...(redisCluster ? { redisCluster } : {}), dbDurability };
}

/** --redis-cluster N (primaries, implies --redis-topology cluster) and --redis-cluster-replicas R. */
function parseCluster(raw: Pick<RawRunOptions, 'redisTopology' | 'redisCluster' | 'redisClusterReplicas'>, topology: RedisTopology, problems: string[]): NetworkOptions['redisCluster'] {
  if (raw.redisCluster !== undefined && topology !== 'cluster' && REDIS_TOPOLOGIES.includes(topology)) {
    problems.push(`--redis-cluster starts a Redis Cluster, but --redis-topology is ${topology}: drop --redis-topology, or say --redis-topology cluster`);
  }
  if (raw.redisClusterReplicas !== undefined && topology !== 'cluster') {
    problems.push('--redis-cluster-replicas needs a Redis Cluster: add --redis-cluster <primaries> (at least 3)');
  }
  if (topology !== 'cluster') return undefined;
  const { min, max } = CLUSTER_PRIMARIES;
  let primaries = CLUSTER_PRIMARIES.default;
  if (raw.redisCluster !== undefined) {
    const n = raw.redisCluster.trim();
    if (!/^\d+$/.test(n) || Number(n) < min || Number(n) > max) problems.push(`--redis-cluster must be the number of primaries, ${min} to ${max} (a Redis Cluster has at least ${min}) (got "${raw.redisCluster}")`);
    else primaries = Number(n);
  }
  let replicasPerPrimary = 0;
  if (raw.redisClusterReplicas !== undefined) {
    const r = raw.redisClusterReplicas.trim();
    if (!/^\d+$/.test(r) || Number(r) > MAX_CLUSTER_REPLICAS) problems.push(`--redis-cluster-replicas must be the replicas of each primary, 0 to ${MAX_CLUSTER_REPLICAS} (got "${raw.redisClusterReplicas}")`);
    else replicasPerPrimary = Number(r);
  }
  return { primaries, replicasPerPrimary };
}
