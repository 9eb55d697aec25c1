import { isSentinelTopology } from '../infra/redis-sentinel.js';
import type { Fault } from './types.js';

// A Redis primary dies behind Sentinel: for the fault's duration the replica is cut off from the
// primary (the writes the primary acknowledges meanwhile reach nobody else), then the primary is
// killed -9, the Sentinels promote the replica, and the old primary comes back empty as its
// replica. What asynchronous replication lost is in the record. Locks, DECR counts and queue
// places written in that window are gone while the clients were told they succeeded. With
// --nemesis-for 0 the cut lasts only the moment between injecting and healing: a bare SIGKILL,
// which on loopback loses (next to) nothing — the widened window is what a primary sees whose
// link to its replica failed shortly before it died.
export const failoverRedis = {
  name: 'failover-redis',
  description: 'cut the Redis replica off for the fault\'s duration, then SIGKILL the primary: Sentinel promotes the replica, the old primary returns empty as its replica',
  // An injection lasts well beyond forMs: promotion takes ~3 s (down-after 2 s), and the Sentinels
  // wait ~8 s before they turn a returning old primary into a replica. The event spans all of it.
  defaults: () => ({ everyMs: 5000, forMs: 500 }),
  async inject(t) {
    const topo = t.redis.find(isSentinelTopology);
    if (!topo) return { target: 'none', detail: 'no Redis Sentinel topology in this run; add --redis-topology sentinel', applied: false, heal: async () => '' };
    const p = topo.primary();
    await topo.cutReplication();
    return {
      target: `redis primary 127.0.0.1:${p.port} (pid ${p.pid}) of ${topo.masterName}`,
      detail: 'Sentinel failover',
      applied: true,
      heal: () => topo.failover(),
    };
  },
} satisfies Fault;
