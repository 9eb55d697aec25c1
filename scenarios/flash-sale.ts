import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { shuffle, type Rng } from '../src/core/rng.js';
import type { Scenario, ScenarioParams, UserWork, Workload } from './types.js';
import { HoldJourneys } from '../src/load/hold-journeys.js';
import { checkSeats } from '../src/check/seats.js';

const ATTEMPTS_PER_USER = 3;

/** Seat numbers skewed toward the front rows: u² concentrates picks near seat 1. */
export function pickSeats(rng: Rng, seats: number, count: number): number[] {
  const picked = new Set<number>();
  const want = Math.min(count, seats);
  while (picked.size < want) picked.add(1 + Math.min(seats - 1, Math.floor(seats * rng() ** 2)));
  return [...picked];
}

/** The asks in arrival order, from the seeded RNG: which user (an index into the seeded users) tries which seats. */
function eachAsk(p: ScenarioParams, rng: Rng, ask: (user: number, seats: number[]) => void): void {
  const order = shuffle(Array.from({ length: p.users }, (_, i) => i), rng);
  for (const user of order) ask(user, pickSeats(rng, p.seats, ATTEMPTS_PER_USER));
}

/** The asks as plain data, for the black-box mode and the Artillery export; prepare() makes the same ones. */
function workload(p: ScenarioParams, rng: Rng): Workload {
  const users: UserWork[] = [];
  eachAsk(p, rng, (user, seats) => users.push({ user, seats }));
  return { op: 'hold', users };
}

// A sale opens: many users, fewer seats; each user tries up to three seats and stops at the first hold.
export const flashSale = {
  name: 'flash-sale',
  kind: 'seats',
  description: 'N users, M numbered seats; each tries up to 3 seeded-random front-skewed seats',
  defaults: { users: 10_000, seats: 1_000, connections: 64 },
  expectation: 'holds ≤ seats (plus holds that expired and put a seat back on sale) and no seat held twice',
  validate: () => [],
  workload,
  async prepare(db, p, { secret, rng }) {
    const schedule = await seedSchedule(db, { seats: p.seats });
    const users = await seedUsers(db, { count: p.users, secret });
    // Columns, not objects: each journey is made when the driver reaches it (see hold-journeys.ts).
    const journeys = new HoldJourneys(schedule.scheduleId, p.users, ATTEMPTS_PER_USER);
    eachAsk(p, rng, (user, seats) => journeys.add(users[user]!.token, users[user]!.id, seats));
    return { scheduleId: schedule.scheduleId, seatCount: schedule.seatCount, plan: { journeys } };
  },
  check: (c) => checkSeats(c.db, c),
  expect(result, p, _prepared, check) {
    // A sale longer than the hold TTL sells an expired hold's seat again: that is a second hold, not a second seat.
    const returned = check.returnedToSale ?? 0;
    if (result.outcomes.ok <= p.seats + returned) return [];
    return [{ kind: 'more-holds-than-seats', detail: `${result.outcomes.ok} successful holds for ${p.seats} seats${returned ? ` and ${returned} expired or cancelled holds` : ''}` }];
  },
} satisfies Scenario;
