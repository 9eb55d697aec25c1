import { describe, expect, it } from 'vitest';
import { scenarios } from '../scenarios/index.js';
import { createRng } from '../src/core/rng.js';
import { checkSeats } from '../src/check/seats.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { freshDatabase, SECRET } from './helpers.js';

const planShape = (p: { journeys: { attempts: unknown[] }[] }) => p.journeys.map((j) => j.attempts);

describe('scenarios', () => {
  it('flash-sale seeds 10,000 users and 1,000 seats in bulk, and the same seed gives the same workload', async () => {
    const flash = scenarios.get('flash-sale')!;
    const params = { ...flash.defaults, seed: 42 };
    const a = await freshDatabase();
    const pa = await flash.prepare(a.db, params, { secret: SECRET, rng: createRng(42) });
    expect(Number((await a.db('users').count({ n: '*' }))[0]!.n)).toBe(10_000);
    expect(Number((await a.db('seats').where({ schedule_id: pa.scheduleId }).count({ n: '*' }))[0]!.n)).toBe(1_000);
    expect(await a.db('inventory').where({ schedule_id: pa.scheduleId }).first()).toMatchObject({ total: 1000, remaining: 1000 });
    expect(pa.plan.journeys).toHaveLength(10_000);
    expect(new Set(pa.plan.journeys.map((j) => j.token)).size).toBe(10_000);

    const b = await freshDatabase();
    const pb = await flash.prepare(b.db, params, { secret: SECRET, rng: createRng(42) });
    expect(JSON.stringify(planShape(pb.plan))).toBe(JSON.stringify(planShape(pa.plan)));
    const c = await freshDatabase();
    const pc = await flash.prepare(c.db, { ...params, seed: 43 }, { secret: SECRET, rng: createRng(43) });
    expect(JSON.stringify(planShape(pc.plan))).not.toBe(JSON.stringify(planShape(pa.plan)));
  });

  it('hot-seat sends every user at seat 1 once', async () => {
    const hot = scenarios.get('hot-seat')!;
    const { db } = await freshDatabase();
    const p = await hot.prepare(db, { ...hot.defaults, seed: 1 }, { secret: SECRET, rng: createRng(1) });
    expect(p.plan.journeys).toHaveLength(100);
    expect(new Set(p.plan.journeys.map((j) => j.attempts.map((a) => a.body).join()))).toEqual(new Set([JSON.stringify({ scheduleId: p.scheduleId, seatNo: 1 })]));
  });
});

describe('seat checker', () => {
  async function state() {
    const { db } = await freshDatabase();
    const s = await seedSchedule(db, { seats: 3 });
    const users = await seedUsers(db, { count: 3, secret: SECRET });
    const hold = (userId: number, seatNo: number) => db('reservations').insert({ user_id: userId, schedule_id: s.scheduleId, seat_no: seatNo, status: 'HELD', amount: 1, expires_at: new Date(Date.now() + 60_000) }).returning('id');
    return { db, s, users, hold };
  }

  it('passes a consistent state', async () => {
    const { db, s, users, hold } = await state();
    await hold(users[0]!.id, 1);
    await db('seats').where({ schedule_id: s.scheduleId, seat_no: 1 }).update({ status: 'HELD', holder_user_id: users[0]!.id });
    const r = await checkSeats(db, { scheduleId: s.scheduleId, okResponses: 1, unknownResponses: 0 });
    expect(r).toMatchObject({ oversold: 0, violations: [], activeReservations: 1, capacity: 3 });
  });

  it('finds a seat sold twice, with the reservations as evidence, and the seat/reservation mismatch', async () => {
    const { db, s, users, hold } = await state();
    const [a] = await hold(users[0]!.id, 2);
    const [b] = await hold(users[1]!.id, 2);
    await db('seats').where({ schedule_id: s.scheduleId, seat_no: 2 }).update({ status: 'HELD', holder_user_id: users[1]!.id });
    const r = await checkSeats(db, { scheduleId: s.scheduleId, okResponses: 2, unknownResponses: 0 });
    expect(r.oversold).toBe(1);
    expect(r.violations).toContainEqual({ kind: 'seat-sold-twice', detail: 'seat 2 has 2 active reservations', evidence: { seatNo: 2, reservationIds: [a.id, b.id], userIds: [users[0]!.id, users[1]!.id] } });
    expect(r.violationCounts['reservation-seat-mismatch']).toBe(1);
  });

  it('finds a held seat with no reservation, and 201s that disagree with the rows written', async () => {
    const { db, s, users } = await state();
    await db('seats').where({ schedule_id: s.scheduleId, seat_no: 3 }).update({ status: 'HELD', holder_user_id: users[2]!.id });
    const r = await checkSeats(db, { scheduleId: s.scheduleId, okResponses: 1, unknownResponses: 0 });
    expect(Object.keys(r.violationCounts).sort()).toEqual(['responses-disagree-with-db', 'seat-without-reservation']);
  });

  it('treats unknown outcomes as possibly written', async () => {
    const { db, s, users, hold } = await state();
    await hold(users[0]!.id, 1);
    await db('seats').where({ schedule_id: s.scheduleId, seat_no: 1 }).update({ status: 'HELD', holder_user_id: users[0]!.id });
    const r = await checkSeats(db, { scheduleId: s.scheduleId, okResponses: 0, unknownResponses: 1 });
    expect(r.violations).toEqual([]);
  });
});
