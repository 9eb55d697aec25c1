import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { relayOnce, EVENTS_STREAM } from '../src/events/relay.js';
import { DEAD_LETTER_STREAM, EventConsumer, type StreamEvent } from '../src/events/consumer.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { call, freshDatabase, freshDatabaseOn, SECRET, startApi, STORES } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function redisFor(name: string) {
  const r = new Redis(inject('redisUrl'), { keyPrefix: `${name}:` });
  onTestFinished(() => void r.disconnect());
  return r;
}

async function streamEvents(r: Redis, key = EVENTS_STREAM) {
  const entries = (await r.xrange(key, '-', '+')) as [string, string[]][];
  return entries.map(([, f]) => Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i], f[2 * i + 1]])) as Record<string, string>);
}

describe.each(STORES)('outbox relay on %s', (store) => {
  it('publishes committed events in commit order per reservation, and nothing for a rolled-back transaction', async () => {
    const { url, db, name } = await freshDatabaseOn(store);
    const schedule = await seedSchedule(db, { seats: 5, price: 10 });
    const [u] = await seedUsers(db, { count: 1, secret: SECRET, balance: 100 });
    const api = await startApi(url, 'pessimistic', { relayIntervalMs: 50 });
    const held = await call(api.url, 'POST', '/api/reservations', { token: u!.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } });
    const rid = held.body.reservationId;
    await fetch(`${api.url}/api/payments`, { method: 'POST', headers: { authorization: `Bearer ${u!.token}`, 'content-type': 'application/json', 'idempotency-key': 'e1' }, body: JSON.stringify({ reservationId: rid }) });
    const held2 = await call(api.url, 'POST', '/api/reservations', { token: u!.token, body: { scheduleId: schedule.scheduleId, seatNo: 2 } });
    await call(api.url, 'DELETE', `/api/reservations/${held2.body.reservationId}`, { token: u!.token });
    // A transaction that writes an event and rolls back.
    await db.transaction(async (trx) => {
      await trx('outbox').insert({ aggregate_type: 'reservation', aggregate_id: 999, event_type: 'reservation.held', payload: '{}' });
      throw new Error('rollback');
    }).catch(() => undefined);
    const r = await redisFor(name);
    let events: Record<string, string>[] = [];
    for (let i = 0; i < 40 && events.length < 5; i++) { await sleep(50); events = await streamEvents(r); }
    const forRid = events.filter((e) => Number(e.aggregateId) === rid).map((e) => e.type);
    expect(forRid).toEqual(['reservation.held', 'reservation.confirmed', 'payment.completed']);
    expect(events.filter((e) => Number(e.aggregateId) === held2.body.reservationId).map((e) => e.type)).toEqual(['reservation.held', 'reservation.cancelled']);
    expect(events.some((e) => e.aggregateId === '999')).toBe(false);
    expect(events.map((e) => Number(e.outboxId))).toEqual([...events.map((e) => Number(e.outboxId))].sort((a, b) => a - b));
    expect(Number((await db('outbox').whereNull('published_at').count({ n: '*' }))[0]!.n)).toBe(0);
  });

  it('relays at most once at a time and republishes nothing already marked', async () => {
    const { db, name } = await freshDatabaseOn(store);
    await db('outbox').insert(Array.from({ length: 30 }, (_, i) => ({ aggregate_type: 'reservation', aggregate_id: i, event_type: 'reservation.held', payload: '{}' })));
    const r = await redisFor(name);
    const counts = await Promise.all([relayOnce(db, r), relayOnce(db, r), relayOnce(db, r)]);
    const again = await relayOnce(db, r);
    expect(counts.reduce((a, b) => a + b, 0) + again).toBe(30);
    expect(await r.xlen(EVENTS_STREAM)).toBe(30);
  });
});

describe('example consumer', () => {
  it('acknowledges handled events, retries a failing one 3 times, then moves it to the dead-letter stream', async () => {
    const { db, name } = await freshDatabase();
    await db('outbox').insert([
      { aggregate_type: 'reservation', aggregate_id: 1, event_type: 'reservation.held', payload: { n: 1 } },
      { aggregate_type: 'reservation', aggregate_id: 2, event_type: 'payment.completed', payload: { n: 2 } },
      { aggregate_type: 'reservation', aggregate_id: 3, event_type: 'reservation.held', payload: { n: 3 } },
    ]);
    const r = await redisFor(name);
    await relayOnce(db, r);
    const calls: Record<number, number> = {};
    const handler = async (e: StreamEvent) => {
      calls[e.aggregateId] = (calls[e.aggregateId] ?? 0) + 1;
      if (e.type === 'payment.completed') throw new Error('mail server down');
    };
    const consumer = new EventConsumer(r, handler, { group: 'mailer', consumer: 'c1', retryDelayMs: 5 });
    await consumer.ensureGroup();
    while ((await consumer.pollOnce()) > 0) { /* drain */ }
    expect(calls).toEqual({ 1: 1, 2: 4, 3: 1 });
    expect(consumer.counters).toEqual({ handled: 2, retried: 3, deadLettered: 1 });
    const dead = await streamEvents(r, DEAD_LETTER_STREAM);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ type: 'payment.completed', aggregateId: '2', error: 'mail server down', attempts: '4' });
    const pending = (await r.xpending(EVENTS_STREAM, 'mailer')) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
  });
});
