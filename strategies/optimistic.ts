import { selectInventory, selectSeat} from '../src/db/sql/seats.js';
import { selectBalance} from '../src/db/sql/balance.js';
import { intOption } from '../src/core/options.js';
import { dialectOf } from '../src/db/dialect.js';
import type { DebitOutcome, HeldReservation, HoldOutcome, SeatLockStrategy } from '../src/core/ports.js';
import { held, sleep, soldOut, waitedFor, writeDebit, writeHold, writeTicket } from './lib/shared.js';

// Read the row's version without a lock, then write with `WHERE version = $v`. Zero rows means
// somebody changed the row in between: back off (full jitter) and re-read, a bounded number of
// times. For a seat the re-read usually shows it taken; for the one inventory row of a general
// admission sale every writer contends, which is where this strategy pays.
export const optimistic = {
  name: 'optimistic',
  description: 'version column: UPDATE … WHERE version = $v, bounded jittered retries',
  safe: true,
  requires: { redis: false },
  options: [
    intOption('maxRetries', 'retries after a version conflict before giving up', 3, 0, 100),
    intOption('backoffBaseMs', 'base of the exponential backoff', 2, 0, 10_000),
    intOption('backoffMaxMs', 'cap of the backoff', 50, 0, 60_000),
  ],
  create({ db, observe }, options) {
    const maxRetries = Number(options.maxRetries);
    const base = Number(options.backoffBaseMs);
    const cap = Number(options.backoffMaxMs);
    const counters = { attempts: 0, retries: 0, versionConflicts: 0, lockFailures: 0, takenOnRead: 0, soldOutOnRead: 0 };

    /** One read → guarded write attempt: an outcome, or null when the version moved. */
    async function withRetries<T extends HoldOutcome | DebitOutcome>(attempt: () => Promise<T | null>, retries = maxRetries): Promise<T | { kind: 'busy'; reason: string }> {
      for (let n = 0; ; n++) {
        counters.attempts++;
        const outcome = await attempt();
        if (outcome) return outcome;
        counters.versionConflicts++;
        if (n >= retries) {
          counters.lockFailures++;
          return { kind: 'busy', reason: `version changed ${n + 1} times; gave up` };
        }
        counters.retries++;
        await sleep(Math.random() * Math.min(cap, base * 2 ** n));
      }
    }
    const orNull = (h: HeldReservation | null) => (h ? held(h) : null);

    return {
      hold: (cmd) => withRetries(async () => {
        const seat = await selectSeat(db, cmd.scheduleId, cmd.seatNo);
        if (!seat) return { kind: 'not-found' };
        if (seat.status !== 'AVAILABLE') {
          counters.takenOnRead++;
          return { kind: 'taken', reason: `seat is ${seat.status}` };
        }
        // The version-checked UPDATE is where contenders meet: it waits for a concurrent writer's row lock.
        return orNull(await waitedFor(observe, () => writeHold(db, seat.id, cmd, { expectVersion: seat.version })));
      }),
      holdTicket: (cmd) => withRetries(async () => {
        const inv = await selectInventory(db, cmd.scheduleId);
        if (!inv) return { kind: 'not-found' };
        if (inv.remaining <= 0) {
          counters.soldOutOnRead++;
          return soldOut(inv.total);
        }
        return orNull(await waitedFor(observe, () => writeTicket(db, cmd, { mode: { setFrom: inv.remaining }, expectVersion: inv.version })));
      }),
      // Inside the payment transaction; READ COMMITTED gives every re-read a fresh snapshot.
      // The debit runs inside the payment's transaction. InnoDB at REPEATABLE READ answers every
      // read there from the transaction's first snapshot, so a retry would read the same stale
      // version forever: on MySQL a conflict is busy at once and the client's retry (a new
      // transaction, same Idempotency-Key) is the retry. PostgreSQL at READ COMMITTED re-reads.
      debit: (trx, cmd) => withRetries<DebitOutcome>(async () => {
        const u = await selectBalance(trx, cmd.userId);
        if (!u) return { kind: 'not-found' };
        if (u.balance < cmd.amount) return { kind: 'insufficient' };
        return waitedFor(observe, () => writeDebit(trx, cmd, { mode: { setFrom: u.balance }, expectVersion: u.version }));
      }, dialectOf(trx) === 'mysql' ? 0 : maxRetries),
      counters: () => ({ ...counters }),
      close: async () => {},
    };
  },
} satisfies SeatLockStrategy;
