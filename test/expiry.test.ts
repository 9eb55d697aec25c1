import { describe, expect, it, onTestFinished } from 'vitest';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { sweepExpired } from '../src/core/expiry.js';
import { startServerProcess } from '../src/load/server-process.js';
import { checkSeats } from '../src/check/seats.js';
import { call, freshDatabaseOn, SECRET, startApi, STORES } from './helpers.js';
import type { Knex } from 'knex';
import { scenarios } from '../scenarios/index.js';
import type { RunResult } from '../src/load/result.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(check: () => Promise<boolean>, ms: number) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`condition not met within ${ms} ms`);
}

/** Holds that expired a second ago on seats from..to-1 of the schedule, for users[from..to-1], written portably. */
async function expiredHolds(db: Knex, scheduleId: number, userIds: number[], from: number, to: number) {
  const past = new Date(Date.now() - 1000);
  await db.transaction(async (trx) => {
    for (let n = from; n < to; n++) {
      await trx('seats').where({ schedule_id: scheduleId, seat_no: n + 1 }).update({ status: 'HELD', holder_user_id: userIds[n], hold_expires_at: past });
      await trx('reservations').insert({ user_id: userIds[n], schedule_id: scheduleId, seat_no: n + 1, status: 'HELD', amount: 1, expires_at: past });
    }
  });
}

describe.each(STORES.flatMap((store) => ['pessimistic', 'redis-decr'].map((strategy) => ({ store, strategy }))))('hold expiry ($strategy on $store)', ({ store, strategy }) => {
  it('a 1 s hold expires: the seat is sold again, the payment is 410, an event is written', async () => {
    const { url, db } = await freshDatabaseOn(store);
    const schedule = await seedSchedule(db, { seats: 2, price: 10 });
    const [a, b] = await seedUsers(db, { count: 2, secret: SECRET, balance: 100 });
    const api = await startApi(url, strategy, { holdTtlMs: 1000, sweepIntervalMs: 200 });
    const held = await call(api.url, 'POST', '/api/reservations', { token: a!.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } });
    expect(held.status).toBe(201);
    expect((await call(api.url, 'POST', '/api/reservations', { token: b!.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } })).status).toBe(409);
    const rid = held.body.reservationId;

    await waitUntil(async () => (await db('reservations').where({ id: rid }).first()).status === 'EXPIRED', 5000);
    expect((await db('seats').where({ schedule_id: schedule.scheduleId, seat_no: 1 }).first())).toMatchObject({ status: 'AVAILABLE', holder_user_id: null });
    expect(await db('outbox').where({ aggregate_id: rid }).orderBy('id').pluck('event_type')).toEqual(['reservation.held', 'reservation.expired']);
    const late = await fetch(`${api.url}/api/payments`, { method: 'POST', headers: { authorization: `Bearer ${a!.token}`, 'content-type': 'application/json', 'idempotency-key': 'late' }, body: JSON.stringify({ reservationId: rid }) });
    expect(late.status).toBe(410);
    // The seat sells again, to someone else.
    const again = await call(api.url, 'POST', '/api/reservations', { token: b!.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } });
    expect(again.status).toBe(201);
    const check = await checkSeats(db, { scheduleId: schedule.scheduleId, okResponses: 2, unknownResponses: 0 });
    expect(check.violations).toEqual([]);
    expect(check.returnedToSale).toBe(1);
    // A sale longer than the TTL: two holds of one seat, one after the other, are not two seats sold.
    // The hot seat's and the flash sale's count expectations allow exactly one more hold per expired one.
    const result = (ok: number) => ({ outcomes: { ok, timeout: 0 } }) as unknown as RunResult;
    const prepared = { scheduleId: schedule.scheduleId, seatCount: 1, plan: { journeys: [] } };
    const params = { users: 2, seats: 1, connections: 2, seed: 42 };
    expect(scenarios.get('hot-seat')!.expect(result(2), params, prepared, check)).toEqual([]);
    expect(scenarios.get('flash-sale')!.expect(result(2), params, prepared, check)).toEqual([]);
    expect(scenarios.get('hot-seat')!.expect(result(3), params, prepared, check).map((v) => v.kind)).toEqual(['hot-seat-winners']);
    expect(scenarios.get('flash-sale')!.expect(result(3), params, prepared, check).map((v) => v.detail)).toEqual(['3 successful holds for 1 seats and 1 expired or cancelled holds']);
    expect(scenarios.get('flash-sale')!.expect(result(2), params, prepared, { ...check, returnedToSale: 0 }).map((v) => v.kind)).toEqual(['more-holds-than-seats']);
  });
});

describe.each(STORES)('the sweeper on %s', (store) => {
  it('runs in one process at a time: two server processes, 300 expired holds, each expired exactly once, no overlapping sweeps', async () => {
    const { url, db } = await freshDatabaseOn(store);
    const schedule = await seedSchedule(db, { seats: 300 });
    const users = await seedUsers(db, { count: 300, secret: SECRET });
    const servers = await Promise.all([0, 1].map(() => startServerProcess({ databaseUrl: url, strategy: 'pessimistic', tokenSecret: SECRET, poolSize: 4, sweepIntervalMs: 20 })));
    onTestFinished(async () => { for (const s of servers) await s.stop(); });
    // 300 holds that expired a second ago, written in three batches while both sweepers run.
    for (let batch = 0; batch < 3; batch++) {
      await expiredHolds(db, schedule.scheduleId, users.map((u) => u.id), batch * 100, batch * 100 + 100);
      await sleep(100);
    }
    await waitUntil(async () => Number((await db('reservations').where({ status: 'EXPIRED' }).count({ n: '*' }))[0]!.n) === 300, 10_000);
    await sleep(300);
    const events = await db('outbox').where({ event_type: 'reservation.expired' }).select('aggregate_id');
    expect(events).toHaveLength(300);
    expect(new Set(events.map((e) => e.aggregate_id)).size).toBe(300);
    expect(Number((await db('seats').where({ status: 'AVAILABLE' }).count({ n: '*' }))[0]!.n)).toBe(300);
    const sweeps = await db('sweeps').orderBy('started_at').select('owner', 'started_at', 'finished_at', 'expired');
    expect(sweeps.reduce((n, s) => n + s.expired, 0)).toBe(300);
    expect(new Set(sweeps.map((s) => s.owner)).size).toBe(2);
    for (let i = 1; i < sweeps.length; i++) expect(sweeps[i].started_at.getTime()).toBeGreaterThanOrEqual(sweeps[i - 1].finished_at.getTime());
    expect(users).toHaveLength(300);
  });

  it('is idempotent: concurrent and repeated sweeps expire each hold once', async () => {
    const { db } = await freshDatabaseOn(store);
    const schedule = await seedSchedule(db, { seats: 50 });
    const [u] = await seedUsers(db, { count: 1, secret: SECRET });
    await expiredHolds(db, schedule.scheduleId, Array.from({ length: 50 }, () => u!.id), 0, 50);
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => sweepExpired(db, `t${i}`)));
    const again = await sweepExpired(db, 'again');
    expect(results.reduce((n, r) => n + r.expired.length, 0) + again.expired.length).toBe(50);
    expect(again.ran).toBe(true);
    expect(Number((await db('outbox').where({ event_type: 'reservation.expired' }).count({ n: '*' }))[0]!.n)).toBe(50);
  });
});
