import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Knex } from 'knex';
import type { SeatLockStrategy } from '../core/ports.js';
import type { ScenarioCheck, Violation, Workload } from '../../scenarios/types.js';
import { createRng } from '../core/rng.js';
import { createDb } from '../db/knex.js';
import { InfraUnavailableError } from '../infra/errors.js';
import type { AttemptRequest, LoadPlan } from '../load/plan.js';
import { Recorder } from '../load/recorder.js';
import { driveClosed } from '../load/closed-driver.js';
import { driveOpen } from '../load/open-driver.js';
import { HistoryFileWriter } from '../load/history-file.js';
import { startCpuWindow } from '../load/cpu.js';
import { runComponents } from '../load/cpu-components.js';
import type { HistoryOp } from '../load/history.js';
import { checkHistory, type HistoryCheckResult } from '../check/history.js';
import { ViolationLog } from '../check/violations.js';
import { storeInfo } from '../report/metadata.js';
import { aggregateRuns } from '../report/aggregate.js';
import { whereTimeGoes } from '../report/render-cpu.js';
import type { StrategyResult } from '../report/schema.js';
import { assemble } from '../cli/run-one.js';
import { finishReport, type Io } from '../cli/run.js';
import type { RunOptions } from '../cli/options.js';
import { loadProfile, ProfileError, type Profile } from './profile.js';
import { idNumber, render, type Vars } from './template.js';
import { seedSale, type SeededSale } from './seed.js';
import { reservationsFromDb, takenFromApi } from './truth.js';
import path from 'node:path';
import type { ReservationInterval } from '../check/intervals.js';
import { labRedis } from '../infra/redis-client.js';
import { mergeSameHolder, sampleRedisHolds } from './redis-truth.js';

type SampledHolds = { rows: ReservationInterval[]; samples: number; failures: number };
/** Epoch microseconds, the clock the target's database rows are read in. */
const epochUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

// Black-box mode: the same scenarios, load models, runs, checks and report, pointed at somebody
// else's booking API through a profile. The report names the target instead of a strategy, and
// counts oversold from the target's database when it is given one (--target-db), never from its
// status codes.

export interface TargetOptions { url: string; profile: Profile; profileFile: string; databaseUrl?: string; redisUrl?: string }

/** Loads the profile and checks it can run this scenario; every problem is a usage error. */
export async function resolveTarget(o: RunOptions): Promise<TargetOptions> {
  const t = o.target!;
  const profile = await loadProfile(t.profileFile);
  const op = o.scenario.workload!(o.params, createRng(o.params.seed)).op;
  const problems: string[] = [];
  if (op === 'hold' && !profile.hold) problems.push(`profile ${t.profileFile}: ${o.scenario.name} holds numbered seats, but the profile has no "hold" step`);
  if (op === 'hold-ticket' && !profile.holdTicket) problems.push(`profile ${t.profileFile}: ${o.scenario.name} sells unnumbered tickets, but the profile has no "holdTicket" step`);
  if (t.databaseUrl && !profile.truth?.reservations) problems.push(`profile ${t.profileFile}: --target-db was given but the profile has no truth.reservations query to read it with`);
  if (t.redisUrl && !profile.truth?.redis) problems.push(`profile ${t.profileFile}: --target-redis was given but the profile has no truth.redis (match, seatNo, userId) to read it with`);
  if (!t.redisUrl && profile.truth?.redis && !t.databaseUrl) problems.push(`profile ${t.profileFile}: its holds live in Redis (truth.redis): give --target-redis <url of the target's Redis>, or --target-db for the rest of the truth`);
  if (problems.length > 0) throw new ProfileError(t.profileFile, problems);
  return { ...t, profile };
}

const LOOPBACK = /^(127\.|localhost$|\[::1\]$|::1$)/;

export async function runTargetBench(o: RunOptions, io: Io, argv: string[]): Promise<number> {
  const t = await resolveTarget(o);
  const p = t.profile;
  const ts = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const runId = `${ts}-${o.scenario.name}-target-${randomBytes(3).toString('hex')}`;
  const where = LOOPBACK.test(new URL(t.url).hostname) ? 'this machine' : 'remote';
  io.err(`seatlab ${runId}: ${o.scenario.name} × target:${p.name} at ${t.url} (${where})`);
  const health = p.health ? await fetch(`${t.url}${p.health.path}`, { signal: AbortSignal.timeout(10_000) })
    .then(async (r) => ({ status: r.status, body: (await r.text()).slice(0, 500) }))
    .catch((err: Error) => { throw new InfraUnavailableError(`the target ${t.url} does not answer ${p.health!.path}: ${err.message}; start it, or check --target`); }) : undefined;
  const db = t.databaseUrl ? createDb({ url: t.databaseUrl, poolMax: 4, applicationName: 'seatlab-target' }) : undefined;
  try {
    const info = db ? await storeInfo(db, 'target').catch((err: Error) => { throw new InfraUnavailableError(`cannot reach --target-db: ${err.message}`); }) : undefined;
    const runs: StrategyResult[] = [];
    for (let run = 1; run <= o.runs; run++) runs.push(await oneRun(o, t, db, { runId, run, label: `[run ${run}/${o.runs} · target:${p.name}]`, io }));
    return await finishReport(o, io, {
      runId, results: [withWhereTimeGoes(aggregateRuns(runs))],
      config: { strategies: [`target:${p.name}`], skipped: [], redisNodes: 0, strategyOptions: {}, holdTtlMs: 0, poolSize: 0, timeoutSec: o.timeoutSec,
        seed: o.params.seed, runs: o.runs, warmupMs: 0, command: argv, instances: 1 },
      servers: info
        ? { ...(info.engine === 'postgresql' ? { postgres: { version: info.version, kind: info.kind, settings: info.settings } } : {}), stores: [info] }
        : { postgres: { version: 'unknown (black box, no --target-db)', kind: 'target', settings: {} } },
      ceilings: {},
      target: { url: t.url, where, profile: p as unknown as Record<string, unknown>, ...(health ? { health } : {}), truth: db && p.truth?.reservations ? 'database' : t.redisUrl && p.truth?.redis ? 'redis' : 'api' },
    });
  } finally {
    await db?.destroy();
  }
}

/** The lab's CPU per request, measured; the target's is not the lab's to read. */
const withWhereTimeGoes = (r: StrategyResult): StrategyResult => (r.cpu ? { ...r, whereTimeGoes: whereTimeGoes(r.cpu) } : r);

async function oneRun(o: RunOptions, t: TargetOptions, db: Knex | undefined, c: { runId: string; run: number; label: string; io: Io }): Promise<StrategyResult> {
  const p = t.profile;
  const t0 = performance.now();
  const sale = await seedSale(p, { base: t.url, db, seats: o.params.seats, users: o.params.users, label: `seatlab-${c.runId}-${c.run}` });
  const seedMs = Math.round(performance.now() - t0);
  const plan = buildPlan(o, p, sale);
  c.io.err(`${c.label} seeded ${o.params.users} users and ${o.params.seats} seats on the target in ${seedMs} ms (schedule ${String(sale.vars.scheduleId)})`);
  const historyRel = `history/target.run${c.run}.jsonl.gz`;
  const rec = new Recorder(1);
  rec.history.streamTo(new HistoryFileWriter(path.join(o.out, c.runId, historyRel)));
  const onProgress = (x: { elapsedMs: number; requests: number; ok: number }) => c.io.err(`${c.label} ${(x.elapsedMs / 1000).toFixed(0)} s · ${x.requests} requests · ${x.ok} ok`);
  // The lab's CPU only: the target's processes are somebody else's.
  const cpu = startCpuWindow(runComponents({ target: t.url }));
  // Holds that live only in Redis are seen only while they exist: sampled from before the first request to after the last.
  let redisClient: ReturnType<typeof labRedis> | undefined;
  let sampler: ReturnType<typeof sampleRedisHolds> | undefined;
  if (t.redisUrl && p.truth?.redis) {
    redisClient = labRedis(t.redisUrl);
    await redisClient.connect().catch((err: Error) => { throw new InfraUnavailableError(`cannot reach --target-redis: ${err.message}`); });
    sampler = sampleRedisHolds(redisClient, p.truth.redis, sale.vars, epochUs);
  }
  const result = o.rate
    ? await driveOpen(plan, { urls: [t.url], rate: o.rate, maxConnections: o.maxConnections, timeoutSec: o.timeoutSec, maxDurationSec: o.maxLoadMs / 1000, onProgress, recorder: rec })
    : await driveClosed(plan, { urls: [t.url], connections: o.params.connections, timeoutSec: o.timeoutSec, maxDurationSec: o.maxLoadMs / 1000, onProgress, recorder: rec });
  const cpuFigures = cpu.end(result.requests);
  const sampled = await sampler?.stop();
  redisClient?.disconnect();
  const tickets = o.scenario.workload!(o.params, createRng(o.params.seed)).op === 'hold-ticket';
  const { check, hist, notes } = await truth(o, t, db, sale, rec, tickets, sampled);
  await rec.history.close();
  const pseudo = { name: `target:${p.name}`, description: p.description ?? `${p.name} at ${t.url}`, safe: true, requires: { redis: false }, options: [],
    create: () => { throw new Error('a target is not a strategy'); } } satisfies SeatLockStrategy;
  const r = assemble({ ...o, warmupMs: 0 }, pseudo, undefined, { check, hist, load: { result, history: rec.history, counters: {}, restarts: 0, fairness: rec.fairness(o.params.seats), cpu: cpuFigures },
    seedMs, options: {}, historyRel, prepared: { seatCount: o.params.seats } });
  r.notes.push(...notes, 'no warm-up against a target (its sale is measured from its first request)');
  c.io.err(`${c.label} ${r.requests} requests in ${(r.durationMs / 1000).toFixed(1)} s: ${r.outcomes.ok} ok, oversold ${r.oversold} → ${r.verdict}`);
  return r;
}

function buildPlan(o: RunOptions, p: Profile, sale: SeededSale): LoadPlan {
  return profilePlan(o.scenario.workload!(o.params, createRng(o.params.seed)), p, sale);
}

/** A workload's asks as requests to a target, through its profile (also what the Artillery export sends). */
export function profilePlan(w: Workload, p: Profile, sale: SeededSale): LoadPlan {
  const step = w.op === 'hold' ? p.hold! : p.holdTicket!;
  const where = w.op === 'hold' ? 'hold' : 'holdTicket';
  const reader = { ...(step.capture?.reservationId ? { reservationId: step.capture.reservationId } : {}),
    ...(p.outcomes ? { rules: p.outcomes.map((r) => ({ status: Array.isArray(r.status) ? r.status : [r.status], ...(r.bodyIncludes ? { bodyIncludes: r.bodyIncludes } : {}), outcome: r.outcome })) } : {}) };
  return {
    journeys: w.users.map((u) => {
      const user = sale.users[u.user]!;
      return {
        token: String(user.token), userId: idNumber(user.userId),
        attempts: u.seats.map((seatNo): AttemptRequest => {
          const vars: Vars = { ...user, seatNo, ...seatVars(sale.vars, seatNo) };
          return {
            method: step.method as AttemptRequest['method'], path: render(step.path, vars, `${where}.path`) as string,
            ...(step.body !== undefined ? { body: JSON.stringify(render(step.body, vars, `${where}.body`)) } : {}),
            headers: { ...(render(p.headers ?? {}, vars, 'headers') as Record<string, string>), ...(render(step.headers ?? {}, vars, `${where}.headers`) as Record<string, string>) },
            meta: { op: w.op, userId: idNumber(user.userId), seatNo }, reader,
          };
        }),
      };
    }),
  };
}

/** "seat.<n>.<column>" variables of the seat this attempt asks for, as "seat.<column>". */
function seatVars(vars: Vars, seatNo: number | null): Vars {
  if (seatNo === null) return {};
  const prefix = `seat.${seatNo}.`;
  return Object.fromEntries(Object.entries(vars).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [`seat.${k.slice(prefix.length)}`, v]));
}

/**
 * A target's sale judged from its database (the profile's truth.reservations): the history checker
 * over its reservations (tickets against the capacity as an inventory), and no more active
 * reservations than the capacity. Black-box runs and bench check both judge a target this way.
 */
export async function targetDbTruth(db: Knex | undefined, p: Profile, vars: Vars, ops: Iterable<HistoryOp>, o: { capacity: number; tickets: boolean; opsKnown?: boolean; redisRows?: ReservationInterval[] }): Promise<{ check: ScenarioCheck; hist: HistoryCheckResult; endsKnown: boolean; reservations: number }> {
  const log = new ViolationLog();
  const sql = db && p.truth?.reservations ? await reservationsFromDb(db, p, vars) : { rows: [], endsKnown: true };
  // Holds seen in Redis join the database's rows; one user's hold and its confirmed purchase of the same seat are one reservation.
  const rows = o.redisRows ? mergeSameHolder([...sql.rows, ...o.redisRows]) : sql.rows;
  const { endsKnown } = sql;
  // An answer's id can only be checked against rows that have ids: a Redis key has none (its rows' ids are the lab's, negative).
  const opsKnown = (o.opsKnown ?? true) && Boolean(db && p.truth?.reservations);
  const hist = checkHistory(ops, { scheduleId: 0, reservations: rows.map((r) => ({ ...r, scheduleId: 0 })), inventoryTotal: o.tickets ? o.capacity : null, payments: [] }, { opsKnown });
  const active = rows.filter((r) => r.endUs === null).length;
  if (active > o.capacity) log.add({ kind: 'over-capacity', detail: `${active} active reservations for ${o.capacity} ${o.tickets ? 'tickets' : 'seats'} (from the target's database)` });
  return { check: { oversold: hist.oversold, capacity: o.capacity, activeReservations: active, violations: log.violations, violationCounts: log.counts }, hist, endsKnown, reservations: rows.length };
}

async function truth(o: RunOptions, t: TargetOptions, db: Knex | undefined, sale: SeededSale, rec: Recorder, tickets: boolean, redis?: SampledHolds): Promise<{ check: ScenarioCheck; hist?: HistoryCheckResult; notes: string[] }> {
  const p = t.profile;
  const log = new ViolationLog();
  const seats = o.params.seats;
  const ok = rec.outcomes.ok;
  if ((db && p.truth?.reservations) || redis) {
    const { check, hist, endsKnown } = await targetDbTruth(db, p, sale.vars, rec.history, { capacity: seats, tickets, ...(redis ? { redisRows: redis.rows } : {}) });
    const notes = endsKnown ? [] : ['the target does not record when a reservation stopped being active: overlaps are judged on active reservations only'];
    if (redis) {
      notes.push(`holds kept in Redis were sampled every ${p.truth!.redis!.sampleMs ?? 200} ms (${redis.samples} samples${redis.failures ? `, ${redis.failures} unanswered` : ''}, ${redis.rows.length} holds seen): ` +
        'each is judged from its first to its last sighting, so two holders seen at once are a double hold, but a key that lived between two samples, or an overlap shorter than one, is not seen');
      if (!(db && p.truth?.reservations)) notes.push('no truth.reservations on --target-db: acknowledged holds cannot be matched to stored rows (a Redis key has no id), so lost acknowledgements and unexplained writes were not checked');
    }
    return { check, hist, notes };
  }
  const notes = ['weaker check: no --target-db, so the truth comes from what the API shows; a seat sold twice cannot be seen this way'];
  if (p.seatMap && !tickets) {
    const taken = await takenFromApi(t.url, p, sale.vars, String(sale.users[0]!.token));
    if (ok > taken) log.add({ kind: 'acks-not-visible', detail: `${ok} holds were acknowledged but the API's seat map shows ${taken} seats taken`, evidence: { ok, taken } });
    return { check: { oversold: Math.max(0, ok - seats), capacity: seats, activeReservations: taken, violations: log.violations, violationCounts: log.counts }, notes };
  }
  notes.push('no seat map in the profile either: only status codes were counted, which cannot show overselling');
  const v: Violation[] = ok > seats ? [{ kind: 'more-acks-than-seats', detail: `${ok} successful answers for ${seats} ${tickets ? 'tickets' : 'seats'}` }] : [];
  return { check: { oversold: Math.max(0, ok - seats), capacity: seats, activeReservations: ok, violations: v, violationCounts: Object.fromEntries(v.map((x) => [x.kind, 1])) }, notes };
}
