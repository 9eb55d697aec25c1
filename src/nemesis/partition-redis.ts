import type { Fault } from './types.js';
import { noLinks, pickInstanceLinks } from './links.js';

// A network partition between one server instance and Redis: its links to every Redis endpoint
// become a blackhole (connections stay open, bytes stop) for longer than the lock lease, then heal.
// The cut-off server still believes in the leases it took; the others see them expire and take
// the same locks. Fencing tokens are what keep its late database writes out.
export const partitionRedis = {
  name: 'partition-redis',
  description: "blackhole one instance's links to Redis for longer than the lock TTL, then heal",
  needsLinks: true,
  defaults: (t) => ({ everyMs: Math.max(6000, (t.lockTtlMs ?? 2000) * 2 + 2000), forMs: (t.lockTtlMs ?? 2000) + 1500 }),
  async inject(t, round) {
    const picked = pickInstanceLinks(t, round);
    if (!picked) return noLinks();
    const { instance, links } = picked;
    if (links.redis.length === 0) return { target: `instance ${instance}`, detail: 'this instance uses no Redis (its strategy has no Redis state)', applied: false, heal: async () => '' };
    for (const l of links.redis) await l.blackhole();
    return {
      target: `instance ${instance} → Redis (${links.redis.length} link${links.redis.length > 1 ? 's' : ''})`,
      detail: `blackholed ${links.redis.map((l) => l.upstream.port).join(', ')} (${t.lockTtlMs ? `lock TTL ${t.lockTtlMs} ms` : 'the strategy\'s default lock TTL'})`,
      applied: true,
      async heal() {
        let closed = 0;
        for (const l of links.redis) closed += (await l.heal()).closed;
        return `healed; ${closed} cut connection(s) closed, the server reconnects`;
      },
    };
  },
} satisfies Fault;
