import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Knex } from 'knex';
import { exportPlan } from '../src/cli/export.js';
import { UsageError } from '../src/cli/errors.js';
import { checkSeats } from '../src/check/seats.js';
import { scenarios } from '../scenarios/index.js';
import { createRng } from '../src/core/rng.js';
import { freshDatabase, runBench, startApi } from './helpers.js';
import { checkSale } from '../src/cli/check.js';
import type { Report as LabReport } from '../src/report/schema.js';

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

/** `artillery run` on the export; its JSON report. Telemetry is off, and its one event on exit is not sent (test/no-telemetry.cjs). */
function runArtillery(dir: string, timeoutMs = 60_000): Promise<Report> {
  return new Promise((resolve, reject) => {
    const output = path.join(dir, 'artillery.json');
    const child = spawn(ARTILLERY, ['run', path.join(dir, 'script.yml'), '--output', output], { env: { ...process.env, ARTILLERY_DISABLE_TELEMETRY: 'true', NODE_OPTIONS: `--require ${path.resolve('test/no-telemetry.cjs')}` }, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** bench check in this process; its exit code and the report it wrote. */
async function check(args: string[]): Promise<{ code: number; report: LabReport }> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'seatlab-check-'));
  onTestFinished(() => rm(out, { recursive: true, force: true }));
  const raw: Record<string, unknown> = { out, json: true };
  for (let i = 0; i < args.length; i += 2) {
    const key = args[i]!.slice(2).replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    raw[key] = key === 'engineReport' ? [...((raw[key] as string[] | undefined) ?? []), args[i + 1]] : args[i + 1];
  }
  let json = '';
  const code = await checkSale(raw, { out: (t) => (json += t), err: () => undefined }, args);
  return { code, report: JSON.parse(json) as LabReport };
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

    // bench check on the two workers' reports and their histories (one file per worker, merged):
    // the history is the counters' operations one by one, and every check ran.
    const checked = await check(['--scenario', 'flash-sale', '--database-url', url, '--history', path.join(sale.dir, 'history'),
      '--engine-report', path.join(sale.dir, 'workers/1/artillery.json'), '--engine-report', path.join(sale.dir, 'workers/2/artillery.json'), '--target', api.url]);
    expect(checked.code).toBe(0);
    const r = checked.report.results[0]!;
    expect(r.history?.ops).toBe(counter('seatlab.hold.ok') + counter('seatlab.hold.conflict'));
    expect(r).toMatchObject({ oversold: 0, verdict: 'pass', outcomes: { ok: 10 }, journeys: { total: 60, succeeded: 10 }, liveness: { available: 0, stuck: 0 } });
    expect(r.engine).toMatchObject({ requests: r.requests, outcomes: { ok: 10 }, users: { arrived: 60, repeated: 0 } });
    expect(r.engine!.merged).toMatch(/^2 reports: counters added/);
    expect(r.checks!.filter((c) => !c.ran)).toEqual([]);
    expect(checked.report.scenario.params).toMatchObject({ users: 60, seats: 10, seed: 42 });
  }, 90_000);

  it('bench check finds what it must: a crafted double hold (oversold, unexplained write) and a lost acknowledgement; the lab\'s own driver gets the same holds as Artillery', async () => {
    const { url, db } = await freshDatabase();
    const api = await startApi(url, 'pessimistic');
    const sale = await exportTo(api.url, ['scenario=flash-sale', 'users=200', 'seats=20']);
    const engine = await runArtillery(sale.dir);
    const history = path.join(sale.dir, 'history');
    const args = ['--scenario', 'flash-sale', '--database-url', url, '--history', history, '--engine-report', path.join(sale.dir, 'artillery.json')];
    const clean = await check(args);
    expect(clean.code).toBe(0);
    const r = clean.report.results[0]!;
    expect(r).toMatchObject({ oversold: 0, verdict: 'pass', outcomes: { ok: 20 }, history: { lostAcks: 0, unexplainedWrites: 0 } });
    expect(engine.aggregate.counters['seatlab.hold.ok']).toBe(20);
    // The engine's time to sell out and the history's are the same operations seen from two sides.
    expect(Math.abs(r.engine!.timeToSelloutMs! - r.sale!.timeToSelloutMs!)).toBeLessThan(250);
    // Without the history only the database's invariants are left, and the report says which checks did not run.
    const blind = await check(['--scenario', 'flash-sale', '--database-url', url, '--schedule', String(sale.scheduleId)]);
    expect(blind.code).toBe(0);
    expect(blind.report.results[0]!.checks!.filter((c) => !c.ran).map((c) => c.check)).toEqual([
      'acknowledged holds against the reservations written', 'liveness (what the database has available can still be held through the API)',
      'lost acknowledgements and unexplained writes (each answer against the database)',
      'who got the seats, seat order, latency by outcome, time to sell out (from what the clients saw)', 'the engine\'s own figures']);

    // A second active hold on a held seat, written behind the API's back: every check that can see it must.
    const held = await db('reservations').where({ schedule_id: sale.scheduleId, status: 'HELD' }).orderBy('id').first();
    const other = await db('users').whereNot({ id: held.user_id }).orderBy('id', 'desc').first('id');
    await db('reservations').insert({ user_id: other.id, schedule_id: sale.scheduleId, seat_no: held.seat_no, status: 'HELD', amount: held.amount, expires_at: held.expires_at });
    const doubled = await check(args);
    expect(doubled.code).toBe(3);
    expect(doubled.report.results[0]).toMatchObject({ oversold: 1, verdict: 'fail', history: { unexplainedWrites: 1 } });
    expect(doubled.report.results[0]!.violationCounts).toMatchObject({ 'seat-sold-twice': 1, 'unexplained-write': 1 });
    const blindDoubled = await check(['--scenario', 'flash-sale', '--database-url', url, '--schedule', String(sale.scheduleId)]);
    expect(blindDoubled.code).toBe(3);
    expect(blindDoubled.report.results[0]!.oversold).toBe(1);

    // An acknowledged hold that vanished: only the history can tell.
    await db('reservations').where({ schedule_id: sale.scheduleId, user_id: other.id, seat_no: held.seat_no }).delete();
    const acked = await db('reservations').where({ schedule_id: sale.scheduleId, status: 'HELD' }).orderBy('id', 'desc').first();
    await db('seats').where({ schedule_id: sale.scheduleId, seat_no: acked.seat_no }).update({ status: 'AVAILABLE', holder_user_id: null, hold_expires_at: null });
    await db('reservations').where({ id: acked.id }).delete();
    const lost = await check(args);
    expect(lost.code).toBe(3);
    expect(lost.report.results[0]!.violationCounts).toMatchObject({ 'lost-acknowledgement': 1 });

    // The lab's own driver, black-box through the same profile, on the same server and the same plan: the same holds.
    const out = await mkdtemp(path.join(os.tmpdir(), 'seatlab-lab-'));
    onTestFinished(() => rm(out, { recursive: true, force: true }));
    const lab = await runBench(['run', '--target', api.url, '--profile', 'profiles/seatlab.json', '--scenario', 'flash-sale', '--users', '200', '--seats', '20', '--runs', '1', '--out', out, '--json'], { timeoutMs: 60_000 });
    expect(lab.code).toBe(0);
    expect((JSON.parse(lab.stdout) as LabReport).results[0]).toMatchObject({ oversold: 0, outcomes: { ok: 20 } });
  }, 120_000);

  it('requests the processor gave up on are unknown on both sides: Artillery counts timeouts, the history has them as unknown, and a hold written after the client gave up is explained, not flagged', async () => {
    const { url, db } = await freshDatabase();
    const api = await startApi(url, 'pessimistic');
    const hot = await exportTo(api.url, ['scenario=hot-seat', 'users=20', 'seats=1', 'timeout=1ms']);
    const engine = await runArtillery(hot.dir);
    const timeouts = engine.aggregate.counters['seatlab.hold.timeout'] ?? 0;
    expect(timeouts).toBeGreaterThan(0);
    expect(engine.aggregate.counters['seatlab.wire.timeout']).toBe(timeouts);
    expect(engine.aggregate.counters['seatlab.journeys.unknown']).toBe(timeouts);
    const checked = await check(['--scenario', 'hot-seat', '--database-url', url, '--history', path.join(hot.dir, 'history'), '--engine-report', path.join(hot.dir, 'artillery.json')]);
    expect(checked.code).toBe(0);
    const r = checked.report.results[0]!;
    expect(r).toMatchObject({ oversold: 0, verdict: 'pass', unknown: timeouts, outcomes: { timeout: timeouts }, history: { unknown: timeouts, unknownByError: { timeout: timeouts }, lostAcks: 0, unexplainedWrites: 0 } });
    // Every hold in the database is accounted for: acknowledged, or explained by a request given up on.
    expect(r.outcomes.ok + r.history!.explainedByUnknown).toBe(await activeHolds(db, hot.scheduleId));

    // --profile: the requests and the reading of answers are the profile's. This one reads a taken
    // seat as rejected, so every loser stops at once instead of trying another seat.
    const profile = JSON.parse(await readFile('profiles/seatlab.json', 'utf8')) as { outcomes: unknown[] };
    profile.outcomes = [{ status: 201, outcome: 'ok' }, { status: 409, bodyIncludes: 'SEAT_TAKEN', outcome: 'rejected' }];
    const file = path.join(hot.dir, 'strict.json');
    await writeFile(file, JSON.stringify(profile));
    const strict = await exportTo(api.url, ['scenario=flash-sale', 'users=30', 'seats=5', `profile=${file}`]);
    const e = await runArtillery(strict.dir);
    expect(e.aggregate.counters['seatlab.hold.ok']).toBe(5);
    expect(e.aggregate.counters['seatlab.hold.conflict']).toBeUndefined();
    expect(e.aggregate.counters['seatlab.hold.rejected']).toBe(25);
    expect(e.aggregate.counters['seatlab.journeys.stopped']).toBe(25);
  }, 90_000);

  it('bench check: bad input is named with its flag, nothing is written', async () => {
    const run = (raw: Parameters<typeof checkSale>[0]) => checkSale(raw, { out: () => undefined, err: () => undefined }, []).catch((e: unknown) => e);
    const both = await run({ scenario: 'journey', databaseUrl: 'postgres://x/y', targetDb: 'postgres://x/z', schedule: 'one' });
    expect((both as UsageError).problems).toEqual([
      '--scenario journey cannot be checked yet; use hot-seat, flash-sale or general-admission (a sale of seats or tickets)',
      'give --database-url (seatlab\'s own database, as bench serve prints it) or --target-db with --profile (somebody else\'s), not both',
      '--target-db needs --profile <file>: its truth.reservations query reads the target\'s database',
      '--schedule must be a schedule id, a positive integer (got "one")',
      '--seats <n> is required with --target-db: how many seats (or tickets) the target\'s sale had',
    ]);
    const none = await run({ scenario: 'flash-sale', engineReport: ['/nonexistent/artillery.json'], history: '/nonexistent/history' });
    expect((none as UsageError).problems).toEqual([
      '--database-url <seatlab\'s database, as bench serve prints it> or --target-db <url> --profile <file> is required: the truth comes from the database',
      '--engine-report /nonexistent/artillery.json: no such file',
      '--history /nonexistent/history: no such file or folder',
    ]);
    const notArtillery = path.join(await mkdtemp(path.join(os.tmpdir(), 'seatlab-check-')), 'report.json');
    await writeFile(notArtillery, '{"results": []}');
    const wrong = await run({ scenario: 'flash-sale', databaseUrl: 'postgres://127.0.0.1:9/x', engineReport: [notArtillery] });
    expect((wrong as UsageError).problems).toEqual([`--engine-report ${notArtillery}: not an Artillery JSON report (no aggregate.counters); write one with artillery run --output FILE`]);
  });

  it('a usage error names every problem at once: no target, a scenario without a plan, an unknown engine', async () => {
    const err = await exportPlan({ engine: 'k6', scenario: 'journey', out: '/tmp/x' }, { out: () => undefined, err: () => undefined }, []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).problems).toEqual([
      '--engine: unknown engine "k6"; valid: artillery',
      '--scenario journey cannot be exported yet; use hot-seat, flash-sale, general-admission',
      '--target is required: the URL of a running `bench serve` (the export seeds the sale there, so the users\' tokens are real), or of a target with --profile',
    ]);
  });
});
