import { ledgerOpeningBalances } from '../src/db/sql/catalog.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { shuffle } from '../src/core/rng.js';
import type { Scenario } from './types.js';
import { checkJourney } from '../src/check/journey.js';
import { checkQueue } from '../src/check/queue.js';

const PAY_FRACTION = 0.7;
const PRICE = 50;

// The whole sale: users join the waiting room, wait to be admitted, read the seat map, hold a seat
// and then pay — or walk away (a seeded 30%), leaving a hold that must expire and sell again.
export const journey = {
  name: 'journey',
  kind: 'journey',
  queueByDefault: true,
  needsRedis: true,
  description: 'queue → admitted → seat map → hold → pay (70%) or abandon (30%, the hold expires and resells); --queue off starts at the seat map',
  defaults: { users: 2_000, seats: 500, connections: 100 },
  serverDefaults: { holdTtlMs: 2000, queue: { maxActive: 200, ratePerSec: 400, activeTtlMs: 4000 } },
  expectation: 'no seat sold twice; one payment per confirmed reservation; payments = ledger debits; no negative balance; an event in the stream for every confirmed or expired reservation; the waiting room keeps every place it promised, admits in join order, within its rate and active limit',
  validate: () => [],
  async prepare(db, p, { secret, rng }) {
    const schedule = await seedSchedule(db, { seats: p.seats, price: PRICE });
    const users = shuffle(await seedUsers(db, { count: p.users, secret, balance: PRICE * 2 }), rng);
    await ledgerOpeningBalances(db);
    return {
      scheduleId: schedule.scheduleId,
      seatCount: schedule.seatCount,
      plan: { journeys: [] },
      journeys: users.map((u, i) => ({
        token: u.token, userId: u.id, scheduleId: schedule.scheduleId, pays: rng() < PAY_FRACTION,
        seatPicks: [rng(), rng(), rng()], idempotencyKey: `journey-${p.seed}-${i}`,
      })),
    };
  },
  async check(c) {
    const r = await checkJourney(c.db, { ...c, redisUrl: c.redisUrl! });
    // With the waiting room on, every journey starts there: its promises (the place each user was told, the order, the limits) are checked too.
    const a = c.queueAnswers;
    const q = c.queue && a ? await checkQueue({ redisUrl: c.redisUrl!, keyPrefix: c.keyPrefix, scheduleId: c.scheduleId, queue: c.queue,
      okResponses: a.joins.length, unknownResponses: a.joinsUnanswered, answers: a }) : undefined;
    const violationCounts = { ...r.violationCounts };
    for (const [k, v] of Object.entries(q?.violationCounts ?? {})) violationCounts[k] = (violationCounts[k] ?? 0) + v;
    return { ...r, violations: [...r.violations, ...(q?.violations ?? [])], violationCounts,
      journey: { confirmed: r.confirmed, expired: r.expired, resold: r.resold, events: r.events } };
  },
  expect: () => [],
} satisfies Scenario;
