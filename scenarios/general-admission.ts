import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { shuffle } from '../src/core/rng.js';
import type { Scenario } from './types.js';
import { checkTickets } from '../src/check/tickets.js';

// Unnumbered tickets: every request wants "one ticket" of the same inventory row (or counter).
// A user whose request is refused as busy (a lock it did not get) tries again, up to 3 times;
// sold out ends the user's journey.
const ATTEMPTS_PER_USER = 3;

export const generalAdmission = {
  name: 'general-admission',
  description: 'N users want one unnumbered ticket each from an inventory of M',
  kind: 'tickets',
  defaults: { users: 10_000, seats: 1_000, connections: 64 },
  expectation: 'tickets sold ≤ inventory, remaining + sold = inventory, and exactly the inventory sold when demand exceeds supply',
  validate: () => [],
  async prepare(db, p, { secret, rng }) {
    const schedule = await seedSchedule(db, { seats: p.seats });
    const users = shuffle(await seedUsers(db, { count: p.users, secret }), rng);
    const body = JSON.stringify({ scheduleId: schedule.scheduleId });
    const attempt = { method: 'POST' as const, path: '/api/reservations/general', body, meta: { op: 'hold-ticket' as const, scheduleId: schedule.scheduleId, seatNo: null } };
    return {
      scheduleId: schedule.scheduleId,
      seatCount: schedule.seatCount,
      plan: { journeys: users.map((u) => ({ token: u.token, userId: u.id, attempts: Array.from({ length: ATTEMPTS_PER_USER }, () => attempt) })) },
    };
  },
  check: (c) => checkTickets(c.db, { ...c, demandExceedsSupply: c.params.users > c.seatCount }),
  expect(result, p) {
    if (result.outcomes.ok <= p.seats) return [];
    return [{ kind: 'more-tickets-than-inventory', detail: `${result.outcomes.ok} successful ticket holds for an inventory of ${p.seats}` }];
  },
} satisfies Scenario;
