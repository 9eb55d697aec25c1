import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { shuffle } from '../src/core/rng.js';
import type { Scenario, ScenarioParams, Workload } from './types.js';
import type { Rng } from '../src/core/rng.js';
import { checkSeats } from '../src/check/seats.js';

/** The asks, from the seeded RNG; prepare() and the black-box mode both use it. */
function workload(p: ScenarioParams, rng: Rng): Workload {
  return { op: 'hold', users: shuffle(Array.from({ length: p.users }, (_, i) => i), rng).map((user) => ({ user, seats: [1] })) };
}

// Everybody wants seat 1 at the same moment. Exactly one may get it.
export const hotSeat = {
  name: 'hot-seat',
  kind: 'seats',
  description: 'N users try to hold the same seat at once',
  defaults: { users: 100, seats: 1, connections: 100 },
  expectation: 'exactly 1 successful hold of seat 1 (one more for each hold that expired and put it back on sale)',
  validate: () => [],
  workload,
  async prepare(db, p, { secret, rng }) {
    const schedule = await seedSchedule(db, { seats: p.seats });
    const seeded = await seedUsers(db, { count: p.users, secret });
    const users = workload(p, rng).users.map((w) => seeded[w.user]!);
    const body = JSON.stringify({ scheduleId: schedule.scheduleId, seatNo: 1 });
    return {
      scheduleId: schedule.scheduleId,
      seatCount: schedule.seatCount,
      plan: { journeys: users.map((u) => ({ token: u.token, userId: u.id, attempts: [{ method: 'POST', path: '/api/reservations', body, meta: { op: 'hold', scheduleId: schedule.scheduleId, seatNo: 1 } }] })) },
    };
  },
  check: (c) => checkSeats(c.db, c),
  expect(result, _p, _prepared, check) {
    // One winner at a time: a hold that expired (or was cancelled) lets exactly one more win the seat after it.
    const returned = check.returnedToSale ?? 0;
    if (result.outcomes.ok >= 1 && result.outcomes.ok <= 1 + returned) return [];
    if (result.outcomes.ok === 0 && result.outcomes.timeout > 0) return [];
    return [{ kind: 'hot-seat-winners', detail: `expected exactly 1 successful hold of seat 1${returned ? ` (at most ${1 + returned}: ${returned} holds expired or were cancelled)` : ''}, got ${result.outcomes.ok}` }];
  },
} satisfies Scenario;
