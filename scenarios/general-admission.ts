import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { shuffle } from '../src/core/rng.js';
import type { Scenario, ScenarioParams, Workload } from './types.js';
import type { Rng } from '../src/core/rng.js';
import { checkTickets } from '../src/check/tickets.js';

// Unnumbered tickets: every request wants "one ticket" of the same inventory row (or counter).
// A user whose request is refused as busy (a lock it did not get) tries again, up to 3 times;
// sold out ends the user's journey.
const ATTEMPTS_PER_USER = 3;

/** The asks, from the seeded RNG; prepare() and the black-box mode both use it. */
function workload(p: ScenarioParams, rng: Rng): Workload {
  return { op: 'hold-ticket', users: shuffle(Array.from({ length: p.users }, (_, i) => i), rng).map((user) => ({ user, seats: Array.from({ length: ATTEMPTS_PER_USER }, () => null) })) };
}

export const generalAdmission = {
  name: 'general-admission',
  description: 'N users want one unnumbered ticket each from an inventory of M',
  kind: 'tickets',
  defaults: { users: 10_000, seats: 1_000, connections: 64 },
  expectation: 'tickets sold ≤ inventory, remaining + sold = inventory, and exactly the inventory sold when demand exceeds supply',
  validate: () => [],
  workload,
  async prepare(db, p, { secret, rng }) {
    const schedule = await seedSchedule(db, { seats: p.seats });
    const seeded = await seedUsers(db, { count: p.users, secret });
    const users = workload(p, rng).users.map((w) => seeded[w.user]!);
    const body = JSON.stringify({ scheduleId: schedule.scheduleId });
    const attempt = { method: 'POST' as const, path: '/api/reservations/general', body, meta: { op: 'hold-ticket' as const, scheduleId: schedule.scheduleId, seatNo: null } };
    return {
      scheduleId: schedule.scheduleId,
      seatCount: schedule.seatCount,
      plan: { journeys: users.map((u) => ({ token: u.token, userId: u.id, attempts: Array.from({ length: ATTEMPTS_PER_USER }, () => attempt) })) },
    };
  },
  check: (c) => checkTickets(c.db, { ...c, demandExceedsSupply: c.params.users > c.seatCount }),
  expect(result, p, _prepared, check) {
    const returned = check.returnedToSale ?? 0;
    if (result.outcomes.ok <= p.seats + returned) return [];
    return [{ kind: 'more-tickets-than-inventory', detail: `${result.outcomes.ok} successful ticket holds for an inventory of ${p.seats}${returned ? ` and ${returned} expired or cancelled holds` : ''}` }];
  },
} satisfies Scenario;
