import type { Lock } from 'redlock';
import type { Knex } from 'knex';
import { fenceAndSelectInventory, fenceAndSelectSeat, selectInventory, selectSeat} from '../src/db/sql/seats.js';
import type { DebitOutcome, HoldCommand, HoldOutcome, SeatLockStrategy, SpendCommand, StrategyDeps, StrategyRuntime, TicketCommand } from '../src/core/ports.js';
import { held, sleep, soldOut, writeDebit, writeHold, writeTicket } from './lib/shared.js';
import { fenceAndSelectBalance, selectBalance} from '../src/db/sql/balance.js';
import { SeatLocker, balanceResource, fencingOption, inventoryResource, lockOptions, seatResource, workUnderLockOption } from './lib/redis-lock.js';

/** A claim in progress: the lock is held and a fencing token taken; `write` and `release` finish it. */
export interface SeatClaim {
  lock: Lock;
  token: number;
  write(): Promise<HoldOutcome>;
  release(): Promise<void>;
}

/** The same for one general-admission ticket (the lock is the schedule's inventory lock). */
export type TicketClaim = SeatClaim;

/** A debit in progress inside the caller's payment transaction (the balance lock is `aroundSpend`'s). */
export interface DebitClaim {
  token: number;
  write(): Promise<DebitOutcome>;
}

export interface RedlockRuntime extends StrategyRuntime {
  /** The steps of `hold` one by one (the fencing tests pause a holder between them). */
  claimSeat(cmd: HoldCommand): Promise<SeatClaim | HoldOutcome>;
  /** The steps of `holdTicket` one by one. */
  claimTicket(cmd: TicketCommand): Promise<TicketClaim | HoldOutcome>;
  /** The steps of `debit` one by one: read and token now, the write later in the same transaction. */
  claimDebit(trx: Knex.Transaction, cmd: SpendCommand): Promise<DebitClaim | DebitOutcome>;
}

/**
 * A Redis distributed lock around the database write. After acquiring, the holder takes a
 * strictly increasing token from the database (a sequence; an AUTO_INCREMENT on MySQL) (in the same round trip as reading the
 * row); with fencing on, the write only lands if the row's stored fence is lower than the token,
 * so a holder whose lease expired cannot overwrite a newer holder. The fence alone does not stop
 * the stale holder writing FIRST (both read the same state; the newer token still passes after
 * it), so fenced writes are also conditional on what was read: seat still AVAILABLE, remaining > 0,
 * balance >= amount (issue 8). With fencing off the lock alone is trusted: the control variant.
 */
export function createRedlock({ db, redis, observe }: StrategyDeps, options: Record<string, string>): RedlockRuntime {
  const locker = new SeatLocker(redis, options, observe);
  const fencing = options.fencing !== 'off';
  const workMs = Number(options.workUnderLockMs ?? 0);
  const counters = { fenceRejections: 0, changedUnderLock: 0, takenUnderLock: 0, soldOutUnderLock: 0 };

  // A fenced write was refused. A stored fence at or above our token: a newer holder wrote (our lease
  // lapsed). Below it: a holder whose lease lapsed wrote between our read and our write.
  function staleToken(fence: number | undefined, token: number): boolean {
    if (fence !== undefined && fence >= token) {
      counters.fenceRejections++;
      return true;
    }
    counters.changedUnderLock++;
    return false;
  }

  // Lock, then read the row with a fresh token: `readAndCheck` answers at once (the lock is then
  // released) or returns the write to run while the lock is held.
  async function claim(resource: string, kind: 'seat' | 'inventory', busy: string,
    readAndCheck: () => Promise<HoldOutcome | { token: number; write(): Promise<HoldOutcome> }>): Promise<SeatClaim | HoldOutcome> {
    const lock = await locker.acquire(resource, kind);
    if (!lock) return { kind: 'busy', reason: busy };
    const release = () => locker.release(lock);
    try {
      const step = await readAndCheck();
      if ('kind' in step) {
        await release();
        return step;
      }
      return { lock, token: step.token, write: () => step.write(), release };
    } catch (err) {
      await release();
      throw err;
    }
  }

  async function finish(c: SeatClaim | HoldOutcome): Promise<HoldOutcome> {
    if ('kind' in c) return c;
    try {
      if (workMs > 0) await sleep(workMs);
      return await c.write();
    } finally {
      await c.release();
    }
  }

  const claimSeat = (cmd: HoldCommand) => claim(seatResource(cmd.scheduleId, cmd.seatNo), 'seat', 'the seat lock is held by another request', async () => {
    const { token, row } = await fenceAndSelectSeat(db, cmd.scheduleId, cmd.seatNo);
    if (!row) return { kind: 'not-found' };
    if (row.status !== 'AVAILABLE') {
      counters.takenUnderLock++;
      return { kind: 'taken', reason: `seat is ${row.status}` };
    }
    const write = async (): Promise<HoldOutcome> => {
      const h = await writeHold(db, row.id, cmd, fencing ? { fenceToken: token, expectAvailable: true } : {});
      if (h) return held(h);
      const now = await selectSeat(db, cmd.scheduleId, cmd.seatNo, 'current');
      if (staleToken(now?.fence, token)) return { kind: 'taken', reason: `fencing token ${token} is stale: a newer lock holder wrote this seat` };
      return { kind: 'taken', reason: `seat is ${now?.status}: a holder whose lock lease lapsed took it after it was read` };
    };
    return { token, write };
  });

  const claimTicket = (cmd: TicketCommand) => claim(inventoryResource(cmd.scheduleId), 'inventory', 'the inventory lock is held by another request', async () => {
    const { token, row } = await fenceAndSelectInventory(db, cmd.scheduleId);
    if (!row) return { kind: 'not-found' };
    if (row.remaining <= 0) {
      counters.soldOutUnderLock++;
      return soldOut(row.total);
    }
    const write = async (): Promise<HoldOutcome> => {
      const h = await writeTicket(db, cmd, fencing ? { mode: 'decrement', fenceToken: token } : { mode: { setFrom: row.remaining } });
      if (h) return held(h);
      const now = await selectInventory(db, cmd.scheduleId, 'current');
      if (staleToken(now?.fence, token)) return { kind: 'busy', reason: 'fencing token is stale: a newer lock holder wrote the inventory' };
      return soldOut(row.total);
    };
    return { token, write };
  });

  async function claimDebit(trx: Knex.Transaction, cmd: SpendCommand): Promise<DebitClaim | DebitOutcome> {
    const { token, row } = await fenceAndSelectBalance(trx, cmd.userId);
    if (!row) return { kind: 'not-found' };
    if (row.balance < cmd.amount) return { kind: 'insufficient' };
    const write = async (): Promise<DebitOutcome> => {
      const d = await writeDebit(trx, cmd, fencing ? { mode: 'conditional', fenceToken: token } : { mode: { setFrom: row.balance } });
      if (d) return d;
      const now = await selectBalance(trx, cmd.userId, 'current');
      if (staleToken(now?.fence, token)) return { kind: 'busy', reason: 'fencing token is stale: a newer lock holder wrote this balance' };
      return { kind: 'insufficient' };
    };
    return { token, write };
  }

  return {
    claimSeat,
    claimTicket,
    claimDebit,
    hold: async (cmd) => finish(await claimSeat(cmd)),
    holdTicket: async (cmd) => finish(await claimTicket(cmd)),
    // The balance lock is held around the whole payment transaction (it must outlive the commit);
    // inside, the debit is fenced like a seat write.
    aroundSpend: (userId, fn) => locker.with(balanceResource(userId), 'balance', fn),
    async debit(trx, cmd) {
      const c = await claimDebit(trx, cmd);
      if ('kind' in c) return c;
      if (workMs > 0) await sleep(workMs);
      return c.write();
    },
    counters: () => ({ ...locker.counters, ...counters }),
    close: async () => {},
  };
}

export const redlock = {
  name: 'redlock',
  description: 'Redis distributed lock (redlock, 1 or N nodes) around the write, fencing token checked by the database',
  safe: true,
  unsafeWith: (o) => (o.fencing === 'off'
    ? 'fencing off: the lock alone guards a read-then-write, so a holder whose lease lapsed still writes (the control variant that shows why fencing matters)'
    : null),
  requires: { redis: true },
  options: [...lockOptions, fencingOption, workUnderLockOption],
  create: createRedlock,
} satisfies SeatLockStrategy;
