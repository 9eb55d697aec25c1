import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Knex } from 'knex';
import { exportPlan } from '../src/cli/export.js';
import { UsageError } from '../src/cli/errors.js';
import { checkSeats } from '../src/check/seats.js';
import { scenarios } from '../scenarios/index.js';
import { createRng } from '../src/core/rng.js';
import { freshDatabase, startApi } from './helpers.js';

// The export is only a feature if Artillery really runs it: each case seeds a sale on a seatlab
// server through `bench export`, runs `artillery run` on the files as a child process, and holds
// Artillery's aggregated counters to the database's truth.

interface Report { aggregate: { counters: Record<string, number>; summaries: Record<string, { count: number }> } }

const ARTILLERY = path.resolve('node_modules/.bin/artillery');

async function exportTo(target: string, args: string[]): Promise<{ dir: string; scheduleId: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seatlab-artillery-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  let out = '';
  await exportPlan({ engine: 'artillery', target, out: dir, ...Object.fromEntries(args.map((a) => a.split('='))) }, { out: (t) => (out += t), err: () => undefined }, []);
  return { dir, scheduleId: (JSON.parse(out) as { scheduleId: number }).scheduleId };
}

/** `artillery run` on the export; its JSON report. Telemetry is off (this machine cannot reach it anyway). */
function runArtillery(dir: string, timeoutMs = 60_000): Promise<Report> {
  return new Promise((resolve, reject) => {
    const output = path.join(dir, 'artillery.json');
    const child = spawn(ARTILLERY, ['run', path.join(dir, 'script.yml'), '--output', output], { env: { ...process.env, ARTILLERY_DISABLE_TELEMETRY: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`artillery run timed out:\n${log}`)); }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`artillery run exited ${code}:\n${log}`));
      readFile(output, 'utf8').then((t) => resolve(JSON.parse(t) as Report), reject);
    });
  });
}

async function activeHolds(db: Knex, scheduleId: number): Promise<number> {
  const row = await db('reservations').where({ schedule_id: scheduleId }).whereIn('status', ['HELD', 'CONFIRMED']).count<{ n: string }[]>({ n: '*' });
  return Number(row[0]!.n);
}

describe('bench export --engine artillery, run by Artillery for real', () => {
  it('hot seat (20 users), and a flash sale (60 users, 10 seats) split over two workers, on pessimistic: Artillery\'s counters are the database\'s holds, nothing oversold', async () => {
    const { url, db } = await freshDatabase();
    const api = await startApi(url, 'pessimistic');
    const hot = await exportTo(api.url, ['scenario=hot-seat', 'users=20', 'seats=1']);
    const sale = await exportTo(api.url, ['scenario=flash-sale', 'users=60', 'seats=10', 'workers=2']);

    // The payload is the lab's plan: the same users in the same order with the same seat picks;
    // the two workers' payloads deal it out between them, every user exactly once.
    const plan = scenarios.get('flash-sale')!.workload!({ users: 60, seats: 10, connections: 64, seed: 42 }, createRng(42));
    const rows = async (file: string) => (await readFile(path.join(sale.dir, file), 'utf8')).trim().split('\n').slice(1).map((l) => l.split(','));
    const asked = plan.users.map((u) => [u.user, u.seats.join(';')]);
    expect((await rows('payload.csv')).map((r) => [Number(r[0]), r[3]])).toEqual(asked);
    const [w1, w2] = [await rows('workers/1/payload.csv'), await rows('workers/2/payload.csv')];
    expect([w1.length, w2.length]).toEqual([30, 30]);
    expect(new Set([...w1, ...w2].map((r) => r[0])).size).toBe(60);
    expect(await readFile(path.join(sale.dir, 'workers/1/script.yml'), 'utf8')).toContain('arrivalRate: 30');

    const [h, ...parts] = await Promise.all([runArtillery(hot.dir), runArtillery(path.join(sale.dir, 'workers/1')), runArtillery(path.join(sale.dir, 'workers/2'))]);
    // What a merge of the workers' reports has to do: add their counters.
    const counter = (name: string) => parts.reduce((sum, r) => sum + (r.aggregate.counters[name] ?? 0), 0);
    for (const r of [h, ...parts]) {
      expect(r.aggregate.counters['seatlab.users.repeated']).toBeUndefined();
      expect(r.aggregate.counters['seatlab.hold.error']).toBeUndefined();
      expect(r.aggregate.counters['seatlab.hold.timeout']).toBeUndefined();
    }
    expect(h.aggregate.counters['seatlab.users.arrived']).toBe(20);
    expect(counter('seatlab.users.arrived')).toBe(60);

    expect(h.aggregate.counters['seatlab.hold.ok']).toBe(1);
    expect(h.aggregate.counters['seatlab.hold.conflict']).toBe(19);
    expect(h.aggregate.summaries['seatlab.winners_ms']!.count).toBe(1);
    expect(h.aggregate.summaries['seatlab.losers_ms']!.count).toBe(19);
    const hotCheck = await checkSeats(db, { scheduleId: hot.scheduleId, okResponses: 1, unknownResponses: 0 });
    expect(hotCheck).toMatchObject({ oversold: 0, activeReservations: 1, violations: [] });

    // Every user has three seats to try among ten: the ten seats go, the other fifty users are refused.
    const ok = counter('seatlab.hold.ok');
    expect(ok).toBe(10);
    expect(await activeHolds(db, sale.scheduleId)).toBe(ok);
    expect(counter('seatlab.journeys.succeeded')).toBe(ok);
    expect(counter('seatlab.journeys.succeeded') + counter('seatlab.journeys.exhausted') + counter('seatlab.journeys.stopped')).toBe(60);
    const saleCheck = await checkSeats(db, { scheduleId: sale.scheduleId, okResponses: ok, unknownResponses: 0 });
    expect(saleCheck).toMatchObject({ oversold: 0, activeReservations: 10, seatsHeldOrSold: 10, violations: [] });
  }, 90_000);

  it('a usage error names every problem at once: no target, a scenario without a plan, an unknown engine', async () => {
    const err = await exportPlan({ engine: 'k6', scenario: 'journey', out: '/tmp/x' }, { out: () => undefined, err: () => undefined }, []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).problems).toEqual([
      '--engine: unknown engine "k6"; valid: artillery',
      '--scenario journey cannot be exported yet; use hot-seat, flash-sale, general-admission',
      '--target is required: the URL of a running `bench serve` (the export seeds the sale there, so the users\' tokens are real)',
    ]);
  });
});
