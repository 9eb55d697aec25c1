import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDb } from '../db/knex.js';
import { createDatabaseFromTemplate, createTemplateDatabase, dropDatabase } from '../db/databases.js';
import { provisionPostgres, type ProvisionedPostgres } from '../infra/postgres.js';
import { provisionRedisNodes, type ProvisionedRedis } from '../infra/redis.js';
import { InfraUnavailableError } from '../infra/errors.js';
import { startServerProcess } from '../load/server-process.js';
import { measureHttpCeiling, type Ceiling } from '../load/ceilings.js';
import type { Fault } from '../nemesis/types.js';
import { runOne } from './run-one.js';
import { gitInfo, machineInfo, postgresInfo, redisInfo } from '../report/metadata.js';
import { SCHEMA_VERSION, type Report, type StrategyResult } from '../report/schema.js';
import { writeReport } from '../report/write.js';
import { aggregateRuns } from '../report/aggregate.js';
import { evaluateThresholds } from '../report/thresholds.js';
import { renderConsoleTable } from './console.js';
import { EXIT } from './errors.js';
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
    } else if (strategies.some((s) => s.requires.redis) || o.nemesis?.faults.some((f) => REDIS_FAULTS.has(f.name))) {
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

    // One cell per strategy and fault (a healthy cell when no --nemesis): the fault matrix.
    const faults: (Fault | undefined)[] = o.nemesis?.faults.length ? o.nemesis.faults : [undefined];
    const cells = strategies.flatMap((s) => faults.map((f) => ({ strategy: s, fault: f, key: cellKey(s.name, f?.name) })));
    const perCell = new Map<string, StrategyResult[]>(cells.map((c) => [c.key, []]));
    try {
      // Interleaved (A B C A B C …) so that machine drift hits every strategy alike.
      for (let run = 0; run < o.runs; run++) {
        for (const [i, cell] of cells.entries()) {
          const { strategy, fault } = cell;
          const label = `[run ${run + 1}/${o.runs} · ${i + 1}/${cells.length} ${strategy.name}${fault ? ` × ${fault.name}` : ''}]`;
          const redisUrls = strategy.requires.redis || o.queue ? redis.map((r) => r.url) : [];
          const historyRel = `history/${cell.key.replace('@', '.')}.run${run + 1}.jsonl.gz`;
          perCell.get(cell.key)!.push(await runOne(o, strategy, fault, {
            adminUrl: pgServer.url, template, dbName: `seatlab_${dbTag}_${run}_${i}`, secret, label, io, redisUrls, redis,
            measureStore: run === 0 && !fault, historyRel, historyFile: path.join(o.out, runId, historyRel),
          }));
        }
      }
    } finally {
      await dropDatabase(pgServer.url, template).catch(() => undefined);
    }

    const results = cells.map((c) => {
      const agg = aggregateRuns(perCell.get(c.key)!);
      const lower = Math.min(httpCeiling?.perSec ?? Infinity, agg.storeCeiling?.perSec ?? Infinity);
      return withEfficiency(agg, httpCeiling, lower);
    });
    return await finishReport(o, io, {
      runId, results,
      config: {
        strategies: strategies.map((s) => s.name), skipped, redisNodes: redis.length, strategyOptions: o.rawStrategyOptions, holdTtlMs: o.holdTtlMs,
        poolSize: o.poolSize, timeoutSec: o.timeoutSec, seed: o.params.seed, runs: o.runs, warmupMs: o.warmupMs, command: argv,
        instances: o.instances, livenessGraceMs: o.livenessGraceMs,
        ...(o.nemesis ? { nemesis: { faults: o.nemesis.faults.map((f) => f.name), ...(o.nemesis.everyMs !== undefined ? { everyMs: o.nemesis.everyMs } : {}), ...(o.nemesis.forMs !== undefined ? { forMs: o.nemesis.forMs } : {}) } } : {}),
      },
      servers: { postgres: pgInfo, ...(redis.length > 0 ? { redis: { ...(await redisInfo(redis[0]!.url, redis[0]!.kind)), nodes: redis.length } } : {}) },
      ceilings: { http: httpCeiling },
    });
  } finally {
    for (const p of provisioned.reverse()) await p.stop().catch((e: Error) => io.err(`stopping ${p.kind} server failed: ${e.message}`));
  }
}

const CEILING_SECONDS = 3;

/** req/s ÷ the lower ceiling, unless the run beat it (then the ceiling measured other work and says so). */
function withEfficiency(agg: StrategyResult, http: Ceiling | undefined, lower: number): StrategyResult {
  const out: StrategyResult = { ...agg };
  const store = agg.storeCeiling;
  if (store && store.perSec > 0) {
    const httpShare = Math.max(0, 1 - agg.rps / store.perSec);
    const waits = (agg.counters.lockWaits ?? 0) + (agg.retries ?? 0);
    out.whereTimeGoes = `in-process (no HTTP) the same plan ran at ${store.perSec} req/s, over HTTP at ${agg.rps}: HTTP and the server process take about ` +
      `${Math.round(httpShare * 100)}% of a request's cost, the store and its locks the rest (${waits} lock waits and retries, ${agg.lockFailures} lock failures)` +
      `${http ? `; the same server answers a no-op at ${http.perSec} req/s` : ''}`;
  }
  if (!Number.isFinite(lower) || lower <= 0) return out;
  const e = agg.rps / lower;
  if (e > 1.05) out.ceilingInvalid = `${agg.rps} req/s is ${Math.round((e - 1) * 100)}% above the lower ceiling (${lower}/s): that ceiling did not measure the same work, so no efficiency is given`;
  else out.efficiency = Math.round(e * 100) / 100;
  return out;
}

/** A result's key: the strategy, and the fault it ran under. */
export function cellKey(strategy: string, fault?: string): string {
  return fault ? `${strategy}@${fault}` : strategy;
}

/** Faults that act on Redis: with one of them, Redis is started even if no strategy needs it. */
const REDIS_FAULTS = new Set(['restart-redis', 'stop-redis-minority']);

/** Thresholds, the exit code, report.json/md/html and the console table: the end of every kind of run. */
export async function finishReport(o: RunOptions, io: Io, p: Pick<Report, 'runId' | 'results' | 'config' | 'servers' | 'ceilings'> & { target?: Report['target'] }): Promise<number> {
  const { results } = p;
  const failed = results.filter((r) => r.verdict === 'fail').map((r) => (r.fault ? `${r.strategy} × ${r.fault}` : r.strategy));
  const thresholds = evaluateThresholds(o.thresholds, results);
  const breached = thresholds.filter((t) => !t.pass);
  // An invariant violated by a "safe" strategy outranks a threshold breach.
  const exitCode = failed.length > 0 ? EXIT.invariantViolated : breached.length > 0 ? EXIT.thresholdBreached : EXIT.ok;
  const report: Report = {
    schemaVersion: SCHEMA_VERSION,
    runId: p.runId,
    createdAt: new Date().toISOString(),
    tool: { name: 'seatlab', version: '0.1.0' },
    scenario: { name: o.scenario.name, description: o.scenario.description, expectation: o.scenario.expectation, params: { ...o.params } },
    config: p.config,
    machine: machineInfo(),
    servers: p.servers,
    ...(p.target ? { target: p.target } : {}),
    git: gitInfo(ROOT),
    ceilings: p.ceilings,
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
  for (const t of thresholds) io.err(`threshold ${t.pass ? 'pass' : 'FAIL'}  ${t.strategyName}${t.fault ? ` × ${t.fault}` : ''}: ${t.metric} ${t.op} ${t.target} (was ${t.value})`);
  if (breached.length > 0) io.err(`${breached.length} threshold(s) breached: exit ${EXIT.thresholdBreached}`);
  if (failed.length > 0) io.err(`INVARIANT VIOLATED by ${failed.join(', ')} (claims to be safe): exit ${EXIT.invariantViolated}`);
  if (o.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
  return exitCode;
}
