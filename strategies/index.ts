import { buildNamedRegistry } from '../src/core/registry.js';
import type { SeatLockStrategy } from '../src/core/ports.js';
import { none } from './none.js';
import { pessimistic } from './pessimistic.js';
import { pessimisticNowait } from './pessimistic-nowait.js';
import { optimistic } from './optimistic.js';
import { redlock } from './redlock.js';
import { redlockPessimistic } from './redlock-pessimistic.js';
import { redisDecr } from './redis-decr.js';

/** Builds a name → strategy map; a duplicate or non-kebab-case name is a programming error. */
export const buildRegistry = (list: readonly SeatLockStrategy[]) => buildNamedRegistry('strategy', list);

export const strategies = buildRegistry([none, pessimistic, pessimisticNowait, optimistic, redlock, redlockPessimistic, redisDecr]);

export function strategyNames(): string[] {
  return [...strategies.keys()];
}
