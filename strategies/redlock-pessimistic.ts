import type { SeatLockStrategy } from '../src/core/ports.js';
import { intOption } from '../src/core/options.js';
import { createPessimistic, lockTimeoutOption } from './pessimistic.js';
import { SeatLocker, balanceResource, inventoryResource, lockOptions, seatResource } from './lib/redis-lock.js';
import { sleep } from './lib/shared.js';

// The combination one published comparison found fastest: the distributed lock first (so only one
// request per seat reaches PostgreSQL), then SELECT … FOR UPDATE inside the transaction (so the
// database stays correct even if a lease expires). Built from the two, not a copy of them.
// No fencing option and no unsafeWith: FOR UPDATE re-reads under a row lock whatever the lease does.
// `workUnderLockMs` sleeps under the distributed lock before the transaction: the FOR UPDATE read
// and the write live inside `pessimistic`, which has no pause between them.
const workUnderLockOption = intOption('workUnderLockMs', 'simulated work under the distributed lock, before the FOR UPDATE read and the write; 0 = none', 0, 0, 600_000);
export const redlockPessimistic = {
  name: 'redlock-pessimistic',
  description: 'redlock first, then SELECT … FOR UPDATE inside the transaction',
  safe: true,
  requires: { redis: true },
  options: [...lockOptions, lockTimeoutOption, workUnderLockOption],
  sessionSettings: (o) => ({ lock_timeout: `${o.lockTimeoutMs ?? lockTimeoutOption.default}ms` }),
  create(deps, options) {
    // Both waits are reported: the distributed lock's acquire, then the FOR UPDATE inside.
    const locker = new SeatLocker(deps.redis, options, deps.observe);
    const inner = createPessimistic(deps, 'wait');
    const workMs = Number(options.workUnderLockMs ?? 0);
    const working = async <T>(fn: () => Promise<T>): Promise<T> => {
      if (workMs > 0) await sleep(workMs);
      return fn();
    };
    const locked = async <T>(resource: string, kind: 'seat' | 'inventory', fn: () => Promise<T>, busy: T): Promise<T> =>
      (await locker.with(resource, kind, () => working(fn))) ?? busy;
    return {
      hold: (cmd) => locked(seatResource(cmd.scheduleId, cmd.seatNo), 'seat', () => inner.hold(cmd), { kind: 'busy', reason: 'the seat lock is held by another request' }),
      holdTicket: (cmd) => locked(inventoryResource(cmd.scheduleId), 'inventory', () => inner.holdTicket(cmd), { kind: 'busy', reason: 'the inventory lock is held by another request' }),
      counters: () => {
        const db = inner.counters();
        return { ...locker.counters, ...db, lockFailures: locker.counters.lockFailures + (db.lockFailures ?? 0) };
      },
      // The user's balance lock is held around the whole payment transaction; FOR UPDATE inside.
      aroundSpend: (userId, fn) => locker.with(balanceResource(userId), 'balance', () => working(fn)),
      debit: (trx, cmd) => inner.debit(trx, cmd),
      close: () => inner.close(),
    };
  },
} satisfies SeatLockStrategy;
