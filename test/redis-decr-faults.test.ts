import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { provisionRedis, type ProvisionedRedis } from '../src/infra/redis.js';
import { processAlive } from '../src/infra/postgres.js';
import { seedSchedule, seedUsers, type SeededUser } from '../src/db/seed.js';
import { checkSeats } from '../src/check/seats.js';
import { checkTickets } from '../src/check/tickets.js';
import { call, freshDatabase, SECRET, startApi } from './helpers.js';

// redis-decr against a Redis that is killed -9 and comes back empty in the middle of a sale, and
// against claims leaked by a process that died between its Redis claim and its database write.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RECONCILE_AFTER_MS = 3000;
/** How long a seat or ticket may be refused while PostgreSQL has it for sale: the reconciler's age plus two ticks. */
const GRACE_MS = RECONCILE_AFTER_MS + 2000;

/** An ephemeral redis-server of our own (never REDIS_URL: that one cannot be crashed). */
async function crashableRedis(): Promise<ProvisionedRedis> {
  const saved = process.env.REDIS_URL;
  delete process.env.REDIS_URL;
  try {
    const redis = await provisionRedis();
    onTestFinished(() => redis.stop());
    expect(redis.kind).toBe('embedded');
    return redis;
  } finally {
    if (saved !== undefined) process.env.REDIS_URL = saved;
  }
}

function client(url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  r.on('error', () => undefined);
  onTestFinished(() => void r.disconnect());
  return r;
}

interface Sample { start: number; status: number }

/**
 * 300 buyers arrive over 1.5 s; each tries random seats (or a ticket) up to 8 times, retries a
 * 503 after 50 ms, and cancels 40 % of what it gets (so releases happen during the outage too).
 * Redis is killed -9 at 700 ms and revived empty 300 ms later.
 */
/** Five holders cancel after the sale, so the re-sale check below always has something to sell. */
async function cancelSome(apiUrl: string, db: Knex, scheduleId: number, users: SeededUser[]): Promise<void> {
  const rows = (await db('reservations').where({ schedule_id: scheduleId, status: 'HELD' }).orderBy('id').limit(5).select('id', 'user_id')) as { id: number; user_id: number }[];
  for (const row of rows) {
    const token = users.find((u) => u.id === row.user_id)!.token;
    expect((await call(apiUrl, 'DELETE', `/api/reservations/${row.id}`, { token })).status).toBe(204);
  }
}

async function saleWithCrash(apiUrl: string, redis: ProvisionedRedis, users: SeededUser[], request: () => { path: string; body: unknown }) {
  const samples: Sample[] = [];
  let unknown = 0;
  const t0 = Date.now();
  const buyer = async (u: SeededUser) => {
    await sleep(Math.random() * 1500);
    for (let attempt = 0; attempt < 8; attempt++) {
      const req = request();
      const start = Date.now();
      let res;
      try {
        res = await call(apiUrl, 'POST', req.path, { token: u.token, body: req.body });
      } catch {
        unknown++;
        continue;
      }
      samples.push({ start, status: res.status });
      if (res.status === 503) await sleep(50);
      if (res.status !== 201) continue;
      if (Math.random() >= 0.4) return;
      await sleep(Math.random() * 100);
      const cancelled = await call(apiUrl, 'DELETE', `/api/reservations/${res.body.reservationId}`, { token: u.token });
      samples.push({ start: Date.now(), status: cancelled.status });
    }
  };
  const nemesis = async () => {
    await sleep(700);
    const oldPid = redis.pid;
    await redis.crash!();
    await sleep(300);
    await redis.revive!();
    expect(redis.pid).not.toBe(oldPid);
    return Date.now();
  };
  const [revivedAt] = await Promise.all([nemesis(), Promise.all(users.map(buyer))]);
  const count = (s: number) => samples.filter((x) => x.start >= t0 && x.status === s).length;
  return {
    ok: samples.filter((x) => x.status === 201).length,
    // A 500 after a database write began may or may not have written; count it as unknown.
    unknown: unknown + count(500),
    unavailable: count(503),
    // The client reconnects within a second (createRedisClient's back-off); allow 2 s.
    lateErrors: samples.filter((x) => x.start > revivedAt + 2000 && x.status >= 500),
  };
}

describe('crashable ephemeral Redis', () => {
  it('crash() kills the process; revive() starts an empty server on the same port with a new pid; stop() works after either', async () => {
    const redis = await crashableRedis();
    const r = client(redis.url);
    await r.set('k', 'v');
    const pid = redis.pid!;
    await redis.crash!();
    expect(() => process.kill(pid, 0)).toThrow();

    await redis.revive!();
    expect(redis.pid).toBeGreaterThan(0);
    expect(redis.pid).not.toBe(pid);
    expect(processAlive(redis.pid!)).toBe(true);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await client(redis.url).dbsize()).toBe(0);
    expect(Number(await readFile(path.join(redis.dataDir!, 'server.pid'), 'utf8'))).toBe(redis.pid);
    await expect(redis.revive!()).rejects.toThrow(/still running/);

    const revivedPid = redis.pid!;
    await redis.stop();
    expect(processAlive(revivedPid)).toBe(false);
    await expect(redis.revive!()).rejects.toThrow(/was stopped/);

    const other = await crashableRedis();
    await other.crash!();
    await other.stop();
  });
});

describe('redis-decr when Redis restarts empty mid-sale', () => {
  it('seats: 300 buyers × 50 seats, kill -9 + empty restart mid-load: nothing oversold, no 5xx after the restart, no seat stuck', async () => {
    const redis = await crashableRedis();
    const { url, db } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 50 });
    const users = await seedUsers(db, { count: 300, secret: SECRET });
    const [checker] = await seedUsers(db, { count: 1, secret: SECRET, prefix: 'checker-' });
    const api = await startApi(url, 'redis-decr', { redisUrls: [redis.url], strategyOptions: { reconcileAfterMs: String(RECONCILE_AFTER_MS) } });

    const run = await saleWithCrash(api.url, redis, users, () => ({ path: '/api/reservations', body: { scheduleId: schedule.scheduleId, seatNo: 1 + Math.floor(Math.random() * 50) } }));
    const check = await checkSeats(db, { scheduleId: schedule.scheduleId, okResponses: run.ok, unknownResponses: run.unknown });
    expect(check.oversold).toBe(0);
    expect(check.violations).toEqual([]);
    expect(run.lateErrors).toEqual([]);
    expect(api.counters().rebuilds).toBeGreaterThanOrEqual(2); // at start, and after the restart
    await cancelSome(api.url, db, schedule.scheduleId, users);

    // Every seat PostgreSQL has for sale must be sellable through the API within the grace period.
    const free = (await db('seats').where({ schedule_id: schedule.scheduleId, status: 'AVAILABLE' }).pluck('seat_no')) as number[];
    const deadline = Date.now() + GRACE_MS;
    const stuck: number[] = [];
    await Promise.all(free.map(async (seatNo) => {
      for (;;) {
        const res = await call(api.url, 'POST', '/api/reservations', { token: checker!.token, body: { scheduleId: schedule.scheduleId, seatNo } });
        if (res.status === 201) return;
        if (Date.now() > deadline) return void stuck.push(seatNo);
        await sleep(100);
      }
    }));
    expect(stuck).toEqual([]);
    process.stderr.write(`seats: ${run.ok} held, ${run.unavailable} answered 503, ${free.length} free seats re-sold after the load; counters ${JSON.stringify(api.counters())}\n`);
  });

  it('tickets: 300 buyers × 50 tickets, same fault: sold ≤ inventory, no 5xx after the restart, no ticket stuck', async () => {
    const redis = await crashableRedis();
    const { url, db } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 50 });
    const users = await seedUsers(db, { count: 300, secret: SECRET });
    const [checker] = await seedUsers(db, { count: 1, secret: SECRET, prefix: 'checker-' });
    const api = await startApi(url, 'redis-decr', { redisUrls: [redis.url], strategyOptions: { reconcileAfterMs: String(RECONCILE_AFTER_MS) } });

    const run = await saleWithCrash(api.url, redis, users, () => ({ path: '/api/reservations/general', body: { scheduleId: schedule.scheduleId } }));
    const check = await checkTickets(db, { scheduleId: schedule.scheduleId, okResponses: run.ok, unknownResponses: run.unknown, demandExceedsSupply: false });
    expect(check.oversold).toBe(0);
    expect(check.violations).toEqual([]);
    expect(run.lateErrors).toEqual([]);
    await cancelSome(api.url, db, schedule.scheduleId, users);

    const left = (await db('inventory').where({ schedule_id: schedule.scheduleId }).first('remaining')).remaining as number;
    const deadline = Date.now() + GRACE_MS;
    let bought = 0;
    while (bought < left && Date.now() <= deadline) {
      const res = await call(api.url, 'POST', '/api/reservations/general', { token: checker!.token, body: { scheduleId: schedule.scheduleId } });
      if (res.status === 201) bought++;
      else await sleep(100);
    }
    expect(bought).toBe(left);
    expect((await db('inventory').where({ schedule_id: schedule.scheduleId }).first('remaining')).remaining).toBe(0);
    process.stderr.write(`tickets: ${run.ok} held, ${run.unavailable} answered 503, ${left} left tickets re-sold after the load; counters ${JSON.stringify(api.counters())}\n`);
  });
});

describe('redis-decr reconciler and rebuild', () => {
  async function setup(seats: number) {
    const { url, db, name } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats });
    const users = await seedUsers(db, { count: 3, secret: SECRET });
    const r = client(inject('redisUrl'));
    const key = (k: string) => `${name}:seatlab:{s${schedule.scheduleId}}:${k}`;
    const redisNow = async () => {
      const [s, us] = await r.time();
      return String(Number(s) * 1000 + Math.floor(Number(us) / 1000));
    };
    return { url, db, schedule, users, r, key, redisNow };
  }

  it('releases a seat claim and a ticket claim leaked by a process killed before its database write', async () => {
    const { url, db, schedule, users, r, key, redisNow } = await setup(2);
    const api = await startApi(url, 'redis-decr', { strategyOptions: { reconcileAfterMs: String(RECONCILE_AFTER_MS) } });
    // What a process killed between its Redis claim and its PostgreSQL write leaves behind.
    await r.hset(key('claims'), '1', await redisNow());
    await r.hset(key('ticket-claims'), 'dead-1', await redisNow(), 'dead-2', await redisNow());
    await r.decrby(key('tickets'), 2);
    const leakedAt = Date.now();
    const seat = () => call(api.url, 'POST', '/api/reservations', { token: users[0]!.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } });
    const ticket = () => call(api.url, 'POST', '/api/reservations/general', { token: users[1]!.token, body: { scheduleId: schedule.scheduleId } });
    expect((await seat()).body.error).toBe('SEAT_TAKEN');
    expect((await ticket()).body.error).toBe('SOLD_OUT');
    expect((await db('seats').where({ schedule_id: schedule.scheduleId, seat_no: 1 }).first()).status).toBe('AVAILABLE');

    let seatAt = 0;
    let tickets = 0;
    while ((seatAt === 0 || tickets < 2) && Date.now() < leakedAt + GRACE_MS) {
      if (seatAt === 0 && (await seat()).status === 201) seatAt = Date.now();
      if (tickets < 2 && (await ticket()).status === 201) tickets++;
      await sleep(100);
    }
    expect(seatAt - leakedAt).toBeGreaterThanOrEqual(RECONCILE_AFTER_MS - 200);
    expect(seatAt).toBeGreaterThan(0);
    expect(tickets).toBe(2);
    expect(api.counters()).toMatchObject({ reconciledSeats: 1, reconciledTicketClaims: 2 });
    // checkSeats counts the two tickets against the seat capacity too; what matters here is the seat.
    const check = await checkSeats(db, { scheduleId: schedule.scheduleId, okResponses: 1 + tickets, unknownResponses: 0 });
    expect(check.oversold).toBe(0);
    expect(check.violationCounts['seat-sold-twice']).toBeUndefined();
  });

  it('walks the claims in batches: 267 claims leaked among 600 sold seats are given back over several ticks of 50; the sold seats\' claims stay', async () => {
    // More claims than a listpack holds (128), so HSCAN really pages: each tick reads one batch, not the whole hash.
    const { url, db, schedule, r, key, redisNow } = await setup(1000);
    const api = await startApi(url, 'redis-decr', { strategyOptions: { reconcileAfterMs: '200', reconcileIntervalMs: '50', reconcileBatch: '50' } });
    const sold = Array.from({ length: 600 }, (_, i) => i + 1);
    await db('seats').where({ schedule_id: schedule.scheduleId }).whereIn('seat_no', sold).update({ status: 'SOLD' });
    const stamp = await redisNow();
    const claims: string[] = [];
    for (let n = 1; n <= 1000; n++) if (n <= 600 || n % 3 !== 0) claims.push(String(n), stamp);
    await r.hset(key('claims'), ...claims);
    const leaked = 1000 - 600 - Math.floor(400 / 3);
    const deadline = Date.now() + 20_000;
    const seen: number[] = [];
    while (Date.now() < deadline) {
      const c = api.counters().reconciledSeats ?? 0;
      if (seen.at(-1) !== c) seen.push(c);
      if (c >= leaked) break;
      await sleep(20);
    }
    expect(api.counters().reconciledSeats).toBe(leaked);
    // The walk took several ticks: no single tick gave back everything.
    expect(seen.length).toBeGreaterThan(3);
    expect(await r.hlen(key('claims'))).toBe(600);
    expect((await r.hmget(key('claims'), '1', '600')).every((v) => v === stamp)).toBe(true);
  });

  it('an instance that starts later does not wipe claims another instance made (rebuild only if missing)', async () => {
    const { url, schedule, users, r, key, redisNow } = await setup(3);
    const first = await startApi(url, 'redis-decr');
    expect((await call(first.url, 'POST', '/api/reservations', { token: users[0]!.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } })).status).toBe(201);
    // A claim whose database write is still in flight in the first instance.
    const stamp = await redisNow();
    await r.hset(key('claims'), '2', stamp);

    const second = await startApi(url, 'redis-decr');
    expect(second.counters()).toMatchObject({ rebuilds: 0, rebuildsSkipped: 1 });
    expect(await r.hget(key('claims'), '2')).toBe(stamp);
    const res = await call(second.url, 'POST', '/api/reservations', { token: users[1]!.token, body: { scheduleId: schedule.scheduleId, seatNo: 2 } });
    expect(res.body.error).toBe('SEAT_TAKEN');
    expect(second.counters().dbAvoided).toBe(1);
  });
});
