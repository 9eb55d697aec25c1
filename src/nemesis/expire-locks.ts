import { labRedis } from '../infra/redis-client.js';
import type { Fault } from './types.js';

// The effect of a forward clock jump on a Redis server, from outside: every lock key's TTL set to
// 1 ms, again and again while the fault lasts, so every lease ends early while its holder still
// believes in it. (A real clock jump via libfaketime fails at start under Debian's redis-server:
// jemalloc reads the clock during initialisation.) The report says it stands for a clock jump.
export const expireLocks = {
  name: 'expire-locks',
  description: 'stands for a forward clock jump on Redis: every lock key\'s TTL set to 1 ms, every 20 ms while it lasts',
  defaults: () => ({ everyMs: 3000, forMs: 1500 }),
  async inject(t) {
    if (t.redis.length === 0) return { target: 'none', detail: 'this run has no Redis', applied: false, heal: async () => '' };
    const pattern = `${t.redisKeyPrefix ?? ''}seatlab:lock:*`;
    // Through the lab's one Redis door: a Sentinel URL reaches the current primary.
    const clients = t.redis.map((r) => labRedis(r.url, { connectTimeout: 1000 }));
    await Promise.allSettled(clients.map((c) => c.connect()));
    let expired = 0;
    let rounds = 0;
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        rounds++;
        for (const c of clients) {
          try {
            let cursor = '0';
            do {
              const [next, keys] = await c.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
              cursor = next;
              if (keys.length > 0) {
                const p = c.pipeline();
                for (const k of keys) p.pexpire(k, 1);
                expired += ((await p.exec()) ?? []).filter(([e, v]) => !e && v === 1).length;
              }
            } while (cursor !== '0' && !stopped);
          } catch { /* a node that is down has no keys to expire */ }
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    return {
      target: `${t.redis.length} Redis server(s), keys ${pattern}`,
      detail: 'lock TTLs set to 1 ms (a forward clock jump, simulated)',
      applied: true,
      async heal() {
        stopped = true;
        await loop;
        for (const c of clients) c.disconnect();
        return `${expired} live lock(s) cut to 1 ms over ${rounds} sweeps`;
      },
    };
  },
} satisfies Fault;
