import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { strategies } from '../strategies/index.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { checkSeats } from '../src/check/seats.js';
import type { Dialect } from '../src/db/dialect.js';
import { provisionRedisCluster, type ClusterTopology } from '../src/infra/redis-cluster.js';
import { call, freshDatabaseOn, SECRET, startApi, STORES } from './helpers.js';

// One contract for every registered strategy: a new strategy is covered by adding it to the registry.
const CONTENDERS = 50;

async function hotSeat(store: Dialect, strategy: string, strategyOptions?: Record<string, string>, redisUrls?: string[]) {
  const { url, db } = await freshDatabaseOn(store);
  const schedule = await seedSchedule(db, { seats: 1 });
  const users = await seedUsers(db, { count: CONTENDERS, secret: SECRET });
  const api = await startApi(url, strategy, { strategyOptions, ...(redisUrls ? { redisUrls } : {}) });
  const responses = await Promise.all(users.map((u) => call(api.url, 'POST', '/api/reservations', { token: u.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } })));
  const statuses = responses.map((r) => r.status);
  const ok = statuses.filter((s) => s === 201).length;
  const check = await checkSeats(db, { scheduleId: schedule.scheduleId, okResponses: ok, unknownResponses: 0 });
  return { statuses, ok, check, responses };
}

describe.each(STORES.flatMap((store) => [...strategies.values()].map((strategy) => ({ store, strategy, name: `${strategy.name} on ${store}` }))))('strategy contract: $name', ({ store, strategy }) => {
  it(`${CONTENDERS} concurrent holds on one seat answer only 201 or 409`, async () => {
    const { statuses, ok, check } = await hotSeat(store, strategy.name);
    expect(statuses.filter((s) => s !== 201 && s !== 409)).toEqual([]);
    expect(ok).toBeGreaterThanOrEqual(1);
    if (strategy.safe) {
      expect(ok).toBe(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(CONTENDERS - 1);
      expect(check.oversold).toBe(0);
      expect(check.violations).toEqual([]);
      expect(check.activeReservations).toBe(1);
    }
  });

  it('a hold on a seat that does not exist is 404 and writes nothing', async () => {
    const { url, db } = await freshDatabaseOn(store);
    const schedule = await seedSchedule(db, { seats: 3 });
    const [user] = await seedUsers(db, { count: 1, secret: SECRET });
    const api = await startApi(url, strategy.name);
    const res = await call(api.url, 'POST', '/api/reservations', { token: user!.token, body: { scheduleId: schedule.scheduleId, seatNo: 4 } });
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('NOT_FOUND');
    expect(Number((await db('reservations').count({ n: '*' }))[0]!.n)).toBe(0);
  });
});

describe.each(STORES)('the control group on %s', (store) => {
  it('none oversells under contention when its race window is widened', async () => {
    const { ok, check } = await hotSeat(store, 'none', { raceWindowMs: '100' });
    expect(ok).toBeGreaterThan(1);
    expect(check.oversold).toBe(ok - 1);
    expect(check.violationCounts['seat-sold-twice']).toBe(1);
    const evidence = check.violations.find((v) => v.kind === 'seat-sold-twice')!.evidence as { reservationIds: number[] };
    expect(evidence.reservationIds).toHaveLength(ok);
  });
});

// Every strategy that uses Redis again, on a Redis Cluster of 3 primaries (one for the file, ~4 s to
// start): its scripts and locks must keep each call to one slot, and the answers stay the same.
describe('on a Redis Cluster (3 primaries)', () => {
  let cluster: ClusterTopology;
  beforeAll(async () => { cluster = await provisionRedisCluster({ primaries: 3, replicasPerPrimary: 0 }); }, 60_000);
  afterAll(async () => { await cluster?.stop(); });

  describe.each([...strategies.values()].filter((s) => s.requires.redis).map((strategy) => ({ strategy, name: strategy.name })))('strategy contract: $name on a cluster', ({ strategy }) => {
    it(`${CONTENDERS} concurrent holds on one seat: exactly one 201, the rest 409, oversold 0`, async () => {
      const { statuses, ok, check } = await hotSeat('pg', strategy.name, undefined, [cluster.url]);
      expect(statuses.filter((s) => s !== 201 && s !== 409)).toEqual([]);
      expect(ok).toBe(1);
      expect(check.oversold).toBe(0);
      expect(check.violations).toEqual([]);
      expect(check.activeReservations).toBe(1);
    });
  });
});
