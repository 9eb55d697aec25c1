import { buildNamedRegistry } from '../core/registry.js';
import type { Fault } from './types.js';
import { pauseInstance } from './pause-instance.js';
import { killInstance } from './kill-instance.js';
import { restartRedis } from './restart-redis.js';
import { stopRedisMinority } from './stop-redis-minority.js';
import { killDbConnections } from './kill-db-connections.js';
import { partitionRedis } from './partition-redis.js';
import { partitionDb } from './partition-db.js';
import { expireLocks } from './expire-locks.js';
import { crashDb } from './crash-db.js';
import { failoverRedis } from './failover-redis.js';


export const faults = buildNamedRegistry<Fault>('fault', [pauseInstance, killInstance, restartRedis, stopRedisMinority, killDbConnections, partitionRedis, partitionDb, expireLocks, crashDb, failoverRedis]);

export function faultNames(): string[] {
  return [...faults.keys()];
}
