import { beforeEach, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { seedSchedule, seedUsers, type SeededSchedule, type SeededUser } from '../src/db/seed.js';
import { signUserToken } from '../src/core/tokens.js';
import { call, freshDatabase, SECRET, startApi } from './helpers.js';

let base: string;
let db: Knex;
let schedule: SeededSchedule;
let user: SeededUser;

beforeEach(async () => {
  const fresh = await freshDatabase();
  db = fresh.db;
  schedule = await seedSchedule(db, { seats: 10, price: 250 });
  [user] = (await seedUsers(db, { count: 1, secret: SECRET })) as [SeededUser];
  base = (await startApi(fresh.url, 'pessimistic')).url;
});

const count = async (table: string) => Number((await db(table).count({ n: '*' }))[0]!.n);

describe('GET /healthz', () => {
  it('200 with the strategy name', async () => {
    expect(await call(base, 'GET', '/healthz')).toEqual({ status: 200, body: { status: 'ok', strategy: 'pessimistic' } });
  });
});

describe('POST /api/users', () => {
  it('201 with a user id and a token that works', async () => {
    const res = await call(base, 'POST', '/api/users', { body: { name: 'Ada' } });
    expect(res.status).toBe(201);
    expect(res.body.userId).toBeTypeOf('number');
    expect(res.body.token).toMatch(/^v1\.\d+\.\d+\./);
    expect((await call(base, 'GET', '/api/concerts', { token: res.body.token })).status).toBe(200);
  });

  it.each([
    [{}, 'name is required'],
    [{ name: 42 }, 'name must be a non-empty string'],
    [{ name: '   ' }, 'name must be a non-empty string'],
    [{ name: 'x'.repeat(201) }, 'at most 200'],
  ])('400 VALIDATION_FAILED for %j', async (body, message) => {
    const before = await count('users');
    const res = await call(base, 'POST', '/api/users', { body });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('VALIDATION_FAILED');
    expect(res.body.message).toContain(message);
    expect(await count('users')).toBe(before);
  });

  it('400 VALIDATION_FAILED for malformed JSON and for a non-object body', async () => {
    const bad = await call(base, 'POST', '/api/users', { rawBody: '{"name": ' });
    expect(bad).toEqual({ status: 400, body: { error: 'VALIDATION_FAILED', message: 'the request body is not valid JSON' } });
    const arr = await call(base, 'POST', '/api/users', { body: ['Ada'] });
    expect(arr.status).toBe(400);
    expect(arr.body.message).toContain('JSON object');
  });
});

describe('authentication', () => {
  it.each([
    ['no header', undefined],
    ['a forged token', signUserToken('another-secret', 1)],
    ['an expired token', signUserToken(SECRET, 1, -10)],
    ['garbage', 'not-a-token'],
  ])('401 UNAUTHORIZED with %s', async (_label, token) => {
    for (const [method, path] of [['GET', '/api/concerts'], ['GET', `/api/schedules/${schedule.scheduleId}/seats`], ['POST', '/api/reservations']] as const) {
      const res = await call(base, method, path, { token, body: method === 'POST' ? { scheduleId: schedule.scheduleId, seatNo: 1 } : undefined });
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('UNAUTHORIZED');
    }
    expect(await count('reservations')).toBe(0);
  });

  it("401 when a validly signed token names a user this database does not have, and nothing is written", async () => {
    const res = await call(base, 'POST', '/api/reservations', { token: signUserToken(SECRET, 999_999), body: { scheduleId: schedule.scheduleId, seatNo: 1 } });
    expect(res.status).toBe(401);
    expect(await count('reservations')).toBe(0);
    expect((await db('seats').where({ schedule_id: schedule.scheduleId, seat_no: 1 }).first()).status).toBe('AVAILABLE');
  });
});

describe('GET /api/concerts', () => {
  it('200 with concerts and their schedules', async () => {
    const res = await call(base, 'GET', '/api/concerts', { token: user.token });
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(1);
    expect(res.body[0].id).toBe(schedule.concertId);
    expect(res.body[0].schedules).toEqual([{ id: schedule.scheduleId, startsAt: expect.any(String), seatCount: 10, price: 250, available: 10 }]);
  });
});

describe('GET /api/schedules/:id/seats', () => {
  it('200 with every seat and its status', async () => {
    await call(base, 'POST', '/api/reservations', { token: user.token, body: { scheduleId: schedule.scheduleId, seatNo: 2 } });
    const res = await call(base, 'GET', `/api/schedules/${schedule.scheduleId}/seats`, { token: user.token });
    expect(res.status).toBe(200);
    expect(res.body.scheduleId).toBe(schedule.scheduleId);
    expect(res.body.seats).toHaveLength(10);
    expect(res.body.seats[0]).toEqual({ seatNo: 1, status: 'AVAILABLE' });
    expect(res.body.seats[1]).toEqual({ seatNo: 2, status: 'HELD' });
  });

  it('404 NOT_FOUND for a schedule that does not exist', async () => {
    const res = await call(base, 'GET', '/api/schedules/99999/seats', { token: user.token });
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('NOT_FOUND');
  });

  it.each(['abc', '0', '-3', '1.5', '99999999999'])('400 VALIDATION_FAILED for id %s', async (id) => {
    const res = await call(base, 'GET', `/api/schedules/${id}/seats`, { token: user.token });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('VALIDATION_FAILED');
  });
});

describe('POST /api/reservations', () => {
  it('201 HELD with an expiry, and the seat, reservation and outbox row are written together', async () => {
    const res = await call(base, 'POST', '/api/reservations', { token: user.token, body: { scheduleId: schedule.scheduleId, seatNo: 3 } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ reservationId: expect.any(Number), scheduleId: schedule.scheduleId, seatNo: 3, status: 'HELD', expiresAt: expect.any(String) });
    const ttl = Date.parse(res.body.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(4 * 60_000);
    expect(ttl).toBeLessThanOrEqual(5 * 60_000 + 1000);
    const seat = await db('seats').where({ schedule_id: schedule.scheduleId, seat_no: 3 }).first();
    expect(seat).toMatchObject({ status: 'HELD', holder_user_id: user.id, version: 1 });
    const reservation = await db('reservations').where({ id: res.body.reservationId }).first();
    expect(reservation).toMatchObject({ status: 'HELD', user_id: user.id, seat_no: 3, amount: 250 });
    const events = await db('outbox').select('event_type', 'aggregate_id');
    expect(events).toEqual([{ event_type: 'reservation.held', aggregate_id: res.body.reservationId }]);
  });

  it('409 SEAT_TAKEN for a seat somebody holds', async () => {
    const [other] = await seedUsers(db, { count: 1, secret: SECRET, prefix: 'other-' });
    expect((await call(base, 'POST', '/api/reservations', { token: user.token, body: { scheduleId: schedule.scheduleId, seatNo: 5 } })).status).toBe(201);
    const res = await call(base, 'POST', '/api/reservations', { token: other!.token, body: { scheduleId: schedule.scheduleId, seatNo: 5 } });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('SEAT_TAKEN');
    expect(await count('reservations')).toBe(1);
  });

  it('404 NOT_FOUND for an unknown schedule and for a seat number beyond the schedule', async () => {
    for (const body of [{ scheduleId: 99999, seatNo: 1 }, { scheduleId: schedule.scheduleId, seatNo: 11 }]) {
      const res = await call(base, 'POST', '/api/reservations', { token: user.token, body });
      expect(res.status).toBe(404);
      expect(res.body.error).toBe('NOT_FOUND');
    }
    expect(await count('reservations')).toBe(0);
  });

  it.each([
    [{}, ['scheduleId is required', 'seatNo is required']],
    [{ scheduleId: '1', seatNo: 1 }, ['scheduleId must be an integer from 1 to']],
    [{ scheduleId: 1, seatNo: 0 }, ['seatNo must be an integer from 1 to']],
    [{ scheduleId: 1, seatNo: 1.5 }, ['seatNo must be an integer from 1 to']],
    [{ scheduleId: 1, seatNo: null }, ['seatNo is required']],
    [{ scheduleId: 1, seatNo: 2 ** 31 }, ['seatNo must be an integer from 1 to']],
  ])('400 VALIDATION_FAILED for %j, naming every problem', async (body, messages) => {
    const res = await call(base, 'POST', '/api/reservations', { token: user.token, body });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('VALIDATION_FAILED');
    for (const m of messages) expect(res.body.message).toContain(m);
    expect(await count('reservations')).toBe(0);
  });
});

describe('unknown routes', () => {
  it('404 NOT_FOUND as JSON', async () => {
    const res = await call(base, 'GET', '/api/nope');
    expect(res).toEqual({ status: 404, body: { error: 'NOT_FOUND', message: 'no route for GET /api/nope' } });
  });
});
