import { Redis } from 'ioredis';
import { tally } from './error-tally.js';

/**
 * A client for the booking server's hot path. Commands to a server that is down fail at once
 * (no offline queue, no per-request retries) so that with N Redis nodes a dead node costs a vote,
 * not a hang; the connection itself keeps retrying in the background.
 */
export function createRedisClient(url: string, keyPrefix?: string): Redis {
  const client = new Redis(url, {
    ...(keyPrefix ? { keyPrefix } : {}),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    lazyConnect: true,
    retryStrategy: (times) => Math.min(50 * times, 1000),
  });
  // Each failed reconnect is an 'error' (ECONNREFUSED while the server is down): counted, not shown.
  client.on('error', (e) => tally.record('redis', e));
  return client;
}

/** Connects every client; fails if fewer than `atLeast` come up. Returns the clients either way. */
export async function connectAll(clients: Redis[], atLeast: number): Promise<void> {
  const results = await Promise.allSettled(clients.map((c) => c.connect()));
  const up = results.filter((r) => r.status === 'fulfilled').length;
  if (up < atLeast) {
    const why = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason as Error | undefined;
    throw new Error(`only ${up} of ${clients.length} Redis servers answered (need ${atLeast}): ${why?.message ?? 'unknown error'}`);
  }
}
