import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SeatLockStrategy } from '../core/ports.js';
import { createRng } from '../core/rng.js';
import { createDb, withDatabase } from '../db/knex.js';
import { createDatabaseFromTemplate, createTemplateDatabase, dropDatabase } from '../db/databases.js';
import { provisionPostgres, type ProvisionedPostgres } from '../infra/postgres.js';
import { provisionRedisNodes, type ProvisionedRedis } from '../infra/redis.js';
import { InfraUnavailableError } from '../infra/errors.js';
import { drive, type RunResult } from '../load/driver.js';
import type { LoadPlan } from '../load/plan.js';
import { seedSchedule, seedUsers } from '../db/seed.js';
import { pickSeats } from '../../scenarios/flash-sale.js';
import { driveJourneys, type JourneyResult } from '../load/journey-driver.js';
import { startServerProcess } from '../load/server-process.js';
import { driveDirect } from '../load/direct-driver.js';
import { startCore } from '../server/start.js';
import { measureHttpCeiling, measureStoreCeiling, type Ceiling } from '../load/ceilings.js';
import { connectAll, createRedisClient } from '../infra/redis-client.js';
import { checkSeats } from '../check/seats.js';
import { checkTickets } from '../check/tickets.js';
import { checkBalance } from '../check/balance.js';
import { checkQueue } from '../check/queue.js';
import { checkJourney } from '../check/journey.js';
import { gitInfo, machineInfo, postgresInfo, redisInfo } from '../report/metadata.js';
import { SCHEMA_VERSION, type Report, type StrategyResult } from '../report/schema.js';
import { writeReport } from '../report/write.js';
import { aggregateRuns } from '../report/aggregate.js';
import { evaluateThresholds } from '../report/thresholds.js';
import { renderConsoleTable } from './console.js';
import { EXIT } from './errors.js';
import { Progress } from './progress.js';
import type { RunOptions } from './options.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []));

export interface Io { err: (line: string) => void; out: (text: string) => void }

function makeRunId(scenario: string): { runId: string; dbTag: string } {
  const ts = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const tag = randomBytes(3).toString('hex');
  return { runId: `${ts}-${scenario}-${tag}`, dbTag: `${ts.replace('-', '_')}_${tag}` };
}

/** parse → validate (done by the caller) → provision → run each strategy → check → report. Returns the exit code. */
export async function runBench(o: RunOptions, io: Io, argv: string[]): Promise<number> {
  const { runId, dbTag } = makeRunId(o.scenario.name);
  const provisioned: (ProvisionedPostgres | ProvisionedRedis)[] = [];
  try {
    io.err(`seatlab ${runId}: ${o.scenario.name} × ${o.strategies.map((s) => s.name).join(', ')}`);
    const t0 = performance.now();
    const pgServer = await provisionPostgres({ url: o.databaseUrl });
    provisioned.push(pgServer);
    io.err(`PostgreSQL: ${pgServer.kind}${pgServer.port ? ` on 127.0.0.1:${pgServer.port}` : ''} (${Math.round(performance.now() - t0)} ms)`);
    let redis: ProvisionedRedis[] = [];
    let strategies = o.strategies;
    const skipped: { strategy: string; reason: string }[] = [];
    if (o.queue) {
      // The waiting room lives in Redis: without Redis this run cannot happen at all.
      redis = await provisionRedisNodes({ urls: o.redisUrls, nodes: o.redisNodes });
      provisioned.push(...redis);
      io.err(`Redis: ${redis.length} × ${redis[0]!.kind} (waiting room on)`);
    } else if (strategies.some((s) => s.requires.redis)) {
      try {
        redis = await provisionRedisNodes({ urls: o.redisUrls, nodes: o.redisNodes });
        provisioned.push(...redis);
        io.err(`Redis: ${redis.length} × ${redis[0]!.kind} (${redis.map((r) => r.url.replace('redis://', '')).join(', ')})`);
      } catch (err) {
        if (!o.skipUnavailable || !(err instanceof InfraUnavailableError)) throw err;
        // `--strategy all` compares every strategy whose servers are available.
        for (const s of strategies.filter((x) => x.requires.redis)) skipped.push({ strategy: s.name, reason: err.message });
        strategies = strategies.filter((x) => !x.requires.redis);
        io.err(`Redis unavailable: skipping ${skipped.map((x) => x.strategy).join(', ')} (${err.message})`);
      }
    }

    const admin = createDb({ url: pgServer.url, poolMax: 1 });
    const pgInfo = await postgresInfo(admin, pgServer.kind).finally(() => admin.destroy());
    const template = `seatlab_tpl_${dbTag}`;
    await createTemplateDatabase(pgServer.url, template);
    const secret = randomBytes(32).toString('hex');

    // The HTTP ceiling, before the strategies: the same server code answering a no-op route.
    let httpCeiling: Ceiling | undefined;
    if (o.transport === 'http') {
      const dbName = `seatlab_${dbTag}_ceiling`;
      const url = await createDatabaseFromTemplate(pgServer.url, dbName, template);
      try {
        const s0 = strategies.find((s) => !s.requires.redis) ?? strategies[0]!;
        const server = await startServerProcess({ databaseUrl: url, strategy: s0.name, strategyOptions: o.strategyOptions.get(s0.name), tokenSecret: secret, poolSize: o.poolSize,
          redisUrls: s0.requires.redis || o.queue ? redis.map((r) => r.url) : [], redisKeyPrefix: `${dbName}:` });
        try {
          httpCeiling = await measureHttpCeiling(server.url, { connections: o.params.connections, rate: o.rate, durationSec: CEILING_SECONDS });
          io.err(`HTTP ceiling (GET /lab/noop, ${o.params.connections} connections): ${httpCeiling.perSec} req/s, p99 ${httpCeiling.p99Ms} ms`);
        } finally {
          await server.stop();
        }
      } finally {
        await dropDatabase(pgServer.url, dbName).catch(() => undefined);
      }
    }

    const perStrategy = new Map<string, StrategyResult[]>(strategies.map((s) => [s.name, []]));
    try {
      // Interleaved (A B C A B C …) so that machine drift hits every strategy alike.
      for (let run = 0; run < o.runs; run++) {
        for (const [i, strategy] of strategies.entries()) {
          const label = `[run ${run + 1}/${o.runs} · ${i + 1}/${strategies.length} ${strategy.name}]`;
          const redisUrls = strategy.requires.redis || o.queue ? redis.map((r) => r.url) : [];
          perStrategy.get(strategy.name)!.push(await runOne(o, strategy, { adminUrl: pgServer.url, template, dbName: `seatlab_${dbTag}_${run}_${i}`, secret, label, io, redisUrls, measureStore: run === 0 }));
        }
      }
    } finally {
      await dropDatabase(pgServer.url, template).catch(() => undefined);
    }

    const results = strategies.map((s) => {
      const agg = aggregateRuns(perStrategy.get(s.name)!);
      const lower = Math.min(httpCeiling?.perSec ?? Infinity, agg.storeCeiling?.perSec ?? Infinity);
      return Number.isFinite(lower) && lower > 0 ? { ...agg, efficiency: Math.round((agg.rps / lower) * 100) / 100 } : agg;
    });
    const failed = results.filter((r) => r.verdict === 'fail').map((r) => r.strategy);
    const thresholds = evaluateThresholds(o.thresholds, results);
    const breached = thresholds.filter((t) => !t.pass);
    // An invariant violated by a "safe" strategy outranks a threshold breach.
    const exitCode = failed.length > 0 ? EXIT.invariantViolated : breached.length > 0 ? EXIT.thresholdBreached : EXIT.ok;
    const report: Report = {
      schemaVersion: SCHEMA_VERSION,
      runId,
      createdAt: new Date().toISOString(),
      tool: { name: 'seatlab', version: '0.1.0' },
      scenario: { name: o.scenario.name, description: o.scenario.description, expectation: o.scenario.expectation, params: { ...o.params } },
      config: {
        strategies: strategies.map((s) => s.name), skipped, redisNodes: redis.length, strategyOptions: o.rawStrategyOptions, holdTtlMs: o.holdTtlMs,
        poolSize: o.poolSize, timeoutSec: o.timeoutSec, seed: o.params.seed, runs: o.runs, warmupMs: o.warmupMs, command: argv,
      },
      machine: machineInfo(),
      servers: { postgres: pgInfo, ...(redis.length > 0 ? { redis: { ...(await redisInfo(redis[0]!.url, redis[0]!.kind)), nodes: redis.length } } : {}) },
      git: gitInfo(ROOT),
      ceilings: { http: httpCeiling },
      results,
      thresholds,
      summary: { exitCode, failedStrategies: failed },
    };
    const files = await writeReport(o.out, report);
    io.err('');
    io.err(renderConsoleTable(report));
    io.err(`report: ${files.json}`);
    io.err(`        ${files.md}`);
    io.err(`        ${files.html}`);
    for (const t of thresholds) io.err(`threshold ${t.pass ? 'pass' : 'FAIL'}  ${t.strategyName}: ${t.metric} ${t.op} ${t.target} (was ${t.value})`);
    if (breached.length > 0) io.err(`${breached.length} threshold(s) breached: exit ${EXIT.thresholdBreached}`);
    if (failed.length > 0) io.err(`INVARIANT VIOLATED by ${failed.join(', ')} (claims to be safe): exit ${EXIT.invariantViolated}`);
    if (o.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
    return exitCode;
  } finally {
    for (const p of provisioned.reverse()) await p.stop().catch((e: Error) => io.err(`stopping ${p.kind} server failed: ${e.message}`));
  }
}

interface OneCtx { adminUrl: string; template: string; dbName: string; secret: string; label: string; io: Io; redisUrls: string[]; measureStore: boolean }

const CEILING_SECONDS = 3;

async function readCounters(url: string): Promise<Record<string, number>> {
  return ((await (await fetch(`${url}/lab/counters`)).json()) as { counters: Record<string, number> }).counters;
}

/** A warm-up schedule of its own and a plan of seeded seat holds on it (every user, up to 3 tries). */
async function warmupPlan(db: ReturnType<typeof createDb>, seats: number, seed: number, secret: string): Promise<{ scheduleId: number; plan: LoadPlan }> {
  const schedule = await seedSchedule(db, { seats: Math.max(1, seats), name: 'warm-up' });
  const users = await seedUsers(db, { count: 2000, secret, prefix: 'warmup-' });
  const rng = createRng(seed ^ 0x5eed);
  return {
    scheduleId: schedule.scheduleId,
    plan: { journeys: users.map((u) => ({ token: u.token, attempts: pickSeats(rng, schedule.seatCount, 3).map((seatNo) => ({
      method: 'POST' as const, path: '/api/reservations', body: JSON.stringify({ scheduleId: schedule.scheduleId, seatNo }) })) })) },
  };
}

/** The strategy's core statements straight against the stores, same concurrency, state left as it was. */
async function storeCeiling(o: RunOptions, strategy: SeatLockStrategy, c: OneCtx, fixture: { scheduleId: number; seatCount: number }): Promise<Ceiling | undefined> {
  if (!strategy.ceiling) return undefined;
  const db = createDb({ url: withDatabase(c.adminUrl, c.dbName), poolMax: o.poolSize, applicationName: 'seatlab-ceiling' });
  const redis = c.redisUrls.map((u) => createRedisClient(u, `${c.dbName}:`));
  try {
    await connectAll(redis, redis.length);
    return await measureStoreCeiling(strategy.ceiling({ db, redis }, fixture), { concurrency: o.params.connections, durationMs: CEILING_SECONDS * 1000 });
  } finally {
    for (const r of redis) r.disconnect();
    await db.destroy();
  }
}

async function runOne(o: RunOptions, strategy: SeatLockStrategy, c: OneCtx): Promise<StrategyResult> {
  const { io, label } = c;
  const progress = new Progress((t) => process.stderr.write(t), process.stderr.isTTY === true);
  const url = await createDatabaseFromTemplate(c.adminUrl, c.dbName, c.template);
  const db = createDb({ url, poolMax: 4, applicationName: 'seatlab-lab' });
  try {
    const ts = performance.now();
    const prepared = await o.scenario.prepare(db, o.params, { secret: c.secret, rng: createRng(o.params.seed) });
    const seedMs = Math.round(performance.now() - ts);
    io.err(`${label} seeded ${o.params.users} users, ${prepared.seatCount} seats in ${seedMs} ms`);
    const warmup = o.warmupMs > 0 && o.transport === 'http' && !prepared.journeys && !o.queue ? await warmupPlan(db, prepared.seatCount, o.params.seed, c.secret) : undefined;
    let warmupOk = 0;
    let warmupUnknown = 0;
    let countersBefore: Record<string, number> = {};
    const store = c.measureStore ? await storeCeiling(o, strategy, c, { scheduleId: prepared.scheduleId, seatCount: prepared.seatCount }) : undefined;
    if (store) io.err(`${label} store ceiling: ${store.perSec} ops/s, p99 ${store.p99Ms} ms`);

    const options = o.strategyOptions.get(strategy.name) ?? {};
    let counters: Record<string, number> = {};
    let result: RunResult | JourneyResult;
    if (o.transport === 'direct') {
      // The booking core in this process: the same strategy code and plan, no HTTP.
      const core = await startCore({ databaseUrl: withDatabase(c.adminUrl, c.dbName), strategy: strategy.name, strategyOptions: options,
        tokenSecret: c.secret, holdTtlMs: o.holdTtlMs, poolSize: o.poolSize, redisUrls: c.redisUrls, redisKeyPrefix: `${c.dbName}:` });
      try {
        result = await driveDirect(prepared.plan, core.booking, { concurrency: o.params.connections, secret: c.secret });
        counters = core.runtime.counters();
      } finally {
        await core.close();
      }
    } else {
      const server = await startServerProcess({
        databaseUrl: withDatabase(c.adminUrl, c.dbName), strategy: strategy.name, strategyOptions: options,
        tokenSecret: c.secret, holdTtlMs: o.holdTtlMs, poolSize: o.poolSize, redisUrls: c.redisUrls, redisKeyPrefix: `${c.dbName}:`, queue: o.queue,
      }, { onLog: (l) => io.err(`${label} server: ${l.trimEnd()}`) });
      try {
        const onProgress = (p: { elapsedMs: number; requests: number; ok: number; errors: number }) => progress.update(label, p);
        if (prepared.journeys) {
          result = await driveJourneys(prepared.journeys, { url: server.url, concurrency: o.params.connections, onProgress });
          // Abandoned holds must expire (TTL, then a sweep) and their events be relayed before checking.
          io.err(`${label} waiting ${((o.holdTtlMs + 2500) / 1000).toFixed(1)} s for abandoned holds to expire`);
          await new Promise((r) => setTimeout(r, o.holdTtlMs + 2500));
        } else {
          if (warmup) {
            // Warm-up: the same hold path on a schedule of its own, so the sale itself is measured
            // whole with a warm server; left out of the figures, not out of the checks.
            const w = await drive(warmup.plan, { url: server.url, connections: o.params.connections, timeoutSec: o.timeoutSec, maxDurationSec: o.warmupMs / 1000, rate: o.rate });
            warmupOk = w.outcomes.ok;
            warmupUnknown = w.outcomes.timeout;
            io.err(`${label} warm-up: ${w.requests} requests in ${(w.durationMs / 1000).toFixed(1)} s (not measured)`);
            countersBefore = await readCounters(server.url);
          }
          result = await drive(prepared.plan, { url: server.url, connections: o.params.connections, timeoutSec: o.timeoutSec, onProgress, rate: o.rate });
        }
        // The strategy's own counts for the measured phase only (the warm-up's are subtracted).
        const after = await readCounters(server.url);
        counters = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (countersBefore[k] ?? 0)]));
      } finally {
        progress.done();
        await server.stop();
      }
    }
    const journeyOutcomes = 'journeyOutcomes' in result ? result.journeyOutcomes : undefined;
    const checkInput = { scheduleId: prepared.scheduleId, okResponses: journeyOutcomes ? journeyOutcomes.holds : result.outcomes.ok, unknownResponses: result.outcomes.timeout };
    // The warm-up's holds are checked like the sale's: no seat twice, 201s = rows.
    const warmCheck = warmup ? await checkSeats(db, { scheduleId: warmup.scheduleId, okResponses: warmupOk, unknownResponses: warmupUnknown }) : undefined;
    const check = o.scenario.kind === 'tickets'
      ? await checkTickets(db, { ...checkInput, demandExceedsSupply: o.params.users > prepared.seatCount })
      : o.scenario.kind === 'balance' ? await checkBalance(db, checkInput)
      : o.scenario.kind === 'queue' ? await checkQueue({ ...checkInput, redisUrl: c.redisUrls[0]!, keyPrefix: `${c.dbName}:`, queue: o.queue! })
      : o.scenario.kind === 'journey' ? await checkJourney(db, { ...checkInput, redisUrl: c.redisUrls[0]!, keyPrefix: `${c.dbName}:`, abandoned: journeyOutcomes?.abandoned ?? 0 })
      : await checkSeats(db, checkInput);
    const warmViolations = (warmCheck?.violations ?? []).map((v) => ({ ...v, kind: `warmup-${v.kind}`, detail: `warm-up: ${v.detail}` }));
    const violations = [...check.violations, ...warmViolations, ...o.scenario.expect(result, o.params, prepared)];
    const violationCounts = { ...check.violationCounts };
    for (const [k, v] of Object.entries(warmCheck?.violationCounts ?? {})) violationCounts[`warmup-${k}`] = v;
    for (const v of violations.slice(check.violations.length + warmViolations.length)) violationCounts[v.kind] = (violationCounts[v.kind] ?? 0) + 1;
    const notes: string[] = [];
    let verdict: StrategyResult['verdict'];
    if (violations.length === 0) verdict = strategy.safe ? 'pass' : 'race-not-observed';
    else verdict = strategy.safe ? 'fail' : 'unsafe-as-expected';
    if (verdict === 'race-not-observed') notes.push('the race did not occur in this run: no oversell observed, which does not make this strategy safe');
    if (o.warmupMs > 0 && !warmup) notes.push('no warm-up phase (journeys, the waiting room and --transport direct run cold)');
    if (result.rate?.shortfall) {
      notes.push(`open model asked for ${result.rate.requested} req/s but achieved ${result.rate.achieved}: ${result.rate.missed} scheduled requests never started (the system could not sustain the rate)`);
    }
    if (result.outcomes.timeout > 0) notes.push(`${result.outcomes.timeout} requests got no answer within ${o.timeoutSec} s; their outcome is unknown`);
    io.err(`${label} ${result.requests} requests in ${(result.durationMs / 1000).toFixed(1)} s: ${result.rps} req/s, ${result.okPerSec} ok/s, ` +
      `p99 ${result.latencyMs.p99} ms, oversold ${check.oversold} → ${verdict}`);
    return {
      strategy: strategy.name, description: strategy.description, safe: strategy.safe, options,
      load: { model: result.model, connections: result.connections, transport: o.transport, ...(result.rate ? { rate: result.rate } : {}) },
      seedMs, durationMs: result.durationMs, requests: result.requests, rps: result.rps, okPerSec: result.okPerSec,
      latencyMs: result.latencyMs, okLatencyMs: result.okLatencyMs, outcomes: result.outcomes, statusCodes: result.statusCodes,
      errorCodes: result.errorCodes, journeys: result.journeys, oversold: check.oversold, retries: counters.retries ?? 0,
      lockFailures: counters.lockFailures ?? 0, dbAvoided: counters.dbAvoided ?? 0, counters,
      check: { capacity: check.capacity, activeReservations: check.activeReservations, ...('seatsHeldOrSold' in check ? { seatsHeldOrSold: check.seatsHeldOrSold } : 'remaining' in check ? { remaining: check.remaining } : {}) },
      violations, violationCounts, verdict, notes, perSecond: result.perSecond, histogram: result.histogram,
      warmup: { ms: warmup ? o.warmupMs : 0, applied: Boolean(warmup), excludedRequests: 0 },
      ...(store ? { storeCeiling: store } : {}),
      ...('steps' in result ? { stepLatencyMs: result.steps, journeyOutcomes: result.journeyOutcomes } : {}),
      ...('expired' in check ? { journeyCheck: { confirmed: check.confirmed, expired: check.expired, resold: check.resold, events: check.events } } : {}),
    };
  } finally {
    await db.destroy();
    if (!o.keepDb) await dropDatabase(c.adminUrl, c.dbName).catch(() => undefined);
    else io.err(`${label} kept database ${c.dbName}`);
  }
}
