import { describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { createDb, mysqlConnectionIds } from '../src/db/knex.js';
import { rawRows } from '../src/db/dialect.js';
import { call, freshDatabaseOn, SECRET, startApi, STORES } from './helpers.js';

// What a contended or broken store answers, on both stores: a lock wait that times out and a
// deadlock victim are busy (409, counted), never 500; a connection lost mid-request is 503. Each is
// provoked for real with a second connection holding the locks.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(STORES)('store errors on %s', (store) => {
  async function setup(lockTimeoutMs = '1000') {
    const fresh = await freshDatabaseOn(store);
    const schedule = await seedSchedule(fresh.db, { seats: 200 });
    const [u] = await seedUsers(fresh.db, { count: 1, secret: SECRET });
    const api = await startApi(fresh.url, 'pessimistic', { strategyOptions: { lockTimeoutMs } });
    // The adversary: its own pool on the same database.
    const adversary = createDb({ url: fresh.url, poolMax: 2, applicationName: 'seatlab-test-adversary' });
    return { ...fresh, schedule, user: u!, api, adversary };
  }
  const seatRow = (db: Knex, scheduleId: number, seatNo: number) => db('seats').where({ schedule_id: scheduleId, seat_no: seatNo }).first('status');

  it('a row lock held past the lock timeout: 409 SEAT_BUSY, counted, nothing written', async () => {
    const s = await setup();
    try {
      let answer: Awaited<ReturnType<typeof call>> | undefined;
      await s.adversary.transaction(async (trx) => {
        await rawRows(trx, 'SELECT id FROM seats WHERE schedule_id = ? AND seat_no = 1 FOR UPDATE', [s.schedule.scheduleId]);
        answer = await call(s.api.url, 'POST', '/api/reservations', { token: s.user.token, body: { scheduleId: s.schedule.scheduleId, seatNo: 1 } });
      });
      expect(answer!.status).toBe(409);
      expect(answer!.body.error).toBe('SEAT_BUSY');
      expect(s.api.counters().lockFailures).toBe(1);
      expect((await seatRow(s.db, s.schedule.scheduleId, 1)).status).toBe('AVAILABLE');
      expect(Number((await s.db('reservations').count({ n: '*' }))[0]!.n)).toBe(0);
    } finally {
      await s.adversary.destroy();
    }
  });

  it('a deadlock whose victim is the booking request: 409 SEAT_BUSY, counted as a deadlock, nothing written', async () => {
    // A lock timeout longer than PostgreSQL's deadlock_timeout (1 s), so the detector decides.
    const s = await setup('10000');
    try {
      let answer: Awaited<ReturnType<typeof call>> | undefined;
      await s.adversary.transaction(async (trx) => {
        // Make the adversary the expensive transaction to roll back (InnoDB picks the cheaper victim),
        // then take the user row the hold's foreign-key check needs.
        await trx('seats').where({ schedule_id: s.schedule.scheduleId }).where('seat_no', '>', 100).update({ version: trx.raw('version + 1') });
        await rawRows(trx, 'SELECT id FROM users WHERE id = ? FOR UPDATE', [s.user.id]);
        const pending = call(s.api.url, 'POST', '/api/reservations', { token: s.user.token, body: { scheduleId: s.schedule.scheduleId, seatNo: 1 } });
        await sleep(300); // the hold now has the seat row and waits for the user row
        // The adversary asks for the seat: a cycle. One of the two is rolled back.
        await rawRows(trx, 'SELECT id FROM seats WHERE schedule_id = ? AND seat_no = 1 FOR UPDATE', [s.schedule.scheduleId]);
        answer = await pending;
      });
      expect(answer!.status).toBe(409);
      expect(answer!.body.error).toBe('SEAT_BUSY');
      expect(answer!.body.message).toContain('deadlock');
      expect(s.api.counters().deadlocks).toBe(1);
      expect((await seatRow(s.db, s.schedule.scheduleId, 1)).status).toBe('AVAILABLE');
      expect(Number((await s.db('reservations').count({ n: '*' }))[0]!.n)).toBe(0);
    } finally {
      await s.adversary.destroy();
    }
  });

  it('the connection killed while the request waits on a lock: 503 UNAVAILABLE, and the next request succeeds', async () => {
    const s = await setup();
    try {
      let answer: Awaited<ReturnType<typeof call>> | undefined;
      await s.adversary.transaction(async (trx) => {
        await rawRows(trx, 'SELECT id FROM seats WHERE schedule_id = ? AND seat_no = 1 FOR UPDATE', [s.schedule.scheduleId]);
        const pending = call(s.api.url, 'POST', '/api/reservations', { token: s.user.token, body: { scheduleId: s.schedule.scheduleId, seatNo: 1 } });
        await sleep(300);
        if (store === 'pg') {
          await rawRows(s.adversary, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND application_name = 'seatlab-pessimistic'`, [s.name]);
        } else {
          for (const id of mysqlConnectionIds.get('seatlab-pessimistic') ?? []) await s.adversary.raw(`KILL CONNECTION ${Number(id)}`).catch(() => undefined);
        }
        answer = await pending;
      });
      expect(answer!.status).toBe(503);
      expect(answer!.body.error).toBe('UNAVAILABLE');
      expect((await seatRow(s.db, s.schedule.scheduleId, 1)).status).toBe('AVAILABLE');
      const next = await call(s.api.url, 'POST', '/api/reservations', { token: s.user.token, body: { scheduleId: s.schedule.scheduleId, seatNo: 1 } });
      expect(next.status).toBe(201);
    } finally {
      await s.adversary.destroy();
    }
  });
});
