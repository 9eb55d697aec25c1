import type { Lock } from 'redlock';
import { fenceAndSelectInventory, fenceAndSelectSeat, type InventoryRow, type SeatRow } from '../src/db/sql/seats.js';
import type { HoldCommand, HoldOutcome, SeatLockStrategy, StrategyDeps, StrategyRuntime, TicketCommand } from '../src/core/ports.js';
import { held, run, soldOut, writeDebit, writeHold, writeTicket } from './lib/shared.js';
import { fenceAndSelectBalance, type BalanceRow } from '../src/db/sql/balance.js';
import { SeatLocker, balanceResource, fencingOption, inventoryResource, lockOptions, seatResource } from './lib/redis-lock.js';
import { lockThenRowCeiling } from './lib/ceilings.js';

/** A claim in progress: the lock is held and a fencing token taken; `write` and `release` finish it. */
export interface SeatClaim {
  lock: Lock;
  token: number;
  write(): Promise<HoldOutcome>;
  release(): Promise<void>;
}

export interface RedlockRuntime extends StrategyRuntime {
  /** The steps of `hold` one by one (the fencing test pauses a holder between them). */
  claimSeat(cmd: HoldCommand): Promise<SeatClaim | HoldOutcome>;
}

/**
 * A Redis distributed lock around the database write. After acquiring, the holder takes a
 * strictly increasing token from a PostgreSQL sequence (in the same round trip as reading the
 * row); with fencing on, the write only lands if the row's stored fence is lower than the token,
 * so a holder whose lease expired cannot overwrite a newer holder.
 */
export function createRedlock({ db, redis }: StrategyDeps, options: Record<string, string>): RedlockRuntime {
  const locker = new SeatLocker(redis, options);
  const fencing = options.fencing !== 'off';
  const counters = { fenceRejections: 0, takenUnderLock: 0, soldOutUnderLock: 0 };

  async function claimSeat(cmd: HoldCommand): Promise<SeatClaim | HoldOutcome> {
    const lock = await locker.acquire(seatResource(cmd.scheduleId, cmd.seatNo), 'seat');
    if (!lock) return { kind: 'busy', reason: 'the seat lock is held by another request' };
    const release = () => locker.release(lock);
    try {
      const [row] = await run<SeatRow & { token: number }>(db, fenceAndSelectSeat(cmd.scheduleId, cmd.seatNo));
      const token = row!.token;
      if (row!.id === null) return release().then(() => ({ kind: 'not-found' }) as const);
      if (row!.status !== 'AVAILABLE') {
        counters.takenUnderLock++;
        return release().then(() => ({ kind: 'taken', reason: `seat is ${row!.status}` }) as const);
      }
      const write = async (): Promise<HoldOutcome> => {
        const h = await writeHold(db, row!.id, cmd, fencing ? { fenceToken: token } : {});
        if (h) return held(h);
        counters.fenceRejections++;
        return { kind: 'taken', reason: `fencing token ${token} is stale: a newer lock holder wrote this seat` };
      };
      return { lock, token, write, release };
    } catch (err) {
      await release();
      throw err;
    }
  }

  return {
    claimSeat,
    async hold(cmd) {
      const claim = await claimSeat(cmd);
      if ('kind' in claim) return claim;
      try {
        return await claim.write();
      } finally {
        await claim.release();
      }
    },
    async holdTicket(cmd: TicketCommand) {
      const lock = await locker.acquire(inventoryResource(cmd.scheduleId), 'inventory');
      if (!lock) return { kind: 'busy', reason: 'the inventory lock is held by another request' };
      try {
        const [row] = await run<InventoryRow & { token: number }>(db, fenceAndSelectInventory(cmd.scheduleId));
        if (row!.total === null) return { kind: 'not-found' };
        if (row!.remaining <= 0) {
          counters.soldOutUnderLock++;
          return soldOut(row!.total);
        }
        const h = await writeTicket(db, cmd, { mode: { setFrom: row!.remaining }, ...(fencing ? { fenceToken: row!.token } : {}) });
        if (h) return held(h);
        counters.fenceRejections++;
        return { kind: 'busy', reason: 'fencing token is stale: a newer lock holder wrote the inventory' };
      } finally {
        await locker.release(lock);
      }
    },
    // The balance lock is held around the whole payment transaction (it must outlive the commit);
    // inside, the debit is fenced like a seat write.
    aroundSpend: (userId, fn) => locker.with(balanceResource(userId), 'balance', fn),
    async debit(trx, cmd) {
      const [row] = await run<BalanceRow & { token: number }>(trx, fenceAndSelectBalance(cmd.userId));
      if (row!.balance === null) return { kind: 'not-found' };
      if (row!.balance < cmd.amount) return { kind: 'insufficient' };
      const d = await writeDebit(trx, cmd, { mode: { setFrom: row!.balance }, ...(fencing ? { fenceToken: row!.token } : {}) });
      if (d) return d;
      counters.fenceRejections++;
      return { kind: 'busy', reason: 'fencing token is stale: a newer lock holder wrote this balance' };
    },
    counters: () => ({ ...locker.counters, ...counters }),
    close: async () => {},
  };
}

export const redlock = {
  name: 'redlock',
  description: 'Redis distributed lock (redlock, 1 or N nodes) around the write, fencing token checked by the database',
  safe: true,
  requires: { redis: true },
  ceiling: lockThenRowCeiling(false),
  options: [...lockOptions, fencingOption],
  create: createRedlock,
} satisfies SeatLockStrategy;
