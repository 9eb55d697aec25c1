import { selectSeat, type SeatRow } from '../src/db/sql/seats.js';
import { intOption } from '../src/core/options.js';
import type { SeatLockStrategy } from '../src/core/ports.js';
import { run, sleep, writeHold } from './shared.js';

// Read the seat's version without a lock, then write with `WHERE version = $v`. Zero rows means
// somebody changed the seat in between: back off (full jitter) and re-read, a bounded number of
// times. The re-read usually shows the seat taken, which ends the attempt.
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
  create({ db }, options) {
    const maxRetries = Number(options.maxRetries);
    const base = Number(options.backoffBaseMs);
    const cap = Number(options.backoffMaxMs);
    const counters = { attempts: 0, retries: 0, versionConflicts: 0, retriesExhausted: 0, takenOnRead: 0 };
    return {
      async hold(cmd) {
        for (let attempt = 0; ; attempt++) {
          counters.attempts++;
          const [seat] = await run<SeatRow>(db, selectSeat(cmd.scheduleId, cmd.seatNo));
          if (!seat) return { kind: 'not-found' };
          if (seat.status !== 'AVAILABLE') {
            counters.takenOnRead++;
            return { kind: 'taken', reason: `seat is ${seat.status}` };
          }
          const held = await writeHold(db, seat.id, cmd, seat.version);
          if (held) return { kind: 'held', reservation: held };
          counters.versionConflicts++;
          if (attempt >= maxRetries) {
            counters.retriesExhausted++;
            return { kind: 'busy', reason: `version changed ${attempt + 1} times; gave up` };
          }
          counters.retries++;
          await sleep(Math.random() * Math.min(cap, base * 2 ** attempt));
        }
      },
      counters: () => ({ ...counters }),
      close: async () => {},
    };
  },
} satisfies SeatLockStrategy;
