import { beforeEach, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { strategies } from '../strategies/index.js';
import { seedSchedule, seedUsers, type SeededSchedule, type SeededUser } from '../src/db/seed.js';
import { rawRows } from '../src/db/dialect.js';
import { call, freshDatabaseOn, SECRET, startApi, STORES } from './helpers.js';

let base: string;
let db: Knex;
let schedule: SeededSchedule;
let alice: SeededUser;
let bob: SeededUser;

const hold = async (u: SeededUser, seatNo: number) =>
  (await call(base, 'POST', '/api/reservations', { token: u.token, body: { scheduleId: schedule.scheduleId, seatNo } })).body.reservationId as number;
const payCall = (u: SeededUser, reservationId: unknown, key?: string) =>
  fetch(`${base}/api/payments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify({ reservationId }),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
const sum = async (sql: string, b: unknown[]) => Number((await rawRows<{ n: string }>(db, sql, b))[0]!.n);

describe.each(STORES)('payments on %s', (store) => {
  beforeEach(async () => {
    const fresh = await freshDatabaseOn(store);
    db = fresh.db;
    schedule = await seedSchedule(db, { seats: 10, price: 30 });
    [alice, bob] = (await seedUsers(db, { count: 2, secret: SECRET })) as [SeededUser, SeededUser];
    base = (await startApi(fresh.url, 'pessimistic', { holdTtlMs: 60_000 })).url;
  });

  describe('balance', () => {
    it('GET /api/balance and POST /api/balance/charge, with a ledger row per change', async () => {
      expect(await call(base, 'GET', '/api/balance', { token: alice.token })).toEqual({ status: 200, body: { userId: alice.id, balance: 0 } });
      expect(await call(base, 'POST', '/api/balance/charge', { token: alice.token, body: { amount: 100 } })).toEqual({ status: 200, body: { balance: 100 } });
      expect(await call(base, 'POST', '/api/balance/charge', { token: alice.token, body: { amount: 1_000_000_000 } })).toEqual({ status: 200, body: { balance: 1_000_000_100 } });
      expect(await sum(`SELECT sum(amount) AS n FROM balance_ledger WHERE user_id = ? AND kind = 'CHARGE'`, [alice.id])).toBe(1_000_000_100);
    });

    it.each([0, -5, 1.5, '10', 1_000_000_001, null])('400 VALIDATION_FAILED for amount %j, nothing written', async (amount) => {
      const r = await call(base, 'POST', '/api/balance/charge', { token: alice.token, body: { amount } });
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('VALIDATION_FAILED');
      expect(await sum('SELECT count(*) AS n FROM balance_ledger', [])).toBe(0);
    });

    it('401 without a token', async () => {
      expect((await call(base, 'GET', '/api/balance')).status).toBe(401);
      expect((await call(base, 'POST', '/api/balance/charge', { body: { amount: 5 } })).status).toBe(401);
    });
  });

  describe('POST /api/payments', () => {
    it('201: debits, writes payment and ledger, confirms, marks the seat SOLD, emits events', async () => {
      await call(base, 'POST', '/api/balance/charge', { token: alice.token, body: { amount: 100 } });
      const rid = await hold(alice, 1);
      const r = await payCall(alice, rid, 'k-1');
      expect(r).toEqual({ status: 201, body: { paymentId: expect.any(Number), reservationId: rid, amount: 30, balance: 70 } });
      expect((await db('reservations').where({ id: rid }).first()).status).toBe('CONFIRMED');
      expect((await db('seats').where({ schedule_id: schedule.scheduleId, seat_no: 1 }).first()).status).toBe('SOLD');
      expect(await sum('SELECT sum(amount) AS n FROM balance_ledger WHERE user_id = ?', [alice.id])).toBe(70);
      expect(await db('outbox').where({ aggregate_id: rid }).orderBy('id').pluck('event_type')).toEqual(['reservation.held', 'reservation.confirmed', 'payment.completed']);
    });

    it('replaying the key returns the first answer and charges once; the key with another body is 422', async () => {
      await call(base, 'POST', '/api/balance/charge', { token: alice.token, body: { amount: 100 } });
      const rid = await hold(alice, 1);
      const first = await payCall(alice, rid, 'k-replay');
      const again = await payCall(alice, rid, 'k-replay');
      expect(again).toEqual(first);
      const other = await hold(alice, 2);
      const reused = await payCall(alice, other, 'k-replay');
      expect(reused.status).toBe(422);
      expect(reused.body.error).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await sum('SELECT count(*) AS n FROM payments', [])).toBe(1);
      expect((await call(base, 'GET', '/api/balance', { token: alice.token })).body.balance).toBe(70);
    });

    it('concurrent requests with the same key charge once and all get the same answer', async () => {
      await call(base, 'POST', '/api/balance/charge', { token: alice.token, body: { amount: 100 } });
      const rid = await hold(alice, 3);
      const answers = await Promise.all(Array.from({ length: 10 }, () => payCall(alice, rid, 'k-concurrent')));
      expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
      expect(answers[0]!.status).toBe(201);
      expect(await sum('SELECT count(*) AS n FROM payments', [])).toBe(1);
      expect(await sum(`SELECT count(*) AS n FROM balance_ledger WHERE kind = 'SPEND'`, [])).toBe(1);
    });

    it('402 INSUFFICIENT_BALANCE, and nothing moves', async () => {
      await call(base, 'POST', '/api/balance/charge', { token: alice.token, body: { amount: 29 } });
      const rid = await hold(alice, 1);
      const r = await payCall(alice, rid, 'k-poor');
      expect(r.status).toBe(402);
      expect(r.body.error).toBe('INSUFFICIENT_BALANCE');
      expect((await db('reservations').where({ id: rid }).first()).status).toBe('HELD');
      expect(await sum('SELECT count(*) AS n FROM payments', [])).toBe(0);
      expect((await call(base, 'GET', '/api/balance', { token: alice.token })).body.balance).toBe(29);
    });

    it('403 FORBIDDEN for somebody else\'s reservation, 404 for none, 409 ALREADY_PAID', async () => {
      await call(base, 'POST', '/api/balance/charge', { token: bob.token, body: { amount: 100 } });
      await call(base, 'POST', '/api/balance/charge', { token: alice.token, body: { amount: 100 } });
      const rid = await hold(alice, 1);
      expect((await payCall(bob, rid, 'k-b')).status).toBe(403);
      expect((await payCall(alice, 99999, 'k-none')).status).toBe(404);
      expect((await payCall(alice, rid, 'k-a1')).status).toBe(201);
      const twice = await payCall(alice, rid, 'k-a2');
      expect(twice.status).toBe(409);
      expect(twice.body.error).toBe('ALREADY_PAID');
      expect((await call(base, 'GET', '/api/balance', { token: bob.token })).body.balance).toBe(100);
    });

    it('410 HOLD_EXPIRED once the hold has passed its expiry, even before any sweeper ran', async () => {
      await call(base, 'POST', '/api/balance/charge', { token: alice.token, body: { amount: 100 } });
      const rid = await hold(alice, 1);
      await db('reservations').where({ id: rid }).update({ expires_at: new Date(Date.now() - 1000) });
      const r = await payCall(alice, rid, 'k-late');
      expect(r.status).toBe(410);
      expect(r.body.error).toBe('HOLD_EXPIRED');
      expect((await call(base, 'GET', '/api/balance', { token: alice.token })).body.balance).toBe(100);
    });

    it('400 without an Idempotency-Key or with a bad body', async () => {
      const rid = await hold(alice, 1);
      const noKey = await payCall(alice, rid);
      expect(noKey.status).toBe(400);
      expect(noKey.body.message).toContain('Idempotency-Key');
      expect((await payCall(alice, 'x', 'k')).status).toBe(400);
    });
  });

  describe('DELETE /api/reservations/:id', () => {
    it('204 for the owner\'s HELD reservation: the seat is AVAILABLE again and can be held by another user', async () => {
      const rid = await hold(alice, 4);
      expect((await call(base, 'DELETE', `/api/reservations/${rid}`, { token: bob.token })).status).toBe(403);
      expect((await call(base, 'DELETE', `/api/reservations/${rid}`, { token: alice.token })).status).toBe(204);
      expect((await db('seats').where({ schedule_id: schedule.scheduleId, seat_no: 4 }).first()).status).toBe('AVAILABLE');
      expect(await db('outbox').where({ aggregate_id: rid }).orderBy('id').pluck('event_type')).toEqual(['reservation.held', 'reservation.cancelled']);
      const again = await call(base, 'DELETE', `/api/reservations/${rid}`, { token: alice.token });
      expect(again.status).toBe(409);
      expect(again.body.error).toBe('NOT_HELD');
      expect((await call(base, 'POST', '/api/reservations', { token: bob.token, body: { scheduleId: schedule.scheduleId, seatNo: 4 } })).status).toBe(201);
      expect((await call(base, 'DELETE', '/api/reservations/99999', { token: alice.token })).status).toBe(404);
    });
  });

  describe.each([...strategies.values()].filter((s) => s.safe))('balance under contention: $name', (strategy) => {
    it('70 concurrent 1-point payments on a 50-point balance: exactly 50 succeed, balance 0, ledger sums', async () => {
      const fresh = await freshDatabaseOn(store);
      const s = await seedSchedule(fresh.db, { seats: 70, price: 1 });
      const [u] = await seedUsers(fresh.db, { count: 1, secret: SECRET, balance: 50 });
      await fresh.db('balance_ledger').insert({ user_id: u!.id, kind: 'CHARGE', amount: 50, ref: 'seed' });
      const api = await startApi(fresh.url, strategy.name);
      const rids: number[] = [];
      for (let seat = 1; seat <= 70; seat++) {
        rids.push((await call(api.url, 'POST', '/api/reservations', { token: u!.token, body: { scheduleId: s.scheduleId, seatNo: seat } })).body.reservationId);
      }
      const statuses = await Promise.all(rids.map(async (rid, i) => {
        for (let attempt = 0; ; attempt++) {
          const r = await fetch(`${api.url}/api/payments`, { method: 'POST', headers: { authorization: `Bearer ${u!.token}`, 'content-type': 'application/json', 'idempotency-key': `spend-${i}` }, body: JSON.stringify({ reservationId: rid }) });
          const body = await r.json();
          if (r.status !== 409 || body.error !== 'BALANCE_BUSY' || attempt > 100) return r.status;
        }
      }));
      expect(statuses.filter((x) => x === 201)).toHaveLength(50);
      expect(statuses.filter((x) => x === 402)).toHaveLength(20);
      const user = await fresh.db('users').where({ id: u!.id }).first('balance');
      expect(user.balance).toBe(0);
      const ledger = Number((await fresh.db('balance_ledger').where({ user_id: u!.id }).sum({ n: 'amount' }))[0]!.n);
      expect(ledger).toBe(0);
    });
  });
});
