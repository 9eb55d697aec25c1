import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { startInstances, type Instance } from '../src/load/instances.js';
import { driveClosed } from '../src/load/closed-driver.js';
import { provisionRedisNodes } from '../src/infra/redis.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { checkSeats } from '../src/check/seats.js';
import { checkHistoryInDb } from '../src/check/history.js';
import { processState } from '../src/nemesis/pause-instance.js';
import { faults } from '../src/nemesis/index.js';
import { startNemesis } from '../src/nemesis/schedule.js';
import type { NemesisTargets } from '../src/nemesis/types.js';
import { call, freshDatabase, SECRET } from './helpers.js';

// Every fault is a real operating-system action: these tests check that the process really was
// stopped, killed and started again, that Redis really came back empty, and that PostgreSQL
// backends really were terminated — and that the record says so.

const fault = (name: string) => faults.get(name)!;
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

async function fleet(strategy: string, n: number, redisUrls: string[] = []): Promise<{ instances: Instance[]; db: Awaited<ReturnType<typeof freshDatabase>>; scheduleId: number }> {
  const db = await freshDatabase();
  const { scheduleId } = await seedSchedule(db.db, { seats: 20 });
  const instances = await startInstances(n, { databaseUrl: db.url, strategy, tokenSecret: SECRET, poolSize: 5, redisUrls, redisKeyPrefix: `${db.name}:` });
  onTestFinished(async () => { for (const i of instances) await i.stop(); });
  return { instances, db, scheduleId };
}

const targets = (t: Partial<NemesisTargets> & { dbName: string }): NemesisTargets => ({ instances: [], redis: [], adminDbUrl: inject('pgUrl'), ...t });

describe('--instances: several server processes on one database', () => {
  it('hot seat over 2 instances: exactly one winner, both instances served, and the history agrees with the database', async () => {
    const { instances, db, scheduleId } = await fleet('pessimistic', 2);
    expect(new Set(instances.map((i) => i.pid)).size).toBe(2);
    const users = await seedUsers(db.db, { count: 60, secret: SECRET });
    const plan = { journeys: users.map((u) => ({ token: u.token, userId: u.id, attempts: [{ method: 'POST' as const, path: '/api/reservations', body: JSON.stringify({ scheduleId, seatNo: 1 }), meta: { op: 'hold' as const, scheduleId, seatNo: 1 } }] })) };
    const r = await driveClosed(plan, { urls: instances.map((i) => i.url), connections: 60 });
    expect(r.outcomes.ok).toBe(1);
    expect(r.outcomes.conflict).toBe(59);
    expect(r.instances!.map((i) => i.requests)).toEqual([30, 30]);
    const check = await checkSeats(db.db, { scheduleId, okResponses: 1, unknownResponses: 0 });
    expect(check.oversold).toBe(0);
    expect(check.violations).toEqual([]);
    const hist = await checkHistoryInDb(db.db, r.recorder.history, { scheduleId });
    expect(hist).toMatchObject({ oversold: 0, unknown: 0, lostAcks: 0, unexplainedWrites: 0 });
    expect(r.recorder.history.filter((op) => op.outcome === 'ok')).toHaveLength(1);
  });
});

describe('nemesis faults act on real processes and servers', () => {
  it('pause-instance: SIGSTOP really stops the process (state T) until SIGCONT', async () => {
    const { instances, db } = await fleet('pessimistic', 2);
    const active = await fault('pause-instance').inject(targets({ instances, dbName: db.name }), 1);
    const pid = instances[1]!.pid;
    expect(active.target).toContain(`pid ${pid}`);
    expect(active.detail).toContain('process state T');
    expect(await processState(pid)).toBe('T');
    // A stopped server answers nothing; the other instance still does.
    await expect(fetch(`${instances[1]!.url}/healthz`, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    expect((await fetch(`${instances[0]!.url}/healthz`)).status).toBe(200);
    await active.heal();
    expect(await processState(pid)).not.toBe('T');
    expect((await fetch(`${instances[1]!.url}/healthz`)).status).toBe(200);
  });

  it('kill-instance: SIGKILL ends the process; healing starts a new one on the same port', async () => {
    const { instances, db } = await fleet('pessimistic', 1);
    const before = instances[0]!.pid;
    const active = await fault('kill-instance').inject(targets({ instances, dbName: db.name }), 0);
    expect(alive(before)).toBe(false);
    await expect(fetch(`${instances[0]!.url}/healthz`)).rejects.toThrow();
    const healed = await active.heal();
    expect(instances[0]!.pid).not.toBe(before);
    expect(healed).toContain(`pid ${instances[0]!.pid}`);
    expect(instances[0]!.restarts).toBe(1);
    expect((await fetch(`${instances[0]!.url}/healthz`)).status).toBe(200);
  });

  it('restart-redis: kill -9, then the same port answers again with an empty server', async () => {
    const [node] = await provisionRedisNodes({ urls: [], nodes: 1 });
    onTestFinished(() => node!.stop());
    const r = new Redis(node!.url);
    onTestFinished(() => r.disconnect());
    await r.set('k', 'v');
    const before = node!.pid!;
    const active = await fault('restart-redis').inject(targets({ redis: [node!], dbName: 'x' }), 0);
    expect(active.detail).toContain(`kill -9 pid ${before}`);
    expect(alive(before)).toBe(false);
    await active.heal();
    expect(node!.pid).not.toBe(before);
    const fresh = new Redis(node!.url);
    onTestFinished(() => fresh.disconnect());
    expect(await fresh.dbsize()).toBe(0);
  });

  it('stop-redis-minority: 1 of 3 servers down for the fault, back (empty) after; with 1 server it says it cannot act', async () => {
    const nodes = await provisionRedisNodes({ urls: [], nodes: 3 });
    onTestFinished(async () => { for (const n of nodes) await n.stop(); });
    const pids = nodes.map((n) => n.pid!);
    const active = await fault('stop-redis-minority').inject(targets({ redis: nodes, dbName: 'x' }), 0);
    expect(pids.filter(alive)).toHaveLength(2);
    await active.heal();
    expect(nodes.map((n) => n.pid!).filter(alive)).toHaveLength(3);
    const none = await fault('stop-redis-minority').inject(targets({ redis: [nodes[0]!], dbName: 'x' }), 0);
    expect(none.applied).toBe(false);
    expect(none.detail).toContain('--redis-nodes 3');
  });

  it('kill-db-connections: the servers\' backends are terminated, and the servers recover without crashing', async () => {
    const { instances, db, scheduleId } = await fleet('pessimistic', 2);
    const [u] = await seedUsers(db.db, { count: 1, secret: SECRET });
    const active = await fault('kill-db-connections').inject(targets({ instances, dbName: db.name }), 0);
    // Two instances with a warm pool of 5 each.
    expect(active.detail).toMatch(/terminated 10 backends/);
    // The first requests may meet a dead connection (503, never a crash); the pool then recovers.
    const statuses: number[] = [];
    for (let seatNo = 1; seatNo <= 12; seatNo++) statuses.push((await call(instances[seatNo % 2]!.url, 'POST', '/api/reservations', { token: u!.token, body: { scheduleId, seatNo } })).status);
    expect(statuses.every((s) => s === 201 || s === 503)).toBe(true);
    expect(statuses.slice(-2)).toEqual([201, 201]);
    expect(instances.every((i) => i.alive && alive(i.pid))).toBe(true);
  });

  it('the schedule records every injection with start, end and target, and heals what is in force when stopped', async () => {
    const { instances, db } = await fleet('pessimistic', 2);
    const t0 = performance.now();
    const n = startNemesis({ fault: fault('pause-instance'), everyMs: 400, forMs: 200, firstMs: 100 }, targets({ instances, dbName: db.name }), () => performance.now() - t0);
    await new Promise((r) => setTimeout(r, 1000));
    const events = await n.stop();
    expect(events.length).toBeGreaterThanOrEqual(2);
    for (const e of events) {
      expect(e.fault).toBe('pause-instance');
      expect(e.applied).toBe(true);
      expect(e.endMs - e.startMs).toBeGreaterThanOrEqual(195);
      expect(e.detail).toMatch(/SIGSTOP pid \d+ \(process state T\); SIGCONT/);
    }
    expect(events[0]!.startMs).toBeGreaterThanOrEqual(95);
    expect(instances.every((i) => !i.paused)).toBe(true);
  });
});
