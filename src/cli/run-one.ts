import { performance } from 'node:perf_hooks';
import type { SeatLockStrategy } from '../core/ports.js';
import type { Violation, ScenarioCheck } from '../../scenarios/types.js';
import { createRng } from '../core/rng.js';
import { createDb } from '../db/knex.js';
import { createDatabaseFromTemplate, dropDatabase } from '../db/databases.js';
import { seedSchedule, seedUsers } from '../db/seed.js';
import { pickSeats } from '../../scenarios/flash-sale.js';
import type { Provisioned } from '../infra/chain.js';
import type { RunResult } from '../load/result.js';
import type { JourneyList, LoadPlan } from '../load/plan.js';
import { queueAnswersOf, type HistoryOp, type QueueAnswers } from '../load/history.js';
import { HistoryFileWriter } from '../load/history-file.js';
import type { HistoryLog } from '../load/history-log.js';
import { driveDirect } from '../load/direct-driver.js';
import { startCore } from '../server/start.js';
import type { Ceiling } from '../load/ceilings.js';
import { checkSeats } from '../check/seats.js';
import { seatOrder } from '../check/seat-order.js';
import { checkHistoryInDb, type HistoryCheckResult } from '../check/history.js';
import type { Fault } from '../nemesis/types.js';
import type { StrategyResult } from '../report/schema.js';
import type { RunOptions } from './options.js';
import type { Io } from './run.js';
import type { Dialect } from '../db/dialect.js';
import { loadOverHttp, type LoadOutput } from './run-load.js';
import type { LinkHost, LinkToxics } from '../infra/link.js';
import { closeLinks, linkInstances } from '../load/instance-links.js';
import { startCpuWindow } from '../load/cpu.js';
import { runComponents } from '../load/cpu-components.js';
import { startMemoryWindow, type MemoryFigures } from '../load/memory.js';

// One run of one strategy (under one fault, or none), as its phases: a fresh database and the
// scenario's seed → the store ceiling → the load (HTTP over N instances with the nemesis, or the
// core in-process) → the scenario's checker and the history checker → one plain result.

export interface OneCtx {
  /** The store this run is on: its admin URL (creates and drops the run's database), its migrated template, its dialect. */
  adminUrl: string; template: string; store: Dialect;
  /** The store's server as provisioned: a fault may crash and revive it (crash-db). */
  dbServer?: Provisioned;
  dbName: string; secret: string; label: string; io: Io;
  redisUrls: string[]; redis: Provisioned[]; measureStore: boolean;
  /** Where this run's history goes (results/<run-id>/history/…), and its name relative to the report. */
  historyFile: string; historyRel: string;
  /** The links this cell's servers (and its store ceiling) reach the stores through, and the round trip they add. */
  link?: { host: LinkHost; toxics: LinkToxics; redisDataNodes?: { host: string; port: number }[] };
}


export async function runOne(o: RunOptions, strategy: SeatLockStrategy, fault: Fault | undefined, c: OneCtx): Promise<StrategyResult> {
  const { io, label } = c;
  const memory = startMemoryWindow();
  const url = await createDatabaseFromTemplate(c.adminUrl, c.dbName, c.template);
  const db = createDb({ url, poolMax: 4, applicationName: 'seatlab-lab' });
  try {
    // Phase 1: seed (deterministic for the seed), the warm-up schedule and a probe user.
    const ts = performance.now();
    const prepared = await o.scenario.prepare(db, o.params, { secret: c.secret, rng: createRng(o.params.seed) });
    const seededMaxReservationId = Number((await db('reservations').max('id as m').first())?.m ?? 0);
    const seedMs = Math.round(performance.now() - ts);
    io.err(`${label} seeded ${o.params.users} users, ${prepared.seatCount} seats in ${seedMs} ms`);
    const warmup = o.warmupMs > 0 && o.transport === 'http' && !prepared.journeys && !o.queue ? await warmupPlan(db, prepared.seatCount, o.params.seed, c.secret) : undefined;
    const [probe] = await seedUsers(db, { count: 1, secret: c.secret, prefix: 'liveness-probe-' });

    // Phase 2: the store ceiling (the same plan replayed in-process, no HTTP), on the first run only.
    const options = o.strategyOptions.get(strategy.name) ?? {};
    const store = c.measureStore ? await replayCeiling(o, strategy, c, options) : undefined;
    if (store) io.err(`${label} store ceiling (the same plan in-process, no HTTP): ${store.perSec} req/s, p99 ${store.p99Ms} ms`);

    // Phase 3: the load, and the scenario's checker while the servers are still up.
    let check: ScenarioCheck | undefined;
    let warmCheck: ScenarioCheck | undefined;
    const runCheck = async (result: RunResult, history: HistoryLog) => {
      const queueAnswers = !o.queue ? undefined : 'queueAnswers' in result ? (result as { queueAnswers: QueueAnswers }).queueAnswers : queueAnswersOf(history);
      const journeyOutcomes = 'journeyOutcomes' in result ? (result as { journeyOutcomes: { holds: number; abandoned: number } }).journeyOutcomes : undefined;
      check = await o.scenario.check({
        db, scheduleId: prepared.scheduleId, params: o.params, seatCount: prepared.seatCount, okResponses: journeyOutcomes ? journeyOutcomes.holds : result.outcomes.ok,
        unknownResponses: result.outcomes.timeout + (result.outcomes.error ?? 0), redisUrl: c.redisUrls[0], keyPrefix: `${c.dbName}:`, queue: o.queue, abandoned: journeyOutcomes?.abandoned ?? 0,
        ...(queueAnswers ? { queueAnswers } : {}),
      });
    };
    // The history goes to its file as the load runs (a waiting room's joins are judged from Redis, not from a file).
    const historyFile = o.scenario.kind !== 'queue' ? new HistoryFileWriter(c.historyFile) : undefined;
    let load: LoadOutput;
    if (o.transport === 'direct') {
      const core = await startCore({ databaseUrl: url, strategy: strategy.name, strategyOptions: options, tokenSecret: c.secret, holdTtlMs: o.holdTtlMs, poolSize: o.poolSize, redisUrls: c.redisUrls, redisKeyPrefix: `${c.dbName}:` });
      try {
        // The core is in the lab's process here: the lab's CPU is the load generator's and the server's.
        const cpu = startCpuWindow(runComponents({ ...(c.dbServer ? { store: { dialect: c.store, server: c.dbServer } } : {}), redis: c.redisUrls.length > 0 ? c.redis : [] }));
        const result = await driveDirect(prepared.plan, core.booking, { concurrency: o.params.connections, secret: c.secret, ...(historyFile ? { history: historyFile } : {}) });
        load = { result, history: result.recorder.history, counters: core.booking.counters(), restarts: 0, fairness: result.recorder.fairness(prepared.seatCount), cpu: cpu.end(result.requests) };
      } finally {
        await core.close();
      }
      await runCheck(load.result, load.history);
    } else {
      load = await loadOverHttp({
        o, strategy, fault, db, prepared, warmup, probe: probe ? { token: probe.token, userId: probe.id } : undefined, redis: c.redis, dbServer: c.dbServer, adminUrl: c.adminUrl, dbName: c.dbName, label, io,
        server: { databaseUrl: url, strategy: strategy.name, strategyOptions: options, tokenSecret: c.secret, holdTtlMs: o.holdTtlMs, poolSize: o.poolSize, redisUrls: c.redisUrls, redisKeyPrefix: `${c.dbName}:`, queue: o.queue },
        checkBeforeProbe: runCheck, ...(c.link ? { links: c.link } : {}), ...(historyFile ? { historyFile } : {}),
      });
      if (warmup && load.warmup) warmCheck = await checkSeats(db, { scheduleId: warmup.scheduleId, okResponses: load.warmup.ok, unknownResponses: load.warmup.unknown });
    }

    // Phase 4: the history checker (intervals, acknowledgements, unknowns) and the verdict.
    let hist: HistoryCheckResult | undefined;
    await load.history.close();
    if (load.history.length > 0 && o.scenario.kind !== 'queue') {
      const userId = o.scenario.kind === 'balance' ? firstUserId(load.history) : undefined;
      hist = await checkHistoryInDb(db, load.history, { scheduleId: prepared.scheduleId, ...(userId !== undefined ? { userId } : {}), seededMaxReservationId });
    }
    const mem = memory.end(load.history.length, load.history.bytes);
    io.err(`${label} lab process: peak ${mib(mem.peakRssBytes)} resident (${mib(mem.startRssBytes)} at the start), ${mem.opsRecorded} operations recorded` +
      `${mem.bytesPerOp !== null ? `, ${mem.bytesPerOp} bytes per operation (the history's columns ${mem.historyBytesPerOp})` : ''}`);
    return assemble(o, strategy, fault, { check: check!, warmCheck, hist, load, store, seedMs, options, memory: mem, historyRel: c.historyRel, prepared, dialect: c.store, ...(c.link ? { link: c.link.toxics } : {}) });
  } finally {
    await db.destroy();
    if (!o.keepDb) await dropDatabase(c.adminUrl, c.dbName).catch(() => undefined);
    else io.err(`${label} kept database ${c.dbName}`);
  }
}

export interface Parts {
  check: ScenarioCheck; warmCheck?: ScenarioCheck; hist?: HistoryCheckResult; load: LoadOutput; store?: Ceiling; seedMs: number;
  options: Record<string, string>; historyRel: string; prepared: { seatCount: number };
  /** The store the result ran on; absent for a black-box target, whose database is its own. */
  dialect?: Dialect;
  /** The links' toxics, when the servers reached the stores through links. */
  link?: LinkToxics;
  /** The lab process's memory over the run. */
  memory?: MemoryFigures;
}

export function assemble(o: RunOptions, strategy: SeatLockStrategy, fault: Fault | undefined, p: Parts): StrategyResult {
  const { check, hist, load } = p;
  const result = load.result;
  const warmViolations = (p.warmCheck?.violations ?? []).map((v) => ({ ...v, kind: `warmup-${v.kind}`, detail: `warm-up: ${v.detail}` }));
  const expected = o.scenario.expect(result, o.params, { scheduleId: 0, seatCount: p.prepared.seatCount, plan: { journeys: [] } }, check);
  // The history checker's interval overlaps replace the count of currently active duplicates.
  const histViolations: Violation[] = hist ? hist.violations.filter((v) => !check.violations.some((c) => c.kind === v.kind && c.detail === v.detail)) : [];
  const stuck = load.liveness?.stuck ?? 0;
  const liveViolations: Violation[] = stuck > 0
    ? [{ kind: 'stuck', detail: `${stuck} item(s) available in the database but still refused ${o.livenessGraceMs} ms after the faults ended`, evidence: { items: load.liveness!.stuckItems } }] : [];
  const violations = [...check.violations, ...histViolations, ...warmViolations, ...expected, ...liveViolations];
  const violationCounts: Record<string, number> = { ...check.violationCounts };
  for (const [k, v] of Object.entries(hist?.violationCounts ?? {})) if (!check.violations.some((c) => c.kind === k)) violationCounts[k] = (violationCounts[k] ?? 0) + v;
  for (const [k, v] of Object.entries(p.warmCheck?.violationCounts ?? {})) violationCounts[`warmup-${k}`] = v;
  for (const v of [...expected, ...liveViolations]) violationCounts[v.kind] = (violationCounts[v.kind] ?? 0) + 1;
  const unsafeReason = strategy.unsafeWith?.(p.options) ?? undefined;
  const safe = strategy.safe && !unsafeReason;
  // A lost acknowledgement fails the run even when --db-durability async caused it: the buyer was told
  // they hold a seat that no longer exists, and the seat is sold again (measured: 201 holds answered
  // for 200 seats). The note names the configuration as the cause.
  const verdict: StrategyResult['verdict'] = violations.length === 0 ? (safe ? 'pass' : 'race-not-observed') : safe ? 'fail' : 'unsafe-as-expected';
  const notes: string[] = [];
  if (unsafeReason) notes.push(`unsafe by configuration: ${unsafeReason}`);
  if (verdict === 'race-not-observed') notes.push('the race did not occur in this run: no oversell observed, which does not make this strategy safe');
  if (o.warmupMs > 0 && !load.warmup) notes.push('no warm-up phase (journeys, the waiting room and --transport direct run cold)');
  if (result.rate?.shortfall) notes.push(`open model asked for ${result.rate.requested} arrivals/s but achieved ${result.rate.achieved}: ${result.rate.missed} scheduled arrivals never started (the system could not sustain the rate)`);
  if (result.rate && result.rate.dropped > 0) notes.push(`${result.rate.dropped} arrivals dropped: all ${result.rate.maxConnections} connections were busy at their intended send time; they were not sent and are not in the latency figures`);
  const j = result.journeys;
  // The open model counts its missed arrivals itself (rate.missed, dropped).
  const notStarted = result.model === 'closed' ? j.total - (j.succeeded + j.exhausted + j.stopped + j.unknown) : 0;
  if (notStarted > 0) notes.push(`${notStarted} of ${j.total} users never started: the closed driver stops starting journeys ${o.maxLoadMs / 1000} s into the load (--max-load-time, a safety limit); the sale was measured on the others`);
  if (result.outcomes.timeout > 0) notes.push(`${result.outcomes.timeout} requests got no answer within ${o.timeoutSec} s; their outcome is unknown`);
  // "Sold out in" is the time to the last successful hold; a sale that ended with items left did not sell out.
  if (result.sellout?.timeToSelloutMs != null && (o.scenario.kind === 'seats' || o.scenario.kind === 'tickets') && check.activeReservations < check.capacity) {
    notes.push(`the sale did not sell out: ${check.capacity - check.activeReservations} of ${check.capacity} ${o.scenario.kind === 'seats' ? 'seats' : 'tickets'} were left at the end, so "sold out in" is the time to the last successful hold`);
  }
  if (load.restarts > 0) notes.push(`${load.restarts} instance restart(s): counters of a killed process are lost with it`);
  if (load.nemesis && load.nemesis.events.length === 0) notes.push(`the load ended before ${load.nemesis.fault} fired (first at ${load.nemesis.firstMs} ms)`);
  if (!hist && o.scenario.kind !== 'queue' && o.transport === 'http') notes.push('no per-operation history: oversold counts currently active duplicates only');
  if (hist && hist.lostAcks > 0 && o.network?.dbDurability === 'async') {
    notes.push(`${hist.lostAcks} lost acknowledgement(s) with --db-durability async: synchronous_commit off answers before a commit's WAL is written, and a crash loses what the WAL writer had not yet written (see the WAL positions in Faults injected); ` +
      'the configuration\'s doing, not the lock\'s: the same crash with --db-durability full loses none; ' +
      'a lost hold\'s seat can be sold again, so more buyers were told they hold a seat than there are seats');
  }
  const oversold = hist ? Math.max(hist.oversold, o.scenario.kind === 'balance' ? check.oversold : 0) : check.oversold;
  const unknown = hist?.unknown ?? (load.history.length > 0 ? countOps(load.history, (op) => op.outcome === 'unknown') : result.outcomes.timeout);
  const ex = check as ScenarioCheck;
  return {
    strategy: strategy.name, ...(p.dialect ? { store: p.dialect } : {}), ...(fault ? { fault: fault.name } : {}),
    ...(p.link ? { linkLatencyMs: p.link.latencyMs, linkJitterMs: p.link.jitterMs } : {}), ...(unsafeReason ? { unsafeReason } : {}),
    description: strategy.description, safe, options: p.options,
    load: { model: result.model, connections: result.connections, transport: o.transport, ...(result.rate ? { rate: result.rate } : {}) },
    seedMs: p.seedMs, durationMs: result.durationMs, requests: result.requests, rps: result.rps, okPerSec: result.okPerSec,
    latencyMs: result.latencyMs, okLatencyMs: result.okLatencyMs, outcomes: result.outcomes, statusCodes: result.statusCodes,
    errorCodes: result.errorCodes, journeys: result.journeys, oversold, retries: load.counters.retries ?? 0,
    lockFailures: load.counters.lockFailures ?? 0, dbAvoided: load.counters.dbAvoided ?? 0, counters: load.counters,
    check: { capacity: check.capacity, activeReservations: check.activeReservations, ...(ex.seatsHeldOrSold !== undefined ? { seatsHeldOrSold: ex.seatsHeldOrSold } : ex.remaining !== undefined ? { remaining: ex.remaining } : {}) },
    violations, violationCounts, verdict, notes, perSecond: result.perSecond, histogram: result.histogram,
    warmup: { ms: load.warmup ? o.warmupMs : 0, applied: Boolean(load.warmup), excludedRequests: 0 },
    ...(p.store ? { storeCeiling: p.store } : {}),
    ...('steps' in result ? { stepLatencyMs: (result as { steps: StrategyResult['stepLatencyMs'] }).steps, journeyOutcomes: (result as { journeyOutcomes: StrategyResult['journeyOutcomes'] }).journeyOutcomes } : {}),
    ...(ex.journey ? { journeyCheck: ex.journey } : {}),
    ...(result.instances ? { instances: { count: o.instances, restarts: load.restarts, perInstance: result.instances } } : {}),
    ...(load.nemesis ? { nemesis: load.nemesis } : {}),
    ...(hist ? { history: { file: p.historyRel, ops: load.history.length, unknown: hist.unknown, unknownByError: hist.unknownByError, lostAcks: hist.lostAcks, unexplainedWrites: hist.unexplainedWrites, explainedByUnknown: hist.explainedByUnknown } } : {}),
    ...(load.liveness ? { liveness: load.liveness } : {}),
    ...(load.inside ? { inside: load.inside } : {}),
    unknown, stuck,
    // A sale has a sellout; a waiting room's joins and a journey's steps do not.
    ...(result.sellout && (o.scenario.kind === 'seats' || o.scenario.kind === 'tickets' || o.scenario.kind === 'balance') ? {
      sale: { timeToSelloutMs: result.sellout.timeToSelloutMs, holdsPerSecUntilSellout: result.sellout.holdsPerSecUntilSellout,
        firstComeShare: load.fairness?.firstComeShare ?? null, rankCorrelation: load.fairness?.rankCorrelation ?? null },
      selloutCurve: result.sellout.cumulativeOkPer100ms,
    } : {}),
    ...(result.latencyByOutcome ? { latencyByOutcome: result.latencyByOutcome } : {}),
    ...((o.scenario.kind === 'seats' || o.scenario.kind === 'journey') && countOps(load.history, (op) => op.op === 'hold', 1) > 0 ? { seatOrder: seatOrder(load.history) } : {}),
    // Who got the seats: for the sales of seats and tickets, and the journey (holds, whether or not paid for).
    ...(load.fairness && (o.scenario.kind === 'seats' || o.scenario.kind === 'tickets' || o.scenario.kind === 'journey') ? { fairness: load.fairness } : {}),
    ...(result.histograms ? { outcomeHistograms: result.histograms } : {}),
    ...(load.cpu ? { cpu: load.cpu } : {}),
    ...(p.memory ? { memory: p.memory } : {}),
  };
}

/** A warm-up schedule of its own and a plan of seeded seat holds on it (every user, up to 3 tries). */
async function warmupPlan(db: ReturnType<typeof createDb>, seats: number, seed: number, secret: string): Promise<{ scheduleId: number; plan: LoadPlan }> {
  const schedule = await seedSchedule(db, { seats: Math.max(1, seats), name: 'warm-up' });
  const users = await seedUsers(db, { count: 2000, secret, prefix: 'warmup-' });
  const rng = createRng(seed ^ 0x5eed);
  return {
    scheduleId: schedule.scheduleId,
    plan: { journeys: users.map((u) => ({ token: u.token, userId: u.id, attempts: pickSeats(rng, schedule.seatCount, 3).map((seatNo) => ({
      method: 'POST' as const, path: '/api/reservations', body: JSON.stringify({ scheduleId: schedule.scheduleId, seatNo }) })) })) },
  };
}

/** The most users the store ceiling replays (the million-user sale's whole plan took over half an hour in-process, and grew the lab past 2 GB). */
export const CEILING_JOURNEYS = 100_000;

/** The first n journeys of a plan, without copying them. */
function firstJourneys(list: JourneyList, n: number): JourneyList {
  const at = (i: number) => (i < n ? list.at(i) : undefined);
  return { length: n, at, map: (fn) => Array.from({ length: n }, (_, i) => fn(list.at(i)!, i)) };
}

/**
 * The store ceiling: the same plan (same seed, same operations in the same proportions) replayed
 * through the same strategy in this process at the same concurrency, with no HTTP, on a fresh
 * database. What the HTTP run achieves can only be lower; if it is not, the ceiling is invalid.
 */
async function replayCeiling(o: RunOptions, strategy: SeatLockStrategy, c: OneCtx, options: Record<string, string>): Promise<Ceiling | undefined> {
  if (o.transport !== 'http' || o.scenario.kind === 'journey' || o.scenario.kind === 'queue') return undefined;
  const dbName = `${c.dbName}_replay`;
  const url = await createDatabaseFromTemplate(c.adminUrl, dbName, c.template);
  const db = createDb({ url, poolMax: 4, applicationName: 'seatlab-lab' });
  try {
    const prepared = await o.scenario.prepare(db, o.params, { secret: c.secret, rng: createRng(o.params.seed) });
    // Through a link of the same latency as the servers', so the ceiling measures the same network.
    const linked = c.link ? await linkInstances(c.link.host, 1, { databaseUrl: url, strategy: strategy.name, tokenSecret: c.secret, redisUrls: c.redisUrls }, c.link.toxics, c.link.redisDataNodes) : undefined;
    const cfg = linked?.configs[0];
    const core = await startCore({ databaseUrl: cfg?.databaseUrl ?? url, strategy: strategy.name, strategyOptions: options, tokenSecret: c.secret, holdTtlMs: o.holdTtlMs,
      poolSize: o.poolSize, redisUrls: cfg?.redisUrls ?? c.redisUrls, redisKeyPrefix: `${dbName}:`, ...(cfg?.redisNatMap ? { redisNatMap: cfg.redisNatMap } : {}) })
      .catch(async (err: unknown) => { if (linked) await closeLinks(linked.links); throw err; });
    try {
      // Figures only: the ceiling's history would be as long as the load's and nobody reads it.
      // A ceiling is a rate: a long plan's first CEILING_JOURNEYS users give it, in the time and memory of a short one.
      const journeys = prepared.plan.journeys;
      const capped = journeys.length > CEILING_JOURNEYS;
      const plan = capped ? { journeys: firstJourneys(journeys, CEILING_JOURNEYS) } : prepared.plan;
      const r = await driveDirect(plan, core.booking, { concurrency: o.params.connections, secret: c.secret, history: false });
      return { perSec: r.rps, p99Ms: r.latencyMs.p99, durationMs: r.durationMs, ...(capped ? { journeys: CEILING_JOURNEYS, ofJourneys: journeys.length } : {}) };
    } finally {
      await core.close();
      if (linked) await closeLinks(linked.links);
    }
  } finally {
    await db.destroy();
    await dropDatabase(c.adminUrl, dbName).catch(() => undefined);
  }
}

const mib = (bytes: number) => `${Math.round(bytes / 1048576)} MiB`;

/** How many operations of the history match, stopping at `upTo`; the history is walked, not copied. */
function countOps(history: Iterable<HistoryOp>, match: (op: HistoryOp) => boolean, upTo = Infinity): number {
  let n = 0;
  for (const op of history) if (match(op) && ++n >= upTo) break;
  return n;
}

function firstUserId(history: Iterable<HistoryOp>): number | undefined {
  for (const op of history) if (op.userId !== undefined) return op.userId;
  return undefined;
}

export type { HistoryOp };
