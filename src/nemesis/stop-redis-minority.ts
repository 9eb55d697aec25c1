import type { Fault } from './types.js';

// A minority of the Redlock nodes goes away for a while: ⌊N/2⌋ of N servers killed, started again
// (empty) when the fault ends. A quorum remains, so a correct Redlock keeps granting locks — but
// a lock granted before the fault may now live on fewer nodes than a quorum.
export const stopRedisMinority = {
  name: 'stop-redis-minority',
  description: 'stop ⌊N/2⌋ of N Redis servers for a while, then start them again empty',
  defaults: () => ({ everyMs: 6000, forMs: 3000 }),
  async inject(t, round) {
    const nodes = t.redis.filter((r) => r.crash !== undefined && r.revive !== undefined);
    const k = Math.floor(t.redis.length / 2);
    if (k === 0 || nodes.length < k) {
      return { target: 'none', detail: `no minority to stop with ${t.redis.length} Redis server(s) seatlab can restart; use --redis-nodes 3`, applied: false, heal: async () => '' };
    }
    const picked = Array.from({ length: k }, (_, i) => nodes[(round + i) % nodes.length]!);
    const pids = picked.map((n) => n.pid);
    for (const n of picked) await n.crash!();
    return {
      target: picked.map((n) => `redis ${n.url.replace('redis://', '')}`).join(', '),
      detail: `kill -9 ${k} of ${t.redis.length} Redis servers (pids ${pids.join(', ')})`,
      applied: true,
      async heal() {
        for (const n of picked) await n.revive!();
        return `started again empty as pids ${picked.map((n) => n.pid).join(', ')}`;
      },
    };
  },
} satisfies Fault;
