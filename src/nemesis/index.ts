import type { Fault } from './types.js';
import { pauseInstance } from './pause-instance.js';
import { killInstance } from './kill-instance.js';
import { restartRedis } from './restart-redis.js';
import { stopRedisMinority } from './stop-redis-minority.js';
import { killDbConnections } from './kill-db-connections.js';

/** Builds a name → fault map; a duplicate or non-kebab-case name is a programming error. */
export function buildFaultRegistry(list: readonly Fault[]): ReadonlyMap<string, Fault> {
  const map = new Map<string, Fault>();
  for (const f of list) {
    if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(f.name)) throw new Error(`fault name "${f.name}" is not kebab-case`);
    if (map.has(f.name)) throw new Error(`duplicate fault name "${f.name}"`);
    map.set(f.name, f);
  }
  return map;
}

export const faults = buildFaultRegistry([pauseInstance, killInstance, restartRedis, stopRedisMinority, killDbConnections]);

export function faultNames(): string[] {
  return [...faults.keys()];
}
