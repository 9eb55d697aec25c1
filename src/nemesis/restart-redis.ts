import { labRedis } from '../infra/redis-client.js';
import type { Fault } from './types.js';

export async function keyCount(url: string): Promise<string> {
  const r = labRedis(url);
  try {
    await r.connect();
    return String(await r.dbsize());
  } catch {
    return '?';
  } finally {
    r.disconnect();
  }
}

// A Redis that restarts empty: kill -9 one Redis server and start it again at once, without its data
// (locks, DECR counts, loaded scripts and queue state are gone). Strategies that keep state in Redis
// must notice and rebuild; the others should not care.
export const restartRedis = {
  name: 'restart-redis',
  description: 'kill -9 one Redis server and start it again empty',
  defaults: () => ({ everyMs: 4000, forMs: 0 }),
  async inject(t, round) {
    const nodes = t.redis.filter((r) => r.crash !== undefined && r.revive !== undefined);
    const node = nodes[round % Math.max(1, nodes.length)];
    if (!node) return { target: 'none', detail: 'no Redis server that seatlab started (an explicit --redis-url cannot be restarted)', applied: false, heal: async () => '' };
    const pid = node.pid;
    const keys = await keyCount(node.url);
    await node.crash!();
    return {
      target: `redis ${node.url.replace('redis://', '')} (pid ${pid})`,
      detail: `kill -9 pid ${pid} holding ${keys} keys`,
      applied: true,
      async heal() {
        await node.revive!();
        return `started again empty as pid ${node.pid} (${await keyCount(node.url)} keys)`;
      },
    };
  },
} satisfies Fault;
