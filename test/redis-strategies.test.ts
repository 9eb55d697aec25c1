import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { provisionRedisNodes } from '../src/infra/redis.js';
import { createDb } from '../src/db/knex.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { checkSeats } from '../src/check/seats.js';
import { createRedisClient } from '../src/infra/redis-client.js';
import { redlock, type SeatClaim } from '../strategies/redlock.js';
import { call, freshDatabase, SECRET, startApi } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function hotSeat(apiUrl: string, tokens: string[], scheduleId: number, seatNo: number) {
  const rs = await Promise.all(tokens.map((token) => call(apiUrl, 'POST', '/api/reservations', { token, body: { scheduleId, seatNo } })));
  return rs.map((r) => r.status);
}

describe('redlock over 3 independent Redis servers', () => {
  it('grants exactly one hold per seat with 3 nodes, still with one node stopped (quorum 2 of 3), and answers 503 with two stopped', async () => {
    const nodes = await provisionRedisNodes({ urls: [], nodes: 3 });
    onTestFinished(async () => { for (const n of nodes) await n.stop(); });
    const { url, db } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 3 });
    const tokens = (await seedUsers(db, { count: 30, secret: SECRET })).map((u) => u.token);
    const api = await startApi(url, 'redlock', { redisUrls: nodes.map((n) => n.url), strategyOptions: { retryCount: '3' } });

    const before = await hotSeat(api.url, tokens, schedule.scheduleId, 1);
    expect(before.filter((s) => s === 201)).toHaveLength(1);
    expect(before.filter((s) => s !== 201 && s !== 409)).toEqual([]);

    await nodes[2]!.stop();
    const oneDown = await hotSeat(api.url, tokens, schedule.scheduleId, 2);
    expect(oneDown.filter((s) => s === 201)).toHaveLength(1);
    expect(oneDown.filter((s) => s !== 201 && s !== 409)).toEqual([]);

    await nodes[1]!.stop();
    const twoDown = await call(api.url, 'POST', '/api/reservations', { token: tokens[0], body: { scheduleId: schedule.scheduleId, seatNo: 3 } });
    expect(twoDown.status).toBe(503);
    expect(twoDown.body.error).toBe('UNAVAILABLE');
    expect(twoDown.body.message).toContain('quorum');

    const check = await checkSeats(db, { scheduleId: schedule.scheduleId, okResponses: 2, unknownResponses: 0 });
    expect(check.oversold).toBe(0);
    expect(check.violations).toEqual([]);
    expect(api.counters().quorumFailures).toBe(1);
  });
});

describe('redlock fencing', () => {
  async function leaseExpires(fencing: 'on' | 'off') {
    const { url, db } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 1 });
    const [a, b] = await seedUsers(db, { count: 2, secret: SECRET });
    const appDb = createDb({ url, poolMax: 4 });
    const r = createRedisClient(inject('redisUrl'), `${new URL(url).pathname.slice(1)}:`);
    await r.connect();
    onTestFinished(async () => { r.disconnect(); await appDb.destroy(); });
    const runtime = redlock.create({ db: appDb, redis: [r] }, { lockTtlMs: '200', retryCount: '0', waitRetryCount: '0', retryDelayMs: '10', retryJitterMs: '0', fencing });
    const cmd = (userId: number) => ({ userId, scheduleId: schedule.scheduleId, seatNo: 1, holdTtlMs: 60_000 });

    // Holder A takes the lock and its fencing token, then stalls (a GC pause, a slow network) past its lease.
    const claimA = (await runtime.claimSeat(cmd(a!.id))) as SeatClaim;
    expect(claimA.token).toBeGreaterThan(0);
    await sleep(300);
    // Holder B gets the lock legitimately and writes.
    const byB = await runtime.hold(cmd(b!.id));
    expect(byB.kind).toBe('held');
    // A wakes up and writes with its old token.
    const byA = await claimA.write();
    await claimA.release();
    const ok = [byA, byB].filter((o) => o.kind === 'held').length;
    const check = await checkSeats(db, { scheduleId: schedule.scheduleId, okResponses: ok, unknownResponses: 0 });
    return { byA, check, counters: runtime.counters() };
  }

  it('with fencing on, the holder whose lease expired cannot write over the newer holder', async () => {
    const { byA, check, counters } = await leaseExpires('on');
    expect(byA.kind).toBe('taken');
    expect(check.oversold).toBe(0);
    expect(check.violations).toEqual([]);
    expect(counters.fenceRejections).toBe(1);
    expect(counters.leaseLost).toBe(1);
  });

  it('with fencing off, the same schedule of events double-books the seat', async () => {
    const { byA, check, counters } = await leaseExpires('off');
    expect(byA.kind).toBe('held');
    expect(check.oversold).toBe(1);
    expect(check.violationCounts['seat-sold-twice']).toBe(1);
    expect(counters.fenceRejections).toBe(0);
  });
});

describe('redis-decr', () => {
  it('gives the Redis claim back when the database write fails, so the seat can still be sold', async () => {
    const { url, db, name } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 5 });
    const [unlucky, next] = await seedUsers(db, { count: 2, secret: SECRET });
    // Test hook: a real PostgreSQL trigger makes the reservation insert fail for one user.
    await db.raw(`CREATE FUNCTION fail_for_user() RETURNS trigger AS $$ BEGIN
        IF NEW.user_id = ${Number(unlucky!.id)} THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
      CREATE TRIGGER fail_for_user BEFORE INSERT ON reservations FOR EACH ROW EXECUTE FUNCTION fail_for_user();`);
    const api = await startApi(url, 'redis-decr');
    const r = new Redis(inject('redisUrl'));
    onTestFinished(() => void r.disconnect());
    const key = (k: string) => `${name}:seatlab:{s${schedule.scheduleId}}:${k}`;
    // Seats left = seat-count minus the claims hash (seatNo → claim time).
    expect(await r.get(key('seat-count'))).toBe('5');
    expect(await r.hlen(key('claims'))).toBe(0);

    const failed = await call(api.url, 'POST', '/api/reservations', { token: unlucky!.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } });
    expect(failed.status).toBe(500);
    expect(await r.hexists(key('claims'), '1')).toBe(0);
    expect(await r.hlen(key('claims'))).toBe(0);
    expect((await db('seats').where({ schedule_id: schedule.scheduleId, seat_no: 1 }).first()).status).toBe('AVAILABLE');

    const sold = await call(api.url, 'POST', '/api/reservations', { token: next!.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } });
    expect(sold.status).toBe(201);
    expect(await r.hlen(key('claims'))).toBe(1);

    const failedTicket = await call(api.url, 'POST', '/api/reservations/general', { token: unlucky!.token, body: { scheduleId: schedule.scheduleId } });
    expect(failedTicket.status).toBe(500);
    expect(await r.get(key('tickets'))).toBe('5');
    expect(api.counters()).toMatchObject({ compensations: 2, compensationFailures: 0 });
  });

  it('answers taken seats and sold-out schedules without the database, which it rebuilt its state from', async () => {
    const { url, db, name } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 2 });
    const users = await seedUsers(db, { count: 3, secret: SECRET });
    // State that exists before the server starts must be in Redis after it starts.
    await db('seats').where({ schedule_id: schedule.scheduleId, seat_no: 2 }).update({ status: 'HELD', holder_user_id: users[2]!.id });
    await db('reservations').insert({ user_id: users[2]!.id, schedule_id: schedule.scheduleId, seat_no: 2, status: 'HELD', amount: 100, expires_at: new Date(Date.now() + 60_000) });
    await db('inventory').where({ schedule_id: schedule.scheduleId }).update({ remaining: 0 });
    const api = await startApi(url, 'redis-decr');
    expect((await call(api.url, 'POST', '/api/reservations', { token: users[0]!.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } })).status).toBe(201);

    // Now take the database away: the server's connections are closed and new ones refused.
    const admin = createDb({ url: inject('pgUrl'), poolMax: 1 });
    onTestFinished(async () => {
      await admin.raw(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      await admin.destroy();
    });
    await admin.raw(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
    await admin.raw(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ?`, [name]);

    const t = users[1]!.token;
    for (const seatNo of [1, 2]) {
      const r = await call(api.url, 'POST', '/api/reservations', { token: t, body: { scheduleId: schedule.scheduleId, seatNo } });
      expect(r.status).toBe(409);
      expect(r.body.error).toBe('SEAT_TAKEN');
    }
    const ticket = await call(api.url, 'POST', '/api/reservations/general', { token: t, body: { scheduleId: schedule.scheduleId } });
    expect(ticket.status).toBe(409);
    expect(ticket.body.error).toBe('SOLD_OUT');
    const notFound = await call(api.url, 'POST', '/api/reservations', { token: t, body: { scheduleId: schedule.scheduleId, seatNo: 3 } });
    expect(notFound.status).toBe(404);
    expect(api.counters().dbAvoided).toBe(4);
  });
});
