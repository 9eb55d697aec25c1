import { insertHeldReservations } from '../src/db/sql/catalog.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { shuffle } from '../src/core/rng.js';
import type { Scenario } from './types.js';
import { checkBalance } from '../src/check/balance.js';

// One user, one balance, many payments at once: the balance is the contended resource. The user
// holds `--users` one-point seats (seeded as held reservations) and pays for all of them at the
// same moment with `--seats` points. A payment answered "busy" is retried with the same key.
const RETRIES_PER_PAYMENT = 30;

export const balanceSpend = {
  name: 'balance-spend',
  kind: 'balance',
  description: '--users concurrent 1-point payments on a balance of --seats points',
  defaults: { users: 70, seats: 50, connections: 70 },
  expectation: 'exactly min(payments, balance) payments succeed, the balance ends at balance − successes, and equals its ledger',
  validate: () => [],
  async prepare(db, p, { secret, rng }) {
    const schedule = await seedSchedule(db, { seats: p.users, price: 1 });
    const [user] = await seedUsers(db, { count: 1, secret, balance: p.seats, prefix: 'spender-' });
    await db('balance_ledger').insert({ user_id: user!.id, kind: 'CHARGE', amount: p.seats, ref: 'seed' });
    const reservations = await insertHeldReservations(db, { userId: user!.id, scheduleId: schedule.scheduleId, count: p.users, amount: 1 });
    const ids = shuffle(reservations, rng);
    return {
      scheduleId: schedule.scheduleId,
      seatCount: p.seats,
      plan: {
        journeys: ids.map((id) => {
          const attempt = { method: 'POST' as const, path: '/api/payments', body: JSON.stringify({ reservationId: id }), headers: { 'idempotency-key': `spend-${id}` }, meta: { op: 'pay' as const, reservationId: id } };
          return { token: user!.token, userId: user!.id, attempts: Array.from({ length: RETRIES_PER_PAYMENT }, () => attempt) };
        }),
      },
    };
  },
  check: (c) => checkBalance(c.db, c),
  expect(result, p) {
    const want = Math.min(p.users, p.seats);
    if (result.outcomes.ok === want || result.outcomes.timeout > 0) return [];
    return [{ kind: 'wrong-number-of-payments', detail: `expected exactly ${want} successful payments, got ${result.outcomes.ok}` }];
  },
} satisfies Scenario;
