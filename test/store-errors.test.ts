import { describe, expect, it, onTestFinished } from 'vitest';
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
    onTestFinished(() => adversary.destroy());
    const s = { ...fresh, schedule, user: u!, api, adversary };
    return {
      ...s,
      holdSeat1: () => call(api.url, 'POST', '/api/reservations', { token: s.user.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } }),
      lockSeat1: (trx: Knex.Transaction) => rawRows(trx, 'SELECT id FROM seats WHERE schedule_id = ? AND seat_no = 1 FOR UPDATE', [schedule.scheduleId]),
    };
  }
  /** The refused request left no trace: seat 1 still AVAILABLE, no reservation. */
  async function expectNothingWritten(db: Knex, scheduleId: number) {
    expect((await db('seats').where({ schedule_id: scheduleId, seat_no: 1 }).first('status')).status).toBe('AVAILABLE');
    expect(Number((await db('reservations').count({ n: '*' }))[0]!.n)).toBe(0);
  }

  it('a row lock held past the lock timeout: 409 SEAT_BUSY, counted, nothing written', async () => {
    const s = await setup();
    const answer = await s.adversary.transaction(async (trx) => {
      await s.lockSeat1(trx);
      return s.holdSeat1();
    });
    expect(answer.status).toBe(409);
    expect(answer.body.error).toBe('SEAT_BUSY');
    expect(s.api.counters().lockFailures).toBe(1);
    await expectNothingWritten(s.db, s.schedule.scheduleId);
  });

  it('a deadlock whose victim is the booking request: 409 SEAT_BUSY, counted as a deadlock, nothing written', async () => {
    // A lock timeout longer than PostgreSQL's deadlock_timeout (1 s), so the detector decides.
    const s = await setup('10000');
    const answer = await s.adversary.transaction(async (trx) => {
      // Make the adversary the expensive transaction to roll back (InnoDB picks the cheaper victim),
      // then take the user row the hold's foreign-key check needs.
      await trx('seats').where({ schedule_id: s.schedule.scheduleId }).where('seat_no', '>', 100).update({ version: trx.raw('version + 1') });
      await rawRows(trx, 'SELECT id FROM users WHERE id = ? FOR UPDATE', [s.user.id]);
      const pending = s.holdSeat1();
      await sleep(300); // the hold now has the seat row and waits for the user row
      // The adversary asks for the seat: a cycle. One of the two is rolled back.
      await s.lockSeat1(trx);
      return pending;
    });
    expect(answer.status).toBe(409);
    expect(answer.body.error).toBe('SEAT_BUSY');
    expect(answer.body.message).toContain('deadlock');
    expect(s.api.counters().deadlocks).toBe(1);
    await expectNothingWritten(s.db, s.schedule.scheduleId);
  });

  it('the connection killed while the request waits on a lock: 503 UNAVAILABLE, and the next request succeeds', async () => {
    const s = await setup();
    const answer = await s.adversary.transaction(async (trx) => {
      await s.lockSeat1(trx);
      const pending = s.holdSeat1();
      await sleep(300);
      if (store === 'pg') {
        await rawRows(s.adversary, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND application_name = 'seatlab-pessimistic'`, [s.name]);
      } else {
        for (const id of mysqlConnectionIds.get('seatlab-pessimistic') ?? []) await s.adversary.raw(`KILL CONNECTION ${Number(id)}`).catch(() => undefined);
      }
      return pending;
    });
    expect(answer.status).toBe(503);
    expect(answer.body.error).toBe('UNAVAILABLE');
    await expectNothingWritten(s.db, s.schedule.scheduleId);
    expect((await s.holdSeat1()).status).toBe(201);
  });
});
