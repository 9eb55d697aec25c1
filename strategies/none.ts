import { selectInventory, selectSeat} from '../src/db/sql/seats.js';
import { selectBalance} from '../src/db/sql/balance.js';
import { intOption } from '../src/core/options.js';
import type { SeatLockStrategy } from '../src/core/ports.js';
import { held, sleep, soldOut, waitedFor, writeDebit, writeHold, writeTicket } from './lib/shared.js';

// The control group: read, check, write, with nothing in between to stop a second writer.
// Under contention two requests can both read AVAILABLE (or the same `remaining`) and both write:
// that is the oversell the lab must be able to show. `raceWindowMs` (this strategy only) sleeps
// between the read and the write so the race shows reliably in tests; it defaults to 0.
export const none = {
  name: 'none',
  description: 'no lock: read, check, write (control group, expected to oversell)',
  safe: false,
  requires: { redis: false },
  options: [intOption('raceWindowMs', 'sleep between the read and the write, to widen the race (tests)', 0, 0, 10_000)],
  create({ db, observe }, options) {
    const raceWindowMs = Number(options.raceWindowMs ?? 0);
    const counters = { reads: 0, writes: 0, takenOnRead: 0, soldOutOnRead: 0 };
    return {
      async hold(cmd) {
        counters.reads++;
        const seat = await selectSeat(db, cmd.scheduleId, cmd.seatNo);
        if (!seat) return { kind: 'not-found' };
        if (seat.status !== 'AVAILABLE') {
          counters.takenOnRead++;
          return { kind: 'taken', reason: `seat is ${seat.status}` };
        }
        if (raceWindowMs > 0) await sleep(raceWindowMs);
        counters.writes++;
        // No lock of ours, but the UPDATE still queues behind a concurrent writer's row lock.
        const h = await waitedFor(observe, () => writeHold(db, seat.id, cmd));
        return h ? held(h) : { kind: 'not-found' };
      },
      async holdTicket(cmd) {
        counters.reads++;
        const inv = await selectInventory(db, cmd.scheduleId);
        if (!inv) return { kind: 'not-found' };
        if (inv.remaining <= 0) {
          counters.soldOutOnRead++;
          return soldOut(inv.total);
        }
        if (raceWindowMs > 0) await sleep(raceWindowMs);
        counters.writes++;
        // Writes back what it read minus one: concurrent writers lose each other's updates.
        const h = await waitedFor(observe, () => writeTicket(db, cmd, { mode: { setFrom: inv.remaining } }));
        return h ? held(h) : { kind: 'not-found' };
      },
      async debit(trx, cmd) {
        counters.reads++;
        const u = await selectBalance(trx, cmd.userId);
        if (!u) return { kind: 'not-found' };
        if (u.balance < cmd.amount) return { kind: 'insufficient' };
        if (raceWindowMs > 0) await sleep(raceWindowMs);
        counters.writes++;
        // Writes back what it read minus the amount: concurrent spends lose each other's debits.
        return (await waitedFor(observe, () => writeDebit(trx, cmd, { mode: { setFrom: u.balance } }))) ?? { kind: 'not-found' };
      },
      counters: () => ({ ...counters }),
      close: async () => {},
    };
  },
} satisfies SeatLockStrategy;
