import { buildNamedRegistry } from '../core/registry.js';
import type { Fault } from './types.js';
import { pauseInstance } from './pause-instance.js';
import { killInstance } from './kill-instance.js';
import { restartRedis } from './restart-redis.js';
import { stopRedisMinority } from './stop-redis-minority.js';
import { killDbConnections } from './kill-db-connections.js';
import { failoverRedis } from './failover-redis.js';


export const faults = buildNamedRegistry<Fault>('fault', [pauseInstance, killInstance, restartRedis, stopRedisMinority, killDbConnections, failoverRedis]);

export function faultNames(): string[] {
  return [...faults.keys()];
}
