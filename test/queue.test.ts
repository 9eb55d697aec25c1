import http from 'node:http';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { signQueueToken } from '../src/core/tokens.js';
import { queueKeys } from '../src/queue/waiting-room.js';
import { call, freshDatabase, SECRET, startApi } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(queue: { maxActive: number; ratePerSec: number; activeTtlMs?: number }, users = 10) {
  const { url, db, name } = await freshDatabase();
  const schedule = await seedSchedule(db, { seats: 20, price: 5 });
  const seeded = await seedUsers(db, { count: users, secret: SECRET, balance: 100 });
  const api = await startApi(url, 'pessimistic', { queue: { activeTtlMs: 60_000, ...queue } });
  const redis = new Redis(inject('redisUrl'), { keyPrefix: `${name}:` });
  onTestFinished(() => void redis.disconnect());
  return { db, schedule, users: seeded, api, redis, k: queueKeys(schedule.scheduleId) };
}

const join = (base: string, token: string, scheduleId: number) => call(base, 'POST', '/api/queue/tokens', { token, body: { scheduleId } });
const status = (base: string, queueToken: string) => fetch(`${base}/api/queue/status`, { headers: { 'x-queue-token': queueToken } }).then(async (r) => ({ status: r.status, body: await r.json() }));

describe('waiting room', () => {
  it('joins in order with gap-free join numbers; joining twice keeps the place; tokens are bound and signed', async () => {
    const { schedule, users, api } = await setup({ maxActive: 1, ratePerSec: 1 }, 5);
    const places = [];
    for (const u of users) places.push((await join(api.url, u.token, schedule.scheduleId)).body);
    expect(places.map((p) => p.joinNumber)).toEqual([1, 2, 3, 4, 5]);
    // The first may already be ACTIVE (the admitter runs every 50 ms); the others wait in order.
    expect(places.slice(1).map((p) => p.status)).toEqual(['WAITING', 'WAITING', 'WAITING', 'WAITING']);
    const again = (await join(api.url, users[3]!.token, schedule.scheduleId)).body;
    expect(again.joinNumber).toBe(4);
    const st = await status(api.url, places[3].queueToken);
    expect(st.status).toBe(200);
    expect(st.body).toMatchObject({ status: 'WAITING', joinNumber: 4, etaSeconds: expect.any(Number) });
    expect(st.body.position).toBeGreaterThanOrEqual(3);
    expect((await status(api.url, signQueueToken('forged', users[0]!.id, schedule.scheduleId))).status).toBe(401);
    expect((await status(api.url, signQueueToken(SECRET, users[0]!.id, schedule.scheduleId, -5))).status).toBe(401);
    expect((await join(api.url, users[0]!.token, 99999)).status).toBe(404);
    expect((await call(api.url, 'POST', '/api/queue/tokens', { token: users[0]!.token, body: {} })).status).toBe(400);
  });

  it('admits in join order, never more than the rate per sliding second nor the active limit', async () => {
    const { schedule, users, api, redis, k } = await setup({ maxActive: 4, ratePerSec: 3, activeTtlMs: 400 }, 12);
    for (const u of users) await join(api.url, u.token, schedule.scheduleId);
    await sleep(3200);
    const admitted = await redis.zrange(k.admitted, 0, -1, 'WITHSCORES');
    const times: number[] = [];
    const order: number[] = [];
    for (let i = 0; i < admitted.length; i += 2) { order.push(Number(admitted[i]!.split(':')[1])); times.push(Number(admitted[i + 1])); }
    expect(times.length).toBeGreaterThanOrEqual(6);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    for (let i = 0; i < times.length; i++) expect(times.filter((t) => t >= times[i]! && t < times[i]! + 1000).length).toBeLessThanOrEqual(3);
    const released = await redis.zrange(k.released, 0, -1, 'WITHSCORES');
    const events: [number, number][] = times.map((t) => [t, +1]);
    for (let i = 0; i < released.length; i += 2) events.push([Number(released[i + 1]), -1]);
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let active = 0;
    for (const [, d] of events) { active += d; expect(active).toBeLessThanOrEqual(4); }
  });

  it('pushes status changes over Server-Sent Events until ACTIVE', async () => {
    const { schedule, users, api } = await setup({ maxActive: 1, ratePerSec: 1, activeTtlMs: 500 }, 3);
    const tokens = [];
    for (const u of users) tokens.push((await join(api.url, u.token, schedule.scheduleId)).body.queueToken);
    const events: { status: string; position: number }[] = [];
    await new Promise<void>((resolve, reject) => {
      http.get(`${api.url}/api/queue/events?token=${encodeURIComponent(tokens[2])}`, (res) => {
        expect(res.headers['content-type']).toContain('text/event-stream');
        let buf = '';
        res.on('data', (d) => {
          buf += d;
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = frame.split('\n').find((l) => l.startsWith('data: '));
            if (data) events.push(JSON.parse(data.slice(6)));
          }
        });
        res.on('end', () => resolve());
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(events.at(-1)!.status).toBe('ACTIVE');
    expect(events[0]!.status).toBe('WAITING');
    const positions = events.filter((e) => e.status === 'WAITING').map((e) => e.position);
    expect(positions).toEqual([...positions].sort((a, b) => b - a));
  });

  it('gates seats, holds and payments with NOT_ADMITTED; paying frees the slot for the next user', async () => {
    const { db, schedule, users, api, redis, k } = await setup({ maxActive: 1, ratePerSec: 50 }, 2);
    const [a, b] = users;
    const qa = (await join(api.url, a!.token, schedule.scheduleId)).body.queueToken;
    const qb = (await join(api.url, b!.token, schedule.scheduleId)).body.queueToken;
    await sleep(300);
    const hold = (token: string, q: string | undefined, seatNo: number) => fetch(`${api.url}/api/reservations`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(q ? { 'x-queue-token': q } : {}) },
      body: JSON.stringify({ scheduleId: schedule.scheduleId, seatNo }) }).then(async (r) => ({ status: r.status, body: await r.json() }));
    expect((await hold(a!.token, undefined, 1)).status).toBe(403);
    expect((await hold(b!.token, qb, 1)).body.error).toBe('NOT_ADMITTED');
    expect((await hold(b!.token, qa, 1)).body.error).toBe('NOT_ADMITTED');
    const seats = await fetch(`${api.url}/api/schedules/${schedule.scheduleId}/seats`, { headers: { authorization: `Bearer ${b!.token}` } });
    expect(seats.status).toBe(403);
    const held = await hold(a!.token, qa, 1);
    expect(held.status).toBe(201);
    const pay = (q?: string) => fetch(`${api.url}/api/payments`, { method: 'POST', headers: { authorization: `Bearer ${a!.token}`, 'content-type': 'application/json', 'idempotency-key': `p-${q ? 1 : 0}`, ...(q ? { 'x-queue-token': q } : {}) }, body: JSON.stringify({ reservationId: held.body.reservationId }) });
    expect((await pay()).status).toBe(403);
    const first = await pay(qa);
    expect(first.status).toBe(201);
    expect(await redis.zscore(k.active, String(a!.id))).toBeNull();
    // Replaying the key answers as the first time, although the turn is gone now.
    const replay = await pay(qa);
    expect(replay.status).toBe(201);
    expect(await replay.json()).toEqual(await first.json());
    await sleep(300);
    expect((await status(api.url, qb)).body.status).toBe('ACTIVE');
    expect((await hold(b!.token, qb, 2)).status).toBe(201);
    expect(Number((await db('reservations').count({ n: '*' }))[0]!.n)).toBe(2);
  });
});
