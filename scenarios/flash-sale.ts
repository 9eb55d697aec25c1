import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { shuffle, type Rng } from '../src/core/rng.js';
import type { Scenario } from './types.js';
import { checkSeats } from '../src/check/seats.js';

const ATTEMPTS_PER_USER = 3;

/** Seat numbers skewed toward the front rows: u² concentrates picks near seat 1. */
export function pickSeats(rng: Rng, seats: number, count: number): number[] {
  const picked = new Set<number>();
  const want = Math.min(count, seats);
  while (picked.size < want) picked.add(1 + Math.min(seats - 1, Math.floor(seats * rng() ** 2)));
  return [...picked];
}

// A sale opens: many users, fewer seats; each user tries up to three seats and stops at the first hold.
export const flashSale = {
  name: 'flash-sale',
  kind: 'seats',
  description: 'N users, M numbered seats; each tries up to 3 seeded-random front-skewed seats',
  defaults: { users: 10_000, seats: 1_000, connections: 64 },
  expectation: 'holds ≤ seats and no seat held twice',
  validate: () => [],
  async prepare(db, p, { secret, rng }) {
    const schedule = await seedSchedule(db, { seats: p.seats });
    const users = shuffle(await seedUsers(db, { count: p.users, secret }), rng);
    return {
      scheduleId: schedule.scheduleId,
      seatCount: schedule.seatCount,
      plan: {
        journeys: users.map((u) => ({
          token: u.token,
          userId: u.id,
          attempts: pickSeats(rng, p.seats, ATTEMPTS_PER_USER).map((seatNo) => ({
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
