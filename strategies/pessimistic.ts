import { performance } from 'node:perf_hooks';
import type { Knex } from 'knex';
import { selectInventory, selectSeat} from '../src/db/sql/seats.js';
import { dbErrorKind } from '../src/db/errors.js';
import { selectBalance} from '../src/db/sql/balance.js';
import { intOption } from '../src/core/options.js';
import type { HoldOutcome, SeatLockStrategy, StrategyRuntime, StrategyDeps } from '../src/core/ports.js';
import { held, soldOut, waitedFor, writeDebit, writeHold, writeTicket } from './lib/shared.js';

export type PessimisticMode = 'wait' | 'nowait';

/**
 * SELECT … FOR UPDATE on the contended row (the seat, or the schedule's inventory row) inside a
 * transaction, then the write. In `wait` mode a contender queues on the row lock (bounded by
 * lock_timeout); in `nowait` mode it is turned away at once. Exported so variants and combinations
 * are registry entries built from this one.
 */
export function createPessimistic({ db, observe }: Pick<StrategyDeps, 'db' | 'observe'>, mode: PessimisticMode): StrategyRuntime {
  const counters = { transactions: 0, lockAcquireMsTotal: 0, lockFailures: 0, takenAfterLock: 0, soldOutAfterLock: 0 };
  const lock = mode === 'nowait' ? 'for-update-nowait' : 'for-update';

  async function locked(body: (trx: Knex.Transaction) => Promise<HoldOutcome>): Promise<HoldOutcome> {
    counters.transactions++;
    try {
      return await db.transaction(body);
    } catch (err) {
      // NOWAIT, or lock_timeout passed: somebody else is claiming this row right now.
      if (dbErrorKind(err) === 'lock-not-available') {
        counters.lockFailures++;
        return { kind: 'busy', reason: mode === 'nowait' ? 'row is locked (NOWAIT)' : 'lock_timeout passed' };
      }
      throw err;
    }
  }

  return {
    hold: (cmd) => locked(async (trx) => {
      const t0 = performance.now();
      const seat = await waitedFor(observe, () => selectSeat(trx, cmd.scheduleId, cmd.seatNo, lock));
      // Time inside SELECT … FOR UPDATE: the row-lock wait plus any queueing in PostgreSQL.
      counters.lockAcquireMsTotal += performance.now() - t0;
      if (!seat) return { kind: 'not-found' };
      if (seat.status !== 'AVAILABLE') {
        counters.takenAfterLock++;
        return { kind: 'taken', reason: `seat is ${seat.status}` };
      }
      const h = await writeHold(trx, seat.id, cmd);
      return h ? held(h) : { kind: 'not-found' };
    }),
    holdTicket: (cmd) => locked(async (trx) => {
      const t0 = performance.now();
      const inv = await waitedFor(observe, () => selectInventory(trx, cmd.scheduleId, lock));
      counters.lockAcquireMsTotal += performance.now() - t0;
      if (!inv) return { kind: 'not-found' };
      if (inv.remaining <= 0) {
        counters.soldOutAfterLock++;
        return soldOut(inv.total);
      }
      const h = await writeTicket(trx, cmd, { mode: { setFrom: inv.remaining } });
      return h ? held(h) : { kind: 'not-found' };
    }),
    // Inside the payment transaction: a lock that is not available aborts it, and the payment
    // core answers busy (NOWAIT) after the rollback.
    async debit(trx, cmd) {
      const u = await waitedFor(observe, () => selectBalance(trx, cmd.userId, mode === 'nowait' ? 'for-no-key-update-nowait' : 'for-no-key-update'));
      if (!u) return { kind: 'not-found' };
      if (u.balance < cmd.amount) return { kind: 'insufficient' };
      return (await writeDebit(trx, cmd, { mode: { setFrom: u.balance } })) ?? { kind: 'not-found' };
    },
    counters: () => ({ ...counters, lockAcquireMsTotal: Math.round(counters.lockAcquireMsTotal) }),
    close: async () => {},
  };
}

export const lockTimeoutOption = intOption('lockTimeoutMs', 'lock_timeout for every statement (0 = wait forever)', 5000, 0, 600_000);

export const pessimistic = {
  name: 'pessimistic',
  description: 'SELECT … FOR UPDATE on the seat (or inventory) row; contenders wait for the lock',
  safe: true,
  requires: { redis: false },
  options: [lockTimeoutOption],
  sessionSettings: (o) => ({ lock_timeout: `${o.lockTimeoutMs ?? lockTimeoutOption.default}ms` }),
  create: (deps) => createPessimistic(deps, 'wait'),
} satisfies SeatLockStrategy;
