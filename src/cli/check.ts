import { access, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Knex } from 'knex';
import type { SeatLockStrategy } from '../core/ports.js';
import type { Scenario, ScenarioCheck } from '../../scenarios/types.js';
import { createDb } from '../db/knex.js';
import { InfraUnavailableError } from '../infra/errors.js';
import { checkHistoryInDb, type HistoryCheckResult } from '../check/history.js';
import { targetDbTruth } from '../target/run-target.js';
import { probeLiveness } from '../check/liveness.js';
import type { HistoryOp } from '../load/history.js';
import { HistoryLog } from '../load/history-log.js';
import { createLatencyHistogram, encode, summarize } from '../load/histogram.js';
import { OUTCOMES, type Outcome } from '../load/plan.js';
import { mergeHistories, replayHistory } from '../load/replay.js';
import type { RunResult } from '../load/result.js';
import type { LoadOutput } from './run-load.js';
import { readArtilleryReports, EngineReportError } from '../export/artillery-report.js';
import { loadProfile, ProfileError, type Profile } from '../target/profile.js';
import { storeInfo } from '../report/metadata.js';
import { aggregateRuns } from '../report/aggregate.js';
import type { CheckRan, EngineFigures, StrategyResult } from '../report/schema.js';
import { assemble } from './run-one.js';
import { finishReport, type Io } from './run.js';
import type { RunOptions } from './options.js';
import { UsageError } from './errors.js';
import { parseCount, parseDuration, selectScenario } from './options.js';

// `bench check`: a sale judged after any load — Artillery's, the lab's, a user's own. The truth is
// the database (seatlab's, or a target's through its profile); the history, when there is one, is
// what the clients were told; the engine's report is what the engine counted. The same checkers
// and the same report as `bench run`, and the report says which checks ran and which could not.

export interface RawCheckOptions {
  scenario?: string;
  databaseUrl?: string;
  targetDb?: string;
  profile?: string;
  schedule?: string;
  engineReport?: string[];
  history?: string;
  target?: string;
  name?: string;
  seats?: string;
  livenessGrace?: string;
  out?: string;
  json?: boolean;
}

interface Sources {
  scenario: Scenario;
  kind: 'seats' | 'tickets';
  db: { url: string; seatlab: boolean };
  profile?: { file: string; profile: Profile };
  scheduleId?: number;
  engineReports: string[];
  history?: string;
  target?: string;
  name: string;
  livenessGraceMs: number;
  /** A target's capacity (seatlab's is read from its database). */
  seats?: number;
}

async function parse(raw: RawCheckOptions): Promise<Sources> {
  const problems: string[] = [];
  const scenario = selectScenario(raw.scenario, problems);
  const kind = scenario ? (scenario.kind === 'seats' || scenario.kind === 'tickets' ? scenario.kind : undefined) : undefined;
  if (scenario && !kind) problems.push(`--scenario ${scenario.name} cannot be checked yet; use hot-seat, flash-sale or general-admission (a sale of seats or tickets)`);
  if (raw.databaseUrl && raw.targetDb) problems.push('give --database-url (seatlab\'s own database, as bench serve prints it) or --target-db with --profile (somebody else\'s), not both');
  else if (!raw.databaseUrl && !raw.targetDb) problems.push('--database-url <seatlab\'s database, as bench serve prints it> or --target-db <url> --profile <file> is required: the truth comes from the database');
  if (raw.targetDb && !raw.profile) problems.push('--target-db needs --profile <file>: its truth.reservations query reads the target\'s database');
  if (raw.profile && !raw.targetDb) problems.push('--profile reads a target\'s database: add --target-db <url>, or drop --profile for seatlab\'s own (--database-url)');
  let scheduleId: number | undefined;
  if (raw.schedule !== undefined) {
    if (!/^\d+$/.test(raw.schedule) || Number(raw.schedule) < 1) problems.push(`--schedule must be a schedule id, a positive integer (got "${raw.schedule}")`);
    else scheduleId = Number(raw.schedule);
  } else if (raw.targetDb) problems.push('--schedule <id> is required with --target-db: the schedule the sale was on (the export or the run printed it)');
  if (raw.target !== undefined) {
    if (!/^https?:\/\/[^/]+/.test(raw.target)) problems.push(`--target must be an http(s) URL such as http://127.0.0.1:3000 (got "${raw.target}")`);
    else if (raw.targetDb) problems.push('--target probes liveness through seatlab\'s own API (bench serve); a target\'s API is its own: drop --target with --target-db');
  }
  let seats: number | undefined;
  if (raw.seats !== undefined) {
    if (raw.databaseUrl) problems.push('--seats is read from seatlab\'s database with --database-url; drop --seats');
    else seats = parseCount('--seats', raw.seats, 1, problems, 1_000_000);
  } else if (raw.targetDb) problems.push('--seats <n> is required with --target-db: how many seats (or tickets) the target\'s sale had');
  const livenessGraceMs = parseDuration('--liveness-grace', raw.livenessGrace, 5000, problems);
  for (const f of raw.engineReport ?? []) await access(f).catch(() => problems.push(`--engine-report ${f}: no such file`));
  if (raw.history !== undefined) await access(raw.history).catch(() => problems.push(`--history ${raw.history}: no such file or folder`));
  if (raw.name !== undefined && !/^[\w.:-]{1,40}$/.test(raw.name)) problems.push(`--name must be 1 to 40 letters, digits, . _ : or - (got "${raw.name}")`);
  if (problems.length > 0 || !scenario || !kind) throw new UsageError(problems);
  const profile = raw.profile ? { file: raw.profile, profile: await loadProfile(raw.profile) } : undefined;
  if (profile && !profile.profile.truth) throw new ProfileError(raw.profile!, ['the profile has no truth.reservations query to read --target-db with']);
  const engineReports = raw.engineReport ?? [];
  return {
    scenario, kind, db: raw.databaseUrl ? { url: raw.databaseUrl, seatlab: true } : { url: raw.targetDb!, seatlab: false }, ...(profile ? { profile } : {}),
    ...(scheduleId !== undefined ? { scheduleId } : {}), engineReports, ...(raw.history !== undefined ? { history: raw.history } : {}),
    ...(raw.target !== undefined ? { target: raw.target.replace(/\/+$/, '') } : {}), livenessGraceMs, ...(seats !== undefined ? { seats } : {}),
    name: raw.name ?? (engineReports.length > 0 ? 'artillery' : 'load'),
  };
}

/** seatlab's schedule: the one given, or the newest (bench serve's first is 1; each export adds one). */
async function seatlabSchedule(db: Knex, given: number | undefined, kind: 'seats' | 'tickets'): Promise<{ scheduleId: number; capacity: number }> {
  const row = given !== undefined ? await db('schedules').where({ id: given }).first('id') : await db('schedules').orderBy('id', 'desc').first('id');
  if (!row) throw new UsageError([given !== undefined ? `--schedule ${given}: no such schedule in the database` : 'the database has no schedule: was the sale seeded there?']);
  const scheduleId = Number((row as { id: number }).id);
  if (kind === 'tickets') {
    const inv = await db('inventory').where({ schedule_id: scheduleId }).first('total');
    if (!inv) throw new UsageError([`schedule ${scheduleId} has no general-admission inventory: --scenario ${'general-admission'} sells tickets; use hot-seat or flash-sale for seats`]);
    return { scheduleId, capacity: Number((inv as { total: number }).total) };
  }
  const n = await db('seats').where({ schedule_id: scheduleId }).count<{ n: string }[]>({ n: '*' });
  return { scheduleId, capacity: Number(n[0]!.n) };
}

/** Latency figures when there is no history: none measured here (count 0); the engine's are in `engine`. */
const EMPTY = summarize(createLatencyHistogram());

/** The load's figures from the engine's counters alone (no history): counts, no latency of the lab's own. */
function resultFromEngine(e: EngineFigures): RunResult {
  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, e.outcomes[o] ?? 0])) as Record<Outcome, number>;
  const durationMs = e.durationMs ?? 0;
  const j = e.journeys;
  return {
    model: 'open', connections: e.users.arrived, durationMs, requests: e.requests, rps: e.rps ?? 0,
    okPerSec: durationMs > 0 ? Math.round((outcomes.ok / durationMs) * 10_000) / 10 : 0, outcomes,
    statusCodes: e.statusCodes, errorCodes: e.wireErrors, latencyMs: EMPTY, okLatencyMs: EMPTY, histogram: encode(createLatencyHistogram()),
    journeys: { total: e.users.arrived, succeeded: j.succeeded ?? 0, exhausted: j.exhausted ?? 0, stopped: j.stopped ?? 0, unknown: j.unknown ?? 0 },
    perSecond: { ok: [], requests: [] }, transportErrors: Object.values(e.wireErrors).reduce((a, b) => a + b, 0),
  };
}

export async function checkSale(raw: RawCheckOptions, io: Io, argv: string[]): Promise<number> {
  const s = await parse(raw);
  const engine = s.engineReports.length > 0 ? await readArtilleryReports(s.engineReports).catch((err: Error) => {
    throw err instanceof EngineReportError ? new UsageError([err.message]) : err;
  }) : undefined;
  const merged = s.history ? await mergeHistories(s.history).catch((err: Error) => { throw new UsageError([`--history ${s.history}: ${err.message}`]); }) : undefined;

  const made = s.history ? await exportOf(s.history) : undefined;
  if (made && made.scenario !== s.scenario.name) throw new UsageError([`--scenario ${s.scenario.name}: the history is of an export of ${made.scenario} (${made.file}); give --scenario ${made.scenario}`]);
  if (made && s.scheduleId === undefined) s.scheduleId = made.scheduleId;

  const db = createDb({ url: s.db.url, poolMax: 4, applicationName: 'seatlab-check' });
  try {
    const info = await storeInfo(db, s.db.seatlab ? 'checked' : 'target').catch((err: Error) => {
      throw new InfraUnavailableError(`cannot reach ${s.db.seatlab ? '--database-url' : '--target-db'}: ${err.message}`);
    });
    const sched = s.db.seatlab ? await seatlabSchedule(db, s.scheduleId, s.kind) : { scheduleId: s.scheduleId!, capacity: s.seats! };
    const ops: HistoryOp[] = merged ? merged.ops.filter((op) => op.scheduleId === undefined || op.scheduleId === sched.scheduleId) : [];
    if (merged && merged.ops.length > 0 && ops.length === 0) {
      throw new UsageError([`--history: none of its ${merged.ops.length} operations is for schedule ${sched.scheduleId}; give --schedule <id> of the sale the history is of`]);
    }
    const users = merged ? new Set(ops.map((op) => op.process)).size : engine?.users.arrived ?? 0;
    const checks: CheckRan[] = [];
    const ran = (check: string, yes: boolean, detail: string) => checks.push({ check, ran: yes, detail });

    // The truth: seatlab's schema through the scenario's own checker and the history checker, or the target's through its profile.
    let check: ScenarioCheck;
    let hist: HistoryCheckResult | undefined;
    const replayed = merged ? replayHistory(ops, sched.capacity || Infinity, merged.t0EpochMs) : undefined;
    const result = replayed?.result ?? (engine ? resultFromEngine(engine) : resultFromEngine(emptyEngine()));
    const okResponses = result.outcomes.ok;
    const unknownResponses = result.outcomes.timeout + result.outcomes.error;
    let liveness: LoadOutput['liveness'];
    const capacity = sched.capacity;
    // The plan's own figures when the export says them; otherwise what the history or the engine saw (seed unknown: 0).
    const params = { users: made?.users ?? users, seats: capacity, connections: users, seed: made?.seed ?? 0 };
    if (s.db.seatlab) {
      const told = Boolean(merged || engine);
      // Without any account of the answers, "every 201 wrote one reservation" has nothing to be held
      // to: any number of reservations is accepted (0 acknowledged, all of them unknown).
      const created = told ? 0 : Number((await db('reservations').where({ schedule_id: sched.scheduleId }).count<{ n: string }[]>({ n: '*' }))[0]!.n);
      check = await s.scenario.check({
        db, scheduleId: sched.scheduleId, params, seatCount: capacity, okResponses: told ? okResponses : 0, unknownResponses: told ? unknownResponses : created,
        keyPrefix: '', abandoned: 0,
      });
      ran('the scenario\'s checker (no seat held twice, holds ≤ capacity, seats and reservations agree)', true, `schedule ${sched.scheduleId} of ${capacity} ${s.kind}`);
      ran('acknowledged holds against the reservations written', told, told ? `${okResponses} acknowledged (${merged ? 'from the history' : 'from the engine\'s counters'}), ${unknownResponses} unknown` : 'no --history or --engine-report: nothing says how many holds were acknowledged');
      if (s.target && merged) {
        // The probe's own holds go into the history, so the history checker accounts for them.
        const probe = await probeUser(s.target);
        const t0 = merged.t0EpochMs ?? Date.now();
        const l = await probeLiveness({ db, urls: [s.target], scheduleId: sched.scheduleId, kind: s.kind, probe, graceMs: s.livenessGraceMs, now: () => Date.now() - t0 });
        ops.push(...l.ops.map((op, i) => ({ ...op, index: ops.length + i })));
        const { ops: _ops, ...rest } = l;
        liveness = rest;
        ran('liveness (what the database has available can still be held through the API)', true, `${l.available} available, ${l.probed} probed, ${l.stuck} stuck, ${l.unanswered} unanswered within ${s.livenessGraceMs} ms`);
      } else {
        ran('liveness (what the database has available can still be held through the API)', false, s.target ? 'needs --history too: the probe\'s holds must be accounted for with everyone else\'s' : 'no --target: give the URL of the bench serve the sale ran on');
      }
      hist = await checkHistoryInDb(db, ops, { scheduleId: sched.scheduleId, opsKnown: Boolean(merged) });
    } else {
      // The history's operations carry no schedule for a target (its ids are its own): all of them are this sale's.
      const t = await targetDbTruth(db, s.profile!.profile, { scheduleId: sched.scheduleId }, ops.map((op) => ({ ...op, scheduleId: undefined })), { capacity, tickets: s.kind === 'tickets', opsKnown: Boolean(merged) });
      ({ check, hist } = t);
      ran('the target\'s reservations from its database (truth.reservations)', true, `${t.reservations} reservations of schedule ${sched.scheduleId}, ${check.activeReservations} active${t.endsKnown ? '' : '; the target does not record when a reservation ended, so overlaps are judged on active ones only'}`);
      ran('liveness (what the database has available can still be held through the API)', false, 'it speaks seatlab\'s API; a target\'s is its own');
    }
    ran('oversold: overlapping reservation intervals of one seat (and tickets over the inventory)', true, `${hist.oversold} oversold`);
    ran('lost acknowledgements and unexplained writes (each answer against the database)', Boolean(merged),
      merged ? `${ops.length} operations from ${merged.files.length} file(s): ${hist.lostAcks} lost, ${hist.unexplainedWrites} unexplained, ${hist.explainedByUnknown} explained by unknown answers`
        : 'needs --history: which holds each client was told it got');
    ran('who got the seats, seat order, latency by outcome, time to sell out (from what the clients saw)', Boolean(merged), merged ? 'replayed from the history' : 'needs --history');
    ran('the engine\'s own figures', Boolean(engine), engine ? engine.merged : 'no --engine-report');

    const pseudo = {
      name: s.name, description: `a sale checked after ${engine ? 'Artillery\'s' : 'an outside'} load (bench check)`, safe: true, requires: { redis: false }, options: [],
      create: () => { throw new Error('bench check runs no strategy'); },
    } satisfies SeatLockStrategy;
    const o = checkOptions(s, raw, params);
    const history = new HistoryLog();
    for (const op of ops) history.push(op);
    const load: LoadOutput = { result, history, counters: {}, restarts: 0, ...(replayed?.fairness ? { fairness: replayed.fairness } : {}), ...(liveness ? { liveness } : {}) };
    const historyRel = merged ? path.relative(path.resolve(o.out, o.runIdForCheck), path.resolve(s.history!)) : '';
    const r = assemble(o, pseudo, undefined, { check, hist, load, seedMs: 0, options: {}, historyRel, prepared: { seatCount: capacity } });
    if (!merged) r.notes.push('no history: oversold is judged from the database\'s reservation intervals alone; acknowledgements, unexplained writes and the figures of the clients\' side need --history');
    if (!merged && engine) r.notes.push('the throughput and counts are the engine\'s counters; latency is in the engine\'s own figures');
    if (engine && engine.users.repeated > 0) r.notes.push(`${engine.users.repeated} arrivals found their user already sent (seatlab.users.repeated): more arrivals than payload rows`);
    if (engine && merged && engine.outcomes.ok !== undefined && engine.outcomes.ok !== okResponses) {
      r.notes.push(`the engine counted ${engine.outcomes.ok} successful holds and the history has ${okResponses}: a worker's history is missing or the engine report is of another run`);
    }
    const final: StrategyResult = { ...aggregateRuns([{ ...r, ...(engine ? { engine } : {}), checks }]) };
    io.err(`checked schedule ${sched.scheduleId}: ${result.requests} requests, ${okResponses} ok, oversold ${final.oversold} → ${final.verdict}`);
    return await finishReport(o, io, {
      runId: o.runIdForCheck, results: [final],
      config: { strategies: [s.name], skipped: [], redisNodes: 0, strategyOptions: {}, holdTtlMs: 0, poolSize: 0, timeoutSec: 0, seed: 0, runs: 1, warmupMs: 0, command: argv, instances: 1 },
      servers: info.engine === 'postgresql' ? { postgres: { version: info.version, kind: info.kind, settings: info.settings }, stores: [info] } : { postgres: { version: 'none', kind: info.kind, settings: {} }, stores: [info] },
      ceilings: {},
      ...(s.profile ? { target: { url: '(not driven by seatlab: bench check)', where: /@(127\.|localhost[:/]|\[::1\])/.test(s.db.url) ? 'this machine' as const : 'remote' as const, profile: s.profile.profile as unknown as Record<string, unknown>, truth: 'database' as const } } : {}),
    });
  } finally {
    await db.destroy();
  }
}

interface ExportFacts { file: string; scenario: string; users: number; seed: number; scheduleId: number }

/** The export's export.json beside (or in) the history folder, if the history came from one. */
async function exportOf(history: string): Promise<ExportFacts | undefined> {
  for (const file of [path.join(history, 'export.json'), path.join(path.dirname(path.resolve(history)), 'export.json')]) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const j = JSON.parse(text) as Partial<ExportFacts>;
    if (typeof j.scenario === 'string' && typeof j.users === 'number' && typeof j.seed === 'number' && typeof j.scheduleId === 'number') {
      return { file, scenario: j.scenario, users: j.users, seed: j.seed, scheduleId: j.scheduleId };
    }
  }
  return undefined;
}

const emptyEngine = (): EngineFigures => ({
  engine: 'artillery', reports: [], merged: '', durationMs: null, requests: 0, rps: null, outcomes: {}, statusCodes: {}, wireErrors: {}, journeys: {},
  users: { arrived: 0, repeated: 0 }, winnersMs: null, losersMs: null, timeToSelloutMs: null,
});

/** A user of seatlab's own API for the liveness probe (POST /api/users, as the export seeds its users). */
async function probeUser(base: string): Promise<{ token: string; userId: number }> {
  const res = await fetch(`${base}/api/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `liveness-probe-${randomBytes(3).toString('hex')}` }), signal: AbortSignal.timeout(10_000) })
    .catch((err: Error) => { throw new InfraUnavailableError(`--target ${base} does not answer POST /api/users: ${err.message}`); });
  if (res.status !== 201) throw new InfraUnavailableError(`--target ${base}: POST /api/users answered ${res.status}; is it a bench serve?`);
  const u = (await res.json()) as { userId: number; token: string };
  return { token: u.token, userId: u.userId };
}

/** What assemble and the report need of a run's options, for a sale this command did not drive. */
function checkOptions(s: Sources, raw: RawCheckOptions, params: RunOptions['params']): RunOptions & { runIdForCheck: string } {
  const ts = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return {
    strategies: [], scenario: s.scenario, params, strategyOptions: new Map(), rawStrategyOptions: {}, out: raw.out ?? 'results', json: raw.json ?? false,
    stores: [], redisUrls: [], redisNodes: 0, skipUnavailable: false, holdTtlMs: 0, maxLoadMs: 0, httpCeilingMs: 0, poolSize: 0, timeoutSec: 0, keepDb: true, runs: 1, warmupMs: 0,
    thresholds: [], maxConnections: 0, transport: 'http', instances: 1, livenessGraceMs: s.livenessGraceMs,
    network: { redisTopology: 'single', dbDurability: 'full' },
    runIdForCheck: `${ts}-${s.scenario.name}-check-${randomBytes(3).toString('hex')}`,
  };
}
