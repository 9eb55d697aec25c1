import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { startInstances, type Instance } from '../src/load/instances.js';
import { driveClosed } from '../src/load/closed-driver.js';
import { startLinkHost, type LinkHost } from '../src/infra/link.js';
import { linkInstances, type InstanceLinks } from '../src/load/instance-links.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { checkSeats } from '../src/check/seats.js';
import { checkHistoryInDb } from '../src/check/history.js';
import { faults } from '../src/nemesis/index.js';
import type { NemesisTargets } from '../src/nemesis/types.js';
import { call, freshDatabase, SECRET } from './helpers.js';

// The faults that act on links, on real servers: a booking server's link to the database or to
// Redis really is cut (its requests hang while the other instance answers), healing really ends
// the cut, and the record says what the database held meanwhile. Also the hot seat across a
// network: links that add a round trip change the timing, never the number of winners.

const fault = (name: string) => faults.get(name)!;

let host: LinkHost | undefined;
async function linkHost(): Promise<LinkHost> {
  if (!host) {
    host = await startLinkHost();
    onTestFinished(async () => { await host?.close(); host = undefined; });
  }
  return host;
}

async function linkedFleet(strategy: string, n: number, latencyMs: number, redisUrls: string[] = [], strategyOptions: Record<string, string> = {}) {
  const db = await freshDatabase();
  const { scheduleId } = await seedSchedule(db.db, { seats: 20 });
  const h = await linkHost();
  const { links, configs } = await linkInstances(h, n, { databaseUrl: db.url, strategy, strategyOptions, tokenSecret: SECRET, poolSize: 5, redisUrls, redisKeyPrefix: `${db.name}:` }, { latencyMs, jitterMs: 0 });
  const instances = await startInstances(n, configs);
  onTestFinished(async () => { for (const i of instances) await i.stop(); });
  return { db, scheduleId, instances, links };
}

const targets = (t: { instances: Instance[]; links: InstanceLinks[]; dbName: string; redisUrls?: string[] }): NemesisTargets => ({
  instances: t.instances, links: t.links, redis: (t.redisUrls ?? []).map((url) => ({ url, kind: 'url', stop: async () => {} })), adminDbUrl: inject('pgUrl'), dbName: t.dbName, redisKeyPrefix: `${t.dbName}:`, lockTtlMs: 1000,
});

/** A hold that must not be answered within `ms` (its server is cut off), or its status. */
async function holdWithin(base: string, token: string, scheduleId: number, seatNo: number, ms: number): Promise<number | 'no answer'> {
  try {
    const res = await fetch(`${base}/api/reservations`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ scheduleId, seatNo }), signal: AbortSignal.timeout(ms) });
    return res.status;
  } catch {
    return 'no answer';
  }
}

describe('links between instances and stores', () => {
  for (const strategy of ['pessimistic', 'redlock'] as const) {
    it(`hot seat over 2 instances with --link-latency 1ms (${strategy}): exactly one winner, and the history agrees`, async () => {
      const redisUrls = strategy === 'redlock' ? [inject('redisUrl')] : [];
      const { instances, db, scheduleId } = await linkedFleet(strategy, 2, 1, redisUrls);
      const users = await seedUsers(db.db, { count: 60, secret: SECRET });
      const plan = { journeys: users.map((u) => ({ token: u.token, userId: u.id, attempts: [{ method: 'POST' as const, path: '/api/reservations', body: JSON.stringify({ scheduleId, seatNo: 1 }), meta: { op: 'hold' as const, scheduleId, seatNo: 1 } }] })) };
      const r = await driveClosed(plan, { urls: instances.map((i) => i.url), connections: 60 });
      expect(r.outcomes.ok).toBe(1);
      expect(r.outcomes.ok + r.outcomes.conflict).toBe(60);
      expect(r.instances!.map((i) => i.requests)).toEqual([30, 30]);
      const check = await checkSeats(db.db, { scheduleId, okResponses: 1, unknownResponses: 0 });
      expect(check.oversold).toBe(0);
      expect(await checkHistoryInDb(db.db, r.recorder.history, { scheduleId })).toMatchObject({ oversold: 0, unknown: 0, lostAcks: 0, unexplainedWrites: 0 });
    });
  }

  it('a link at 2 ms really slows a server\'s database round trips (a hold takes longer than through a 0 ms link)', async () => {
    const slow = await linkedFleet('pessimistic', 1, 2);
    const fast = await linkedFleet('pessimistic', 1, 0);
    const time = async (f: typeof slow) => {
      const [u] = await seedUsers(f.db.db, { count: 1, secret: SECRET });
      const t: number[] = [];
      for (let seat = 1; seat <= 10; seat++) {
        const t0 = performance.now();
        expect((await call(f.instances[0]!.url, 'POST', '/api/reservations', { token: u!.token, body: { scheduleId: f.scheduleId, seatNo: seat } })).status).toBe(201);
        t.push(performance.now() - t0);
      }
      return t.sort((a, b) => a - b)[5]!;
    };
    const [msSlow, msFast] = [await time(slow), await time(fast)];
    // A hold is several round trips to PostgreSQL (BEGIN, lock, write, COMMIT): at least 2 × 2 ms more.
    expect(msSlow - msFast).toBeGreaterThan(4);
  });
});

describe('faults on links act on the one instance they cut', () => {
  it('partition-db: the cut instance cannot finish a hold while the other can; its locks are held until healing, then released; the record says so', async () => {
    const { instances, db, scheduleId, links } = await linkedFleet('pessimistic', 2, 0);
    const users = await seedUsers(db.db, { count: 3, secret: SECRET });
    const active = await fault('partition-db').inject(targets({ instances, links, dbName: db.name }), 0);
    expect(active.applied).toBe(true);
    expect(active.target).toBe('instance 0 → database');
    expect(await holdWithin(instances[0]!.url, users[0]!.token, scheduleId, 1, 800)).toBe('no answer');
    expect(await holdWithin(instances[1]!.url, users[1]!.token, scheduleId, 2, 5000)).toBe(201);
    expect((await links[0]!.db.stats()).blackholed).toBe(true);
    const healed = await active.heal();
    expect(healed).toMatch(/healed, \d+ cut connection\(s\) closed/);
    expect(active.detail).toMatch(/at the cut \d+ server backend\(s\) in a transaction, \d+ waiting on a lock, \d+ transaction\/row lock\(s\) held/);
    // The cut instance recovers: a dead pooled connection may cost a 503, then holds succeed again.
    const statuses: number[] = [];
    for (let seat = 3; seat <= 10; seat++) statuses.push((await call(instances[0]!.url, 'POST', '/api/reservations', { token: users[2]!.token, body: { scheduleId, seatNo: seat } })).status);
    expect(statuses.every((s) => s === 201 || s === 503)).toBe(true);
    expect(statuses.slice(-2)).toEqual([201, 201]);
    expect(instances.every((i) => i.alive)).toBe(true);
  });

  it('partition-db while a row lock is held: the other instance waits behind it, and gets the seat once the cut transaction is rolled back', async () => {
    const { instances, db, scheduleId, links } = await linkedFleet('pessimistic', 2, 0);
    const [a, b] = await seedUsers(db.db, { count: 2, secret: SECRET });
    // Take the seat's row lock from outside on instance 0's side: a transaction through instance 0's own link.
    const { createDb } = await import('../src/db/knex.js');
    const viaLink = createDb({ url: links[0]!.db.rewrite(db.url), poolMax: 1, applicationName: 'seatlab-cut-client' });
    onTestFinished(() => viaLink.destroy().catch(() => undefined));
    const trx = await viaLink.transaction();
    await trx.raw('SELECT id FROM seats WHERE schedule_id = ? AND seat_no = 1 FOR UPDATE', [scheduleId]);
    const active = await fault('partition-db').inject(targets({ instances, links, dbName: db.name }), 0);
    expect(active.detail).toMatch(/at the cut [1-9]\d* server backend\(s\) in a transaction/);
    // Instance 1 queues behind the lock the cut client still holds.
    const waiting = holdWithin(instances[1]!.url, b!.token, scheduleId, 1, 15_000);
    expect(await Promise.race([waiting, new Promise((r) => setTimeout(() => r('still waiting'), 1000))])).toBe('still waiting');
    await active.heal();
    trx.rollback().catch(() => undefined);
    expect(await waiting).toBe(201);
    expect(a).toBeDefined();
  });

  it('partition-redis: the cut instance\'s Redis commands get no answer while the other instance holds seats; healing ends it', async () => {
    const redisUrl = inject('redisUrl');
    const { instances, db, scheduleId, links } = await linkedFleet('redlock', 2, 0, [redisUrl]);
    const users = await seedUsers(db.db, { count: 3, secret: SECRET });
    const active = await fault('partition-redis').inject(targets({ instances, links, dbName: db.name, redisUrls: [redisUrl] }), 0);
    expect(active.applied).toBe(true);
    expect(active.target).toMatch(/^instance 0 → Redis/);
    expect(await holdWithin(instances[0]!.url, users[0]!.token, scheduleId, 1, 800)).toBe('no answer');
    expect(await holdWithin(instances[1]!.url, users[1]!.token, scheduleId, 2, 5000)).toBe(201);
    expect(await active.heal()).toMatch(/healed; \d+ cut connection\(s\) closed/);
    let last: number | 'no answer' = 'no answer';
    for (let i = 0; i < 20 && last !== 201; i++) {
      last = await holdWithin(instances[0]!.url, users[2]!.token, scheduleId, 3 + i, 3000);
      if (last !== 201) await new Promise((r) => setTimeout(r, 200));
    }
    expect(last).toBe(201);
  });

  it('a fault on links with no links says it could not act', async () => {
    const none = await fault('partition-db').inject({ instances: [], redis: [], adminDbUrl: inject('pgUrl'), dbName: 'x' }, 0);
    expect(none.applied).toBe(false);
    expect(none.detail).toContain('without links');
  });
});

describe('expire-locks: a forward clock jump on Redis, simulated', () => {
  it('cuts every lock key of the run to 1 ms while it lasts and leaves other keys and other runs alone', async () => {
    const redisUrl = inject('redisUrl');
    const r = new Redis(redisUrl);
    onTestFinished(() => r.disconnect());
    const prefix = `seatlab_t_expire_${process.pid}:`;
    await r.set(`${prefix}seatlab:lock:{s1}:seat:1`, 'a', 'PX', 60_000);
    await r.set(`${prefix}seatlab:{s1}:seat-count`, '5');
    await r.set(`other_run:seatlab:lock:{s1}:seat:1`, 'b', 'PX', 60_000);
    onTestFinished(async () => { await r.del(`${prefix}seatlab:{s1}:seat-count`, 'other_run:seatlab:lock:{s1}:seat:1'); });
    const active = await fault('expire-locks').inject({ instances: [], redis: [{ url: redisUrl, kind: 'url', stop: async () => {} }], adminDbUrl: inject('pgUrl'), dbName: 'x', redisKeyPrefix: prefix }, 0);
    await new Promise((res) => setTimeout(res, 100));
    // A lock taken during the fault lives at most one sweep.
    await r.set(`${prefix}seatlab:lock:{s1}:seat:2`, 'c', 'PX', 60_000);
    await new Promise((res) => setTimeout(res, 100));
    const healed = await active.heal();
    expect(await r.exists(`${prefix}seatlab:lock:{s1}:seat:1`, `${prefix}seatlab:lock:{s1}:seat:2`)).toBe(0);
    expect(await r.get(`${prefix}seatlab:{s1}:seat-count`)).toBe('5');
    expect(await r.pttl('other_run:seatlab:lock:{s1}:seat:1')).toBeGreaterThan(50_000);
    expect(healed).toMatch(/^2 live lock\(s\) cut to 1 ms over \d+ sweeps$/);
  });
});
