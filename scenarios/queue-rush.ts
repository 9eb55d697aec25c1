import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { shuffle } from '../src/core/rng.js';
import type { Scenario } from './types.js';
import { checkQueue } from '../src/check/queue.js';

// Everybody joins one schedule's waiting room at once. Join numbers must come out unique and
// gap-free, and the admitter must respect its rate and active limit while the rush goes on.
export const queueRush = {
  name: 'queue-rush',
  kind: 'queue',
  requiresQueue: true,
  description: 'N users join one schedule\'s waiting room at once',
  defaults: { users: 10_000, seats: 1_000, connections: 64 },
  expectation: 'join numbers unique and gap-free 1..N, each still the number its user was told; admissions in join order, within --queue-rate per second and --queue-active at once',
  validate: () => [],
  async prepare(db, p, { secret, rng }) {
    const schedule = await seedSchedule(db, { seats: p.seats });
    const users = shuffle(await seedUsers(db, { count: p.users, secret }), rng);
    const body = JSON.stringify({ scheduleId: schedule.scheduleId });
    return {
      scheduleId: schedule.scheduleId,
      seatCount: schedule.seatCount,
      plan: { journeys: users.map((u) => ({ token: u.token, userId: u.id, attempts: [{ method: 'POST' as const, path: '/api/queue/tokens', body, meta: { op: 'join' as const, scheduleId: schedule.scheduleId } }] })) },
    };
  },
  check: (c) => checkQueue({ ...c, redisUrl: c.redisUrl!, queue: c.queue!, ...(c.queueAnswers ? { answers: c.queueAnswers } : {}) }),
  // A join answered 5xx or not at all is unavailability (counted as an error or unknown, and held to
  // the records by checkQueue); only a join the room refused outright breaks the expectation.
  expect(result, p) {
    const refused = p.users - result.outcomes.ok - result.outcomes.timeout - result.outcomes.error;
    if (refused <= 0) return [];
    return [{ kind: 'joins-refused', detail: `${refused} of ${p.users} joins were refused (4xx) instead of answered 201` }];
  },
} satisfies Scenario;
