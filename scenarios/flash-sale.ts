import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { shuffle, type Rng } from '../src/core/rng.js';
import type { Scenario, ScenarioParams, Workload } from './types.js';
import { checkSeats } from '../src/check/seats.js';

const ATTEMPTS_PER_USER = 3;

/** Seat numbers skewed toward the front rows: u² concentrates picks near seat 1. */
export function pickSeats(rng: Rng, seats: number, count: number): number[] {
  const picked = new Set<number>();
  const want = Math.min(count, seats);
  while (picked.size < want) picked.add(1 + Math.min(seats - 1, Math.floor(seats * rng() ** 2)));
  return [...picked];
}

/** The asks, from the seeded RNG; prepare() and the black-box mode both use it. */
function workload(p: ScenarioParams, rng: Rng): Workload {
  const order = shuffle(Array.from({ length: p.users }, (_, i) => i), rng);
  return { op: 'hold', users: order.map((user) => ({ user, seats: pickSeats(rng, p.seats, ATTEMPTS_PER_USER) })) };
}

// A sale opens: many users, fewer seats; each user tries up to three seats and stops at the first hold.
export const flashSale = {
  name: 'flash-sale',
  kind: 'seats',
  description: 'N users, M numbered seats; each tries up to 3 seeded-random front-skewed seats',
  defaults: { users: 10_000, seats: 1_000, connections: 64 },
  expectation: 'holds ≤ seats and no seat held twice',
  validate: () => [],
  workload,
  async prepare(db, p, { secret, rng }) {
    const schedule = await seedSchedule(db, { seats: p.seats });
    const users = await seedUsers(db, { count: p.users, secret });
    return {
      scheduleId: schedule.scheduleId,
      seatCount: schedule.seatCount,
      plan: {
        journeys: workload(p, rng).users.map((w) => ({
          token: users[w.user]!.token,
          userId: users[w.user]!.id,
          attempts: (w.seats as number[]).map((seatNo) => ({
            method: 'POST' as const,
            path: '/api/reservations',
            body: JSON.stringify({ scheduleId: schedule.scheduleId, seatNo }),
            meta: { op: 'hold' as const, scheduleId: schedule.scheduleId, seatNo },
          })),
        })),
      },
    };
  },
  check: (c) => checkSeats(c.db, c),
  expect(result, p) {
    if (result.outcomes.ok <= p.seats) return [];
    return [{ kind: 'more-holds-than-seats', detail: `${result.outcomes.ok} successful holds for ${p.seats} seats` }];
  },
} satisfies Scenario;
