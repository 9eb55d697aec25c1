import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDb, withDatabase } from '../db/knex.js';
import { createDatabaseFromTemplate, createTemplateDatabase, dropDatabase } from '../db/databases.js';
import { provisionStore } from '../infra/store.js';
import type { Provisioned } from '../infra/chain.js';
import { provisionRedisNodes, type ProvisionedRedis } from '../infra/redis.js';
import { isSentinelTopology, provisionRedisSentinel } from '../infra/redis-sentinel.js';
import { isClusterTopology, provisionRedisCluster } from '../infra/redis-cluster.js';
import { InfraUnavailableError } from '../infra/errors.js';
import { startServerProcess } from '../load/server-process.js';
import { measureHttpCeiling, type Ceiling } from '../load/ceilings.js';
import type { Fault } from '../nemesis/types.js';
import { runOne } from './run-one.js';
import { measureLinkOverhead, startLinkHost, type LinkHost } from '../infra/link.js';
import { gitInfo, machineInfo, redisInfo, storeInfo, type StoreInfo } from '../report/metadata.js';
import type { Dialect } from '../db/dialect.js';
import { labeller, resultLabel } from '../report/render-faults.js';
import { SCHEMA_VERSION, type Report, type StrategyResult } from '../report/schema.js';
import { writeReport } from '../report/write.js';
import { aggregateRuns } from '../report/aggregate.js';
import { whereTimeGoes } from '../report/render-cpu.js';
import { evaluateThresholds } from '../report/thresholds.js';
import { renderConsoleTable } from './console.js';
import { EXIT } from './errors.js';
import { takeConnectionErrors, withConnectionErrors } from './connection-errors.js';
import type { RunOptions } from './options.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []));

export interface Io { err: (line: string) => void; out: (text: string) => void }

function makeRunId(scenario: string): { runId: string; dbTag: string } {
  const ts = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const tag = randomBytes(3).toString('hex');
  return { runId: `${ts}-${scenario}-${tag}`, dbTag: `${ts.replace('-', '_')}_${tag}` };
}

const ENGINE: Record<Dialect, string> = { pg: 'PostgreSQL', mysql: 'MySQL/MariaDB' };

/** One store of the run: its server (an admin URL), what it is, and the migrated template each run's database is copied from. */
interface RunStore { dialect: Dialect; server: Provisioned; info?: StoreInfo; template: string }

/** parse → validate (done by the caller) → provision → run each strategy on each store → check → report. Returns the exit code. */
export async function runBench(o: RunOptions, io: Io, argv: string[]): Promise<number> {
  const { runId, dbTag } = makeRunId(o.scenario.name);
  const provisioned: Provisioned[] = [];
  const template = `seatlab_tpl_${dbTag}`;
  const stores: RunStore[] = [];
  // The store is named (in keys, labels and history files) when there is more than one, or it is not PostgreSQL.
  const named = o.stores.length > 1 || o.stores[0]?.dialect !== 'pg';
  try {
    io.err(`seatlab ${runId}: ${o.scenario.name} × ${o.strategies.map((s) => s.name).join(', ')}${named ? ` on ${o.stores.map((s) => s.dialect).join(', ')}` : ''}`);
    // --db-durability: when PostgreSQL acknowledges a commit (synchronous_commit), on a server seatlab starts.
    const durability = o.network.dbDurability;
    for (const spec of o.stores) {
      const t0 = performance.now();
      const server = await provisionStore(spec.dialect, { url: spec.url, durability });
      provisioned.push(server);
      stores.push({ dialect: spec.dialect, server, template });
      io.err(`${ENGINE[spec.dialect]}: ${server.kind}${server.port ? ` on 127.0.0.1:${server.port}` : ''} (${Math.round(performance.now() - t0)} ms)`);
    }
    // --redis-topology sentinel: one logical Redis (primary, replica, three Sentinels) instead of N
    // independent servers; Redlock then has a single vote, behind Sentinel — the set-up the Redis docs warn about.
    // --redis-cluster N: one logical Redis split by hash slot over N primaries; Redlock again has one vote.
    const startRedis = async (): Promise<ProvisionedRedis[]> => {
      if (o.network.redisCluster) {
        const t0 = performance.now();
        const c = await provisionRedisCluster(o.network.redisCluster);
        const byRole = (role: string) => c.nodes().filter((n) => n.role === role).map((n) => n.port).join(', ');
        io.err(`Redis Cluster: primaries 127.0.0.1:${byRole('primary')}${c.shape.replicasPerPrimary ? `, replicas ${byRole('replica')}` : ''} (${Math.round(performance.now() - t0)} ms)`);
        return [c];
      }
      if (o.network.redisTopology !== 'sentinel') return provisionRedisNodes({ urls: o.redisUrls, nodes: o.redisNodes });
      const t = await provisionRedisSentinel();
      io.err(`Redis Sentinel: primary 127.0.0.1:${t.primary().port}, replica 127.0.0.1:${t.replica().port}, Sentinels ${t.sentinels().map((s) => s.port).join(', ')} (${t.url})`);
      return [t];
    };
    let redis: ProvisionedRedis[] = [];
    let strategies = o.strategies;
    const skipped: { strategy: string; reason: string }[] = [];
    if (redisForEveryStrategy(o)) {
      // Without Redis this run cannot happen at all.
      redis = await startRedis();
      provisioned.push(...redis);
      io.err(`Redis: ${redis.length} × ${redis[0]!.kind} (${o.queue ? 'waiting room on' : 'event stream'})`);
    } else if (strategies.some((s) => s.requires.redis) || o.nemesis?.faults.some((f) => REDIS_FAULTS.has(f.name))) {
      try {
        redis = await startRedis();
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

    // What each store is (engine, version, isolation), and one migrated template per store.
    const templates: RunStore[] = [];
    try {
      for (const st of stores) {
        await createTemplateDatabase(st.server.url, template);
        templates.push(st);
        // Asked on the template: the database in an admin URL's path need not exist (a MySQL URL's often does not).
        const db = createDb({ url: withDatabase(st.server.url, template), poolMax: 1 });
        st.info = await storeInfo(db, st.server.kind).finally(() => db.destroy());
        if (named) io.err(`${st.dialect}: ${st.info.engine} ${st.info.version}, isolation ${st.info.isolation}`);
      }
      const plan = linkPlan(o);
      let linkHost: LinkHost | undefined;
      if (plan) {
        linkHost = await startLinkHost();
        provisioned.push({ url: '', kind: 'embedded', pid: linkHost.pid, stop: () => linkHost!.close() });
        io.err(`links: every server instance reaches every store through a TCP proxy of the lab's (pid ${linkHost.pid}), ` +
          `round trip +${plan.latenciesMs.map(fmtMs).join(', +')}${plan.jitterMs ? `, jitter ${fmtMs(plan.jitterMs)}` : ''} (${plan.reason})`);
      }
      return await runCells(o, io, argv, { runId, dbTag, stores, redis, strategies, skipped, named, ...(linkHost && plan ? { linkHost, links: plan } : {}) });
    } finally {
      for (const st of templates) await dropDatabase(st.server.url, template).catch(() => undefined);
    }
  } finally {
    for (const p of provisioned.reverse()) await p.stop().catch((e: Error) => io.err(`stopping ${p.kind} server failed: ${e.message}`));
  }
}

interface Prepared {
  runId: string; dbTag: string; stores: RunStore[]; redis: ProvisionedRedis[]; strategies: RunOptions['strategies'];
  skipped: { strategy: string; reason: string }[]; named: boolean;
  /** The link proxy process and what it was started for, when servers reach the stores through links. */
  linkHost?: LinkHost;
  links?: LinkPlan;
}

type LinkPlan = { latenciesMs: number[]; jitterMs: number; reason: string };

/** Why this run has links: asked for with --link-latency, or needed by a fault that cuts them (then at 0 ms). */
/** The waiting room, or the journey's event stream, lives in Redis whatever the strategy. */
const redisForEveryStrategy = (o: RunOptions): boolean => Boolean(o.queue || o.scenario.needsRedis);

function linkPlan(o: RunOptions): LinkPlan | undefined {
  if (o.network.links) return { ...o.network.links, reason: '--link-latency' };
  const cutters = o.nemesis?.faults.filter((f) => f.needsLinks).map((f) => f.name) ?? [];
  if (cutters.length > 0 && o.transport === 'http') return { latenciesMs: [0], jitterMs: 0, reason: `${cutters.join(', ')} act(s) on links` };
  return undefined;
}

/** The HTTP ceiling, then every cell (strategy × fault × store) once per run, interleaved, then the report. */
async function runCells(o: RunOptions, io: Io, argv: string[], p: Prepared): Promise<number> {
  const { runId, dbTag, stores, redis, strategies, skipped, named, linkHost, links } = p;
  let overheadUs: number | undefined;
  if (linkHost) {
    const m = await measureLinkOverhead(linkHost);
    overheadUs = Math.round(m.linkUs - m.directUs);
    io.err(`link overhead at 0 ms: a round trip takes ${m.linkUs} µs through a link, ${m.directUs} µs direct (+${overheadUs} µs of proxy)`);
  }
  const first = stores[0]!;
  const secret = randomBytes(32).toString('hex');

  // The HTTP ceiling, before the strategies: the same server code answering a no-op route (once, on the first store).
  let httpCeiling: Ceiling | undefined;
  if (o.transport === 'http' && o.httpCeilingMs > 0) {
    const dbName = `seatlab_${dbTag}_ceiling`;
    const url = await createDatabaseFromTemplate(first.server.url, dbName, first.template);
    try {
      const s0 = strategies.find((s) => !s.requires.redis) ?? strategies[0]!;
      const server = await startServerProcess({ databaseUrl: url, strategy: s0.name, strategyOptions: o.strategyOptions.get(s0.name), tokenSecret: secret, poolSize: o.poolSize,
        redisUrls: s0.requires.redis || redisForEveryStrategy(o) ? redis.map((r) => r.url) : [], redisKeyPrefix: `${dbName}:` });
      try {
        httpCeiling = await measureHttpCeiling(server.url, { connections: o.params.connections, rate: o.rate, durationSec: o.httpCeilingMs / 1000 });
        io.err(`HTTP ceiling (GET /lab/noop, ${o.params.connections} connections): ${httpCeiling.perSec} req/s, p99 ${httpCeiling.p99Ms} ms`);
      } finally {
        await server.stop();
      }
    } finally {
      await dropDatabase(first.server.url, dbName).catch(() => undefined);
    }
    takeConnectionErrors(io, '[HTTP ceiling]');
  }

  // One cell per strategy, fault (a healthy cell when no --nemesis) and store: the fault matrix, on every store.
  // Cells of one strategy on the stores follow each other, so its results sit side by side.
  const faults: (Fault | undefined)[] = o.nemesis?.faults.length ? o.nemesis.faults : [undefined];
  // With links, one cell per round-trip time too: every strategy at every latency, interleaved like stores.
  const latencies: (number | undefined)[] = links ? links.latenciesMs : [undefined];
  const cells = strategies.flatMap((s) => faults.flatMap((f) => stores.flatMap((st) => latencies.map((lat) => ({
    strategy: s, fault: f, store: st, latencyMs: lat, key: cellKey(s.name, f?.name, named ? st.dialect : undefined, lat),
  })))));
  const perCell = new Map<string, StrategyResult[]>(cells.map((c) => [c.key, []]));
  // Interleaved (A B C A B C …, every store within each run) so that machine drift hits every strategy and store alike.
  for (let run = 0; run < o.runs; run++) {
    for (const [i, cell] of cells.entries()) {
      const { strategy, fault, store, latencyMs } = cell;
      const name = resultLabel({ strategy: strategy.name, fault: fault?.name, store: store.dialect, ...(latencyMs !== undefined ? { linkLatencyMs: latencyMs } : {}) }, named);
      const label = `[run ${run + 1}/${o.runs} · ${i + 1}/${cells.length} ${name}]`;
      const redisUrls = strategy.requires.redis || redisForEveryStrategy(o) ? redis.map((r) => r.url) : [];
      const historyRel = `history/${cell.key.replace('@', '.')}.run${run + 1}.jsonl.gz`;
      const result = await runOne(o, strategy, fault, {
        adminUrl: store.server.url, dbServer: store.server, template: store.template, store: store.dialect, dbName: `seatlab_${dbTag}_${run}_${i}`, secret, label, io, redisUrls, redis,
        measureStore: run === 0 && !fault, historyRel, historyFile: path.join(o.out, runId, historyRel),
        ...(linkHost && links && latencyMs !== undefined ? { link: { host: linkHost, toxics: { latencyMs, jitterMs: links.jitterMs }, ...redisDataNodesOf(redis) } } : {}),
      });
      perCell.get(cell.key)!.push(withConnectionErrors(result, io, label));
    }
  }

  const pg = stores.find((st) => st.dialect === 'pg');
  const results = cells.map((c) => {
    const agg = aggregateRuns(perCell.get(c.key)!);
    const lower = Math.min(httpCeiling?.perSec ?? Infinity, agg.storeCeiling?.perSec ?? Infinity);
    return withEfficiency(agg, lower);
  });
  return await finishReport(o, io, {
    runId, results,
    config: {
      strategies: strategies.map((s) => s.name), skipped, redisNodes: redis.length, ...redisTopologyOf(redis), strategyOptions: o.rawStrategyOptions, holdTtlMs: o.holdTtlMs,
      poolSize: o.poolSize, timeoutSec: o.timeoutSec, seed: o.params.seed, runs: o.runs, warmupMs: o.warmupMs, command: argv,
      instances: o.instances, queue: o.queue ?? 'off', livenessGraceMs: o.livenessGraceMs, stores: stores.map((st) => st.dialect),
      ...(links ? { links: { ...links, ...(overheadUs !== undefined ? { overheadUs } : {}), ...(linkHost ? { proxyPid: linkHost.pid } : {}) } } : {}),
      dbDurability: o.network.dbDurability,
      ...(o.nemesis ? { nemesis: { faults: o.nemesis.faults.map((f) => f.name), ...(o.nemesis.everyMs !== undefined ? { everyMs: o.nemesis.everyMs } : {}), ...(o.nemesis.forMs !== undefined ? { forMs: o.nemesis.forMs } : {}) } } : {}),
    },
    servers: {
      stores: stores.map((st) => st.info!),
      // Readers of reports from before there were two stores look here.
      ...(pg?.info ? { postgres: { version: pg.info.version, kind: pg.info.kind, settings: pg.info.settings } } : {}),
      ...(redis.length > 0 ? { redis: { ...(await redisInfo(redis[0]!.url, redis[0]!.kind)), ...redisShape(redis) } } : {}),
    },
    ceilings: { http: httpCeiling },
  });
}

/** req/s ÷ the lower ceiling, unless the run beat it (then the ceiling measured other work and says so); where the time goes, from the CPU measured. */
function withEfficiency(agg: StrategyResult, lower: number): StrategyResult {
  const out: StrategyResult = { ...agg };
  // Measured per process (src/load/cpu.ts), not inferred from the ratio of the two ceilings.
  if (agg.cpu) out.whereTimeGoes = whereTimeGoes(agg.cpu);
  if (!Number.isFinite(lower) || lower <= 0) return out;
  const e = agg.rps / lower;
  if (e > 1.05) out.ceilingInvalid = `${agg.rps} req/s is ${Math.round((e - 1) * 100)}% above the lower ceiling (${lower}/s): that ceiling did not measure the same work, so no efficiency is given`;
  else out.efficiency = Math.round(e * 100) / 100;
  return out;
}

/**
 * A result's key inside a run: the strategy, the fault it ran under ("redlock@pause-instance"), and
 * the store when the run names stores ("redlock@pause-instance.mysql"); the history file is the key
 * with "." for "@". Internal: reports, thresholds and compare name a result with resultLabel
 * ("redlock@mysql × pause-instance").
 */
export function cellKey(strategy: string, fault?: string, store?: Dialect, linkLatencyMs?: number): string {
  return `${fault ? `${strategy}@${fault}` : strategy}${store ? `.${store}` : ''}${linkLatencyMs !== undefined ? `.rtt${linkLatencyMs}ms` : ''}`;
}

/** "0.5ms", "2ms", "0ms". */
export function fmtMs(ms: number): string {
  return `${ms}ms`;
}

/** Redis data nodes behind Sentinel, reached through links via the client's natMap (none for independent servers). */
function redisDataNodesOf(redis: ProvisionedRedis[]): { redisDataNodes?: { host: string; port: number }[] } {
  // Both nodes, whatever their roles now: they swap on a failover, and the links must already be there.
  const nodes = redis.filter(isSentinelTopology).flatMap((t) => [t.primary(), t.replica()].map((n) => ({ host: '127.0.0.1', port: n.port })));
  return nodes.length > 0 ? { redisDataNodes: nodes } : {};
}

/** Faults that act on Redis: with one of them, Redis is started even if no strategy needs it. */
const REDIS_FAULTS = new Set(['restart-redis', 'stop-redis-minority', 'expire-locks', 'failover-redis']);

/** The report's config.redisTopology (absent: independent servers), and the cluster's shape. */
function redisTopologyOf(redis: ProvisionedRedis[]): Pick<Report['config'], 'redisTopology' | 'redisCluster'> {
  const c = redis.find(isClusterTopology);
  if (c) return { redisTopology: 'cluster', redisCluster: c.shape };
  return redis.some(isSentinelTopology) ? { redisTopology: 'sentinel' } : {};
}

/** How many Redis data nodes, behind how many Sentinels or as how many cluster primaries: the report's servers.redis. */
function redisShape(redis: ProvisionedRedis[]): Omit<NonNullable<Report['servers']['redis']>, 'version' | 'kind' | 'settings'> {
  const t = redis.find(isSentinelTopology);
  if (t) return { nodes: 2, topology: 'sentinel', sentinels: t.sentinels().length };
  const c = redis.find(isClusterTopology);
  if (c) return { nodes: c.nodes().length, topology: 'cluster', primaries: c.shape.primaries, replicasPerPrimary: c.shape.replicasPerPrimary };
  return { nodes: redis.length, topology: 'single' };
}

/** Thresholds, the exit code, report.json/md/html and the console table: the end of every kind of run. */
export async function finishReport(o: RunOptions, io: Io, p: Pick<Report, 'runId' | 'results' | 'config' | 'servers' | 'ceilings'> & { target?: Report['target'] }): Promise<number> {
  const { results } = p;
  const label = labeller({ results, config: p.config });
  const failed = results.filter((r) => r.verdict === 'fail').map(label);
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
  for (const t of thresholds) {
    const name = resultLabel({ strategy: t.strategyName, fault: t.fault, store: t.storeName, ...(t.rttMs !== undefined ? { linkLatencyMs: t.rttMs } : {}) }, t.storeName !== undefined);
    io.err(`threshold ${t.pass ? 'pass' : 'FAIL'}  ${name}: ${t.metric} ${t.op} ${t.target} (was ${t.value})`);
  }
  if (breached.length > 0) io.err(`${breached.length} threshold(s) breached: exit ${EXIT.thresholdBreached}`);
  if (failed.length > 0) io.err(`INVARIANT VIOLATED by ${failed.join(', ')} (claims to be safe): exit ${EXIT.invariantViolated}`);
  if (o.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
  return exitCode;
}
