import type { SeatLockStrategy } from '../src/core/ports.js';
import { none } from './none.js';
import { pessimistic } from './pessimistic.js';
import { pessimisticNowait } from './pessimistic-nowait.js';
import { optimistic } from './optimistic.js';
import { redlock } from './redlock.js';
import { redlockPessimistic } from './redlock-pessimistic.js';
import { redisDecr } from './redis-decr.js';

/** Builds a name → strategy map; a duplicate or non-kebab-case name is a programming error. */
export function buildRegistry(list: readonly SeatLockStrategy[]): ReadonlyMap<string, SeatLockStrategy> {
  const map = new Map<string, SeatLockStrategy>();
  for (const s of list) {
    if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(s.name)) throw new Error(`strategy name "${s.name}" is not kebab-case`);
    if (map.has(s.name)) throw new Error(`duplicate strategy name "${s.name}"`);
    map.set(s.name, s);
  }
  return map;
}

export const strategies = buildRegistry([none, pessimistic, pessimisticNowait, optimistic, redlock, redlockPessimistic, redisDecr]);

export function strategyNames(): string[] {
  return [...strategies.keys()];
}
