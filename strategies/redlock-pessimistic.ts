import type { SeatLockStrategy } from '../src/core/ports.js';
import { createPessimistic, lockTimeoutOption } from './pessimistic.js';
import { SeatLocker, balanceResource, inventoryResource, lockOptions, seatResource } from './lib/redis-lock.js';
import { lockThenRowCeiling } from './lib/ceilings.js';

// The combination one published comparison found fastest: the distributed lock first (so only one
// request per seat reaches PostgreSQL), then SELECT … FOR UPDATE inside the transaction (so the
// database stays correct even if a lease expires). Built from the two, not a copy of them.
export const redlockPessimistic = {
  name: 'redlock-pessimistic',
  description: 'redlock first, then SELECT … FOR UPDATE inside the transaction',
  safe: true,
  requires: { redis: true },
  ceiling: lockThenRowCeiling(true),
  options: [...lockOptions, lockTimeoutOption],
  sessionSettings: (o) => ({ lock_timeout: `${o.lockTimeoutMs ?? lockTimeoutOption.default}ms` }),
  create(deps, options) {
    const locker = new SeatLocker(deps.redis, options);
    const inner = createPessimistic(deps, 'wait');
    const locked = async <T>(resource: string, kind: 'seat' | 'inventory', fn: () => Promise<T>, busy: T): Promise<T> =>
      (await locker.with(resource, kind, fn)) ?? busy;
    return {
      hold: (cmd) => locked(seatResource(cmd.scheduleId, cmd.seatNo), 'seat', () => inner.hold(cmd), { kind: 'busy', reason: 'the seat lock is held by another request' }),
      holdTicket: (cmd) => locked(inventoryResource(cmd.scheduleId), 'inventory', () => inner.holdTicket(cmd), { kind: 'busy', reason: 'the inventory lock is held by another request' }),
      counters: () => {
        const db = inner.counters();
        return { ...locker.counters, ...db, lockFailures: locker.counters.lockFailures + (db.lockFailures ?? 0) };
      },
      // The user's balance lock is held around the whole payment transaction; FOR UPDATE inside.
      aroundSpend: (userId, fn) => locker.with(balanceResource(userId), 'balance', fn),
      debit: (trx, cmd) => inner.debit(trx, cmd),
      close: () => inner.close(),
    };
  },
} satisfies SeatLockStrategy;
