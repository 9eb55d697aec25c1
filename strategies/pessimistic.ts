import { performance } from 'node:perf_hooks';
import { selectSeat, type SeatRow } from '../src/db/sql/seats.js';
import { dbErrorKind } from '../src/db/errors.js';
import { intOption } from '../src/core/options.js';
import type { SeatLockStrategy, StrategyRuntime, StrategyDeps } from '../src/core/ports.js';
import { run, writeHold } from './shared.js';

export type PessimisticMode = 'wait' | 'nowait';

/**
 * SELECT … FOR UPDATE on the seat row inside a transaction, then the hold write. In `wait` mode
 * a contended request queues on the row lock (bounded by lock_timeout); in `nowait` mode it is
 * turned away at once. Exported so variants are registry entries built from this one.
 */
export function createPessimistic({ db }: StrategyDeps, mode: PessimisticMode): StrategyRuntime {
  const counters = { transactions: 0, lockAcquireMsTotal: 0, lockNotAvailable: 0, takenAfterLock: 0 };
  const lock = mode === 'nowait' ? 'for-update-nowait' : 'for-update';
  return {
    async hold(cmd) {
      counters.transactions++;
      try {
        return await db.transaction(async (trx) => {
          const t0 = performance.now();
          const [seat] = await run<SeatRow>(trx, selectSeat(cmd.scheduleId, cmd.seatNo, lock));
          // Time inside SELECT … FOR UPDATE: the row-lock wait plus any queueing in PostgreSQL.
      counters.lockAcquireMsTotal += performance.now() - t0;
          if (!seat) return { kind: 'not-found' } as const;
          if (seat.status !== 'AVAILABLE') {
            counters.takenAfterLock++;
            return { kind: 'taken', reason: `seat is ${seat.status}` } as const;
          }
          const held = await writeHold(trx, seat.id, cmd);
          return held ? ({ kind: 'held', reservation: held } as const) : ({ kind: 'not-found' } as const);
        });
      } catch (err) {
        // NOWAIT, or lock_timeout passed: somebody else is claiming this seat right now.
        if (dbErrorKind(err) === 'lock-not-available') {
          counters.lockNotAvailable++;
          return { kind: 'busy', reason: mode === 'nowait' ? 'seat row is locked (NOWAIT)' : 'lock_timeout passed' };
        }
        throw err;
      }
    },
    counters: () => ({ ...counters, lockAcquireMsTotal: Math.round(counters.lockAcquireMsTotal) }),
    close: async () => {},
  };
}

export const lockTimeoutOption = intOption('lockTimeoutMs', 'lock_timeout for every statement (0 = wait forever)', 5000, 0, 600_000);

export const pessimistic = {
  name: 'pessimistic',
  description: 'SELECT … FOR UPDATE on the seat row; contenders wait for the lock',
  safe: true,
  requires: { redis: false },
  options: [lockTimeoutOption],
  sessionSettings: (o) => ({ lock_timeout: `${o.lockTimeoutMs ?? lockTimeoutOption.default}ms` }),
  create: (deps) => createPessimistic(deps, 'wait'),
} satisfies SeatLockStrategy;
