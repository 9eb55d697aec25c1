import { strategies, strategyNames } from '../../strategies/index.js';
import { scenarios, scenarioNames } from '../../scenarios/index.js';
import { resolveStrategyOptions } from '../core/options.js';
import type { SeatLockStrategy } from '../core/ports.js';
import type { Scenario, ScenarioParams } from '../../scenarios/types.js';
import { DEFAULT_HOLD_TTL_MS, DEFAULT_POOL_SIZE } from '../server/start.js';
import type { QueueConfig } from '../queue/waiting-room.js';
import { parseThreshold, type Threshold } from '../report/thresholds.js';
import { faults, faultNames } from '../nemesis/index.js';
import type { Fault } from '../nemesis/types.js';
import type { Profile } from '../target/profile.js';
import { dialectOfUrl, type Dialect } from '../db/dialect.js';
import { storeFromName, VALID_STORES } from '../report/schema.js';
import { parseNetwork, type NetworkOptions } from './network-options.js';
import { isClusterUrl } from '../infra/redis-client.js';
import { CLOSED_DRIVER_LIMIT_SEC } from '../load/closed-driver.js';

/** The HTTP ceiling's length unless --http-ceiling says otherwise: long enough for a stable rate, short beside a sale. */
export const DEFAULT_HTTP_CEILING_MS = 3000;

export interface RawQueueOptions { queue?: string; queueActive?: string; queueRate?: string; queueActiveTtl?: string }

/** --queue on|off and its limits; a scenario that needs the waiting room turns it on by default. */
export function parseQueue(raw: RawQueueOptions, required: boolean, problems: string[], defaults?: QueueConfig, onByDefault = required): QueueConfig | undefined {
  const flag = raw.queue ?? (onByDefault ? 'on' : 'off');
  if (flag !== 'on' && flag !== 'off') problems.push(`--queue must be on or off (got "${raw.queue}")`);
  if (flag === 'off' && required) problems.push('--queue off: this scenario needs the waiting room; leave --queue out or say --queue on');
  const maxActive = parseCount('--queue-active', raw.queueActive, defaults?.maxActive ?? 100, problems, 1_000_000);
  const ratePerSec = parseCount('--queue-rate', raw.queueRate, defaults?.ratePerSec ?? 100, problems, 1_000_000);
  const activeTtlMs = parseDuration('--queue-active-ttl', raw.queueActiveTtl, defaults?.activeTtlMs ?? 5 * 60_000, problems);
  return flag === 'on' ? { maxActive, ratePerSec, activeTtlMs } : undefined;
}

export interface RawRunOptions {
  strategy?: string;
  scenario?: string;
  users?: string;
  seats?: string;
  connections?: string;
  seed?: string;
  out?: string;
  json?: boolean;
  /** Repeatable: one URL per store. */
  databaseUrl?: string[];
  store?: string;
  redisUrl?: string[];
  redisNodes?: string;
  strategyOpt?: string[];
  holdTtl?: string;
  maxLoadTime?: string;
  httpCeiling?: string;
  poolSize?: string;
  timeout?: string;
  keepDb?: boolean;
  runs?: string;
  warmup?: string;
  threshold?: string[];
  rate?: string;
  maxConnections?: string;
  transport?: string;
  queue?: string;
  queueActive?: string;
  queueRate?: string;
  queueActiveTtl?: string;
  instances?: string;
  nemesis?: string;
  nemesisEvery?: string;
  nemesisFor?: string;
  livenessGrace?: string;
  target?: string;
  profile?: string;
  targetDb?: string;
  targetRedis?: string;
  linkLatency?: string;
  linkJitter?: string;
  redisTopology?: string;
  redisCluster?: string;
  redisClusterReplicas?: string;
  dbDurability?: string;
}

/** One store of a run: its dialect, and its admin URL when one was given (flag or DATABASE_URL). */
export interface StoreSpec { dialect: Dialect; url?: string }

const ENGINE: Record<Dialect, string> = { pg: 'PostgreSQL', mysql: 'MySQL/MariaDB' };
const SCHEMES = 'postgres://, postgresql:// (PostgreSQL), mysql://, mariadb:// (MySQL/MariaDB)';

/** A URL fit for an error message: the password hidden. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** The dialect of a database URL, or a problem naming where it came from and the schemes accepted. */
function urlDialect(source: string, url: string, problems: string[]): Dialect | undefined {
  try {
    return dialectOfUrl(url);
  } catch {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
    problems.push(`${source} "${redactUrl(url)}": ${scheme ? `unsupported scheme "${scheme}:"` : 'not a URL'}; accepted: ${SCHEMES}`);
    return undefined;
  }
}

/**
 * --store a,b and --database-url (once per store) → the stores of the run. Without --store the
 * stores are the given URLs' (or DATABASE_URL's, or embedded PostgreSQL); with it, each listed store
 * takes its URL if one was given (DATABASE_URL counts for its own dialect) and is provisioned the
 * default way otherwise. `single` (bench serve): at most one store.
 */
export function parseStores(raw: { store?: string; databaseUrl?: string[] }, envUrl: string | undefined, problems: string[], single = false): StoreSpec[] {
  const urls = new Map<Dialect, string>();
  for (const url of raw.databaseUrl ?? []) {
    const d = urlDialect('--database-url', url, problems);
    if (!d) continue;
    const prev = urls.get(d);
    if (prev !== undefined) problems.push(`--database-url given twice for ${ENGINE[d]} ("${redactUrl(prev)}" and "${redactUrl(url)}"): give one URL per store`);
    else urls.set(d, url);
  }
  const env = envUrl ? { url: envUrl, dialect: urlDialect('DATABASE_URL', envUrl, problems) } : undefined;
  const withUrl = (dialect: Dialect): StoreSpec => {
    const url = urls.get(dialect) ?? (env?.dialect === dialect ? env.url : undefined);
    return url === undefined ? { dialect } : { dialect, url };
  };
  let stores: Dialect[];
  if (raw.store !== undefined) {
    stores = [];
    for (const name of raw.store.split(',').map((x) => x.trim()).filter(Boolean)) {
      const d = storeFromName(name);
      if (!d) problems.push(`--store: unknown store "${name}"; valid: ${VALID_STORES}${single ? '' : ', several separated by commas'}`);
      else if (!stores.includes(d)) stores.push(d);
    }
    if (stores.length === 0 && !problems.some((p) => p.startsWith('--store'))) problems.push(`--store is empty; valid: ${VALID_STORES}`);
    for (const [d, url] of urls) {
      if (!stores.includes(d) && stores.length > 0) problems.push(`--database-url "${redactUrl(url)}" is a ${ENGINE[d]} URL but --store ${raw.store} leaves ${d} out; add ${d} to --store, or drop that URL`);
    }
  } else {
    stores = urls.size > 0 ? [...urls.keys()] : env?.dialect ? [env.dialect] : ['pg'];
  }
  if (single && stores.length > 1) problems.push(`bench serve runs on one store; give one --database-url or one --store (got ${stores.join(', ')})`);
  return stores.map(withUrl);
}

/** The black-box target before its profile is loaded. */
export interface TargetSpec { url: string; profileFile: string; databaseUrl?: string; redisUrl?: string; profile?: Profile }

/** The faults to inject (each one a column of the fault matrix) and their schedule, if overridden. */
export interface NemesisOptions {
  faults: Fault[];
  everyMs?: number;
  forMs?: number;
}

export interface RunOptions {
  strategies: SeatLockStrategy[];
  scenario: Scenario;
  params: ScenarioParams;
  strategyOptions: Map<string, Record<string, string>>;
  rawStrategyOptions: Record<string, string>;
  out: string;
  json: boolean;
  /** The stores to compare, in order; a store without a URL is provisioned the default way. */
  stores: StoreSpec[];
  redisUrls: string[];
  redisNodes: number;
  /** `--strategy all`: strategies whose servers cannot be had are skipped, not fatal. */
  skipUnavailable: boolean;
  holdTtlMs: number;
  /** The closed and open drivers start no user after this long into the load (a safety limit; the report counts the users left out). */
  maxLoadMs: number;
  /** How long the HTTP ceiling runs; 0: not measured (--http-ceiling off). */
  httpCeilingMs: number;
  /** The waiting room, when on. */
  queue?: QueueConfig;
  poolSize: number;
  timeoutSec: number;
  keepDb: boolean;
  /** Repetitions per strategy, interleaved. */
  runs: number;
  warmupMs: number;
  thresholds: Threshold[];
  /** Open model: arrivals (journeys started) per second; closed model (--connections only) when absent. */
  rate?: number;
  /** Open model: the most journeys in flight at once; an arrival finding them all busy is dropped. */
  maxConnections: number;
  /** http (default): the booking server over HTTP; direct: the booking core called in the lab's process. */
  transport: 'http' | 'direct';
  /** Booking server processes on the same stores; the driver spreads connections over them. */
  instances: number;
  nemesis?: NemesisOptions;
  /** After the faults end, how long a seat or ticket may stay refused before it counts as stuck. */
  livenessGraceMs: number;
  /** Black-box mode: somebody else's booking API instead of seatlab's strategies. */
  target?: TargetSpec;
  /** Links between servers and stores, the Redis topology, the database's commit durability. */
  network: NetworkOptions;
}

/** --target URL --profile FILE [--target-db URL]: the profile itself is loaded (async) by the caller. */
function parseTarget(raw: RawRunOptions, problems: string[]): TargetSpec | undefined {
  if (raw.target === undefined) {
    if (raw.profile !== undefined || raw.targetDb !== undefined || raw.targetRedis !== undefined) problems.push('--profile, --target-db and --target-redis need --target <url of the booking API>');
    return undefined;
  }
  let url: URL | undefined;
  try {
    url = new URL(raw.target);
  } catch {
    problems.push(`--target must be an http(s) URL such as http://127.0.0.1:3000 (got "${raw.target}")`);
  }
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`--target must be an http(s) URL (got "${raw.target}")`);
  if (raw.profile === undefined) problems.push('--target needs --profile <file>: a JSON or YAML description of the API (see profiles/seatlab.json)');
  if (raw.strategy !== undefined) problems.push('--target measures somebody else\'s API instead of a strategy: drop --strategy');
  if (raw.targetDb !== undefined && !/^(postgres|postgresql|mysql|mariadb):\/\//.test(raw.targetDb)) problems.push(`--target-db must be a postgres://, postgresql://, mysql:// or mariadb:// URL of the target's database (got "${raw.targetDb}")`);
  if (raw.targetRedis !== undefined && !/^rediss?:\/\//.test(raw.targetRedis)) problems.push(`--target-redis must be a redis:// or rediss:// URL of the target's Redis (got "${raw.targetRedis}")`);
  return url ? { url: raw.target.replace(/\/+$/, ''), profileFile: raw.profile ?? '', ...(raw.targetDb ? { databaseUrl: raw.targetDb } : {}), ...(raw.targetRedis ? { redisUrl: raw.targetRedis } : {}) } : undefined;
}

/** --instances N (1 … 16). */
export function parseInstances(raw: string | undefined, problems: string[]): number {
  return parseCount('--instances', raw, 1, problems, 16);
}

/** --nemesis a,b with --nemesis-every / --nemesis-for (durations; --nemesis-for may be 0 for instant faults). */
export function parseNemesis(raw: Pick<RawRunOptions, 'nemesis' | 'nemesisEvery' | 'nemesisFor'>, problems: string[]): NemesisOptions | undefined {
  if (raw.nemesis === undefined) {
    if (raw.nemesisEvery !== undefined || raw.nemesisFor !== undefined) problems.push('--nemesis-every and --nemesis-for need --nemesis <fault>');
    return undefined;
  }
  const valid = `valid: ${faultNames().join(', ')} (or a comma-separated list)`;
  const picked: Fault[] = [];
  for (const name of raw.nemesis.split(',').map((s) => s.trim()).filter(Boolean)) {
    const f = faults.get(name);
    if (!f) problems.push(`--nemesis: unknown fault "${name}"; ${valid}`);
    else if (!picked.includes(f)) picked.push(f);
  }
  if (picked.length === 0 && problems.length === 0) problems.push(`--nemesis is empty; ${valid}`);
  const everyMs = raw.nemesisEvery === undefined ? undefined : parseDuration('--nemesis-every', raw.nemesisEvery, 0, problems);
  const forMs = raw.nemesisFor === undefined ? undefined : raw.nemesisFor.trim() === '0' ? 0 : parseDuration('--nemesis-for', raw.nemesisFor, 0, problems);
  if (everyMs !== undefined && forMs !== undefined && forMs >= everyMs) problems.push(`--nemesis-for (${forMs} ms) must be shorter than --nemesis-every (${everyMs} ms)`);
  return { faults: picked, ...(everyMs !== undefined ? { everyMs } : {}), ...(forMs !== undefined ? { forMs } : {}) };
}

/** A count flag: a positive integer, or a problem that names the flag. */
export function parseCount(flag: string, raw: string | undefined, def: number, problems: string[], max = 10_000_000): number {
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1 || Number(raw) > max) {
    problems.push(`${flag} must be a positive integer up to ${max} (got "${raw}")`);
    return def;
  }
  return Number(raw);
}

/** "300000", "500ms", "2s", "5m" → milliseconds. */
export function parseDuration(flag: string, raw: string | undefined, defMs: number, problems: string[]): number {
  if (raw === undefined) return defMs;
  const m = /^(\d+)(ms|s|m|h)?$/.exec(raw.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  if (!m || Number(m[1]) === 0) {
    problems.push(`${flag} must be a positive duration such as 500ms, 2s or 5m (got "${raw}")`);
    return defMs;
  }
  return Number(m[1]) * unit[(m[2] ?? 'ms') as keyof typeof unit];
}

/** --http-ceiling 3s | off: whole seconds, since its rate is autocannon's average of per-second counts. */
function parseHttpCeiling(raw: string | undefined, problems: string[]): number {
  if (raw?.trim() === 'off') return 0;
  const bad: string[] = [];
  const ms = parseDuration('--http-ceiling', raw, DEFAULT_HTTP_CEILING_MS, bad);
  if (bad.length > 0 || ms < 1000 || ms % 1000 !== 0) {
    problems.push(`--http-ceiling must be whole seconds such as 3s or 10s, or off to skip it (got "${raw}")`);
    return DEFAULT_HTTP_CEILING_MS;
  }
  return ms;
}

export function selectStrategies(raw: string | undefined, problems: string[]): SeatLockStrategy[] {
  const valid = `valid: all, ${strategyNames().join(', ')} (or a comma-separated list)`;
  if (!raw) {
    problems.push(`--strategy is required; ${valid}`);
    return [];
  }
  if (raw === 'all') return [...strategies.values()];
  const picked: SeatLockStrategy[] = [];
  for (const name of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const s = strategies.get(name);
    if (!s) problems.push(`--strategy: unknown strategy "${name}"; ${valid}`);
    else if (!picked.includes(s)) picked.push(s);
  }
  if (picked.length === 0 && problems.length === 0) problems.push(`--strategy is empty; ${valid}`);
  return picked;
}

export function selectScenario(raw: string | undefined, problems: string[]): Scenario | undefined {
  const valid = `valid: ${scenarioNames().join(', ')}`;
  if (!raw) {
    problems.push(`--scenario is required; ${valid}`);
    return undefined;
  }
  const s = scenarios.get(raw);
  if (!s) problems.push(`--scenario: unknown scenario "${raw}"; ${valid}`);
  return s;
}

/** `key=value` pairs; each key must be an option of at least one selected strategy. */
export function strategyOptionsFor(selected: SeatLockStrategy[], pairs: string[], problems: string[]): { perStrategy: Map<string, Record<string, string>>; raw: Record<string, string> } {
  const raw: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      problems.push(`--strategy-opt must look like key=value (got "${pair}")`);
      continue;
    }
    raw[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const perStrategy = new Map<string, Record<string, string>>();
  for (const key of Object.keys(raw)) {
    if (!selected.some((s) => s.options.some((o) => o.name === key))) {
      const known = [...new Set(selected.flatMap((s) => s.options.map((o) => `${o.name} (${s.name})`)))].join(', ') || 'none';
      problems.push(`--strategy-opt ${key}: no selected strategy has this option; options of the selected strategies: ${known}`);
    }
  }
  for (const s of selected) {
    const mine = Object.fromEntries(Object.entries(raw).filter(([k]) => s.options.some((o) => o.name === k)));
    const { options, problems: p } = resolveStrategyOptions(s, mine);
    problems.push(...p);
    perStrategy.set(s.name, options);
  }
  return { perStrategy, raw };
}

/** What a Redis Cluster run cannot be combined with, each naming the flag to drop. */
function clusterConflicts(raw: RawRunOptions, nemesis: NemesisOptions | undefined, network: NetworkOptions): string[] {
  const out: string[] = [];
  if (raw.redisUrl?.length || raw.redisNodes !== undefined) out.push('--redis-cluster starts its own Redis Cluster (one logical Redis over N primaries); drop --redis-url / --redis-nodes');
  // The faults act on independent servers or on Sentinel; links would need the cluster's slot map rewritten per instance.
  const onRedis = nemesis?.faults.filter((f) => f.needsLinks || ['restart-redis', 'stop-redis-minority', 'expire-locks', 'failover-redis'].includes(f.name)) ?? [];
  if (onRedis.length > 0) out.push(`--nemesis ${onRedis.map((f) => f.name).join(',')} is not supported on a Redis Cluster yet (it acts on independent Redis servers, Sentinel or links); drop it or --redis-cluster`);
  if (network.links) out.push('--link-latency is not supported on a Redis Cluster yet (the client learns node addresses from the slot map, which the links would have to rewrite); drop one of them');
  return out;
}

export function parseRunOptions(raw: RawRunOptions): { options?: RunOptions; problems: string[] } {
  const problems: string[] = [];
  const target = parseTarget(raw, problems);
  // With --target (even a malformed one) there is no strategy to choose.
  const selected = raw.target !== undefined ? [] : selectStrategies(raw.strategy, problems);
  const scenario = selectScenario(raw.scenario, problems);
  const d = scenario?.defaults ?? { users: 1, seats: 1, connections: 1 };
  const params: ScenarioParams = {
    users: parseCount('--users', raw.users, d.users, problems),
    seats: parseCount('--seats', raw.seats, d.seats, problems, 1_000_000),
    connections: parseCount('--connections', raw.connections, d.connections, problems, 10_000),
    seed: 42,
  };
  if (raw.seed !== undefined) {
    if (!/^\d+$/.test(raw.seed.trim()) || Number(raw.seed) > 2 ** 32 - 1) problems.push(`--seed must be an integer from 0 to 4294967295 (got "${raw.seed}")`);
    else params.seed = Number(raw.seed);
  }
  const { perStrategy, raw: rawOpts } = strategyOptionsFor(selected, raw.strategyOpt ?? [], problems);
  const holdTtlMs = parseDuration('--hold-ttl', raw.holdTtl, scenario?.serverDefaults?.holdTtlMs ?? DEFAULT_HOLD_TTL_MS, problems);
  if (scenario?.kind === 'journey' && holdTtlMs > 60_000) {
    problems.push(`--hold-ttl ${raw.holdTtl}: a journey waits for abandoned holds to expire before checking; use at most 60s (e.g. 2s)`);
  }
  const queue = parseQueue(raw, scenario?.requiresQueue ?? false, problems, scenario?.serverDefaults?.queue, scenario?.requiresQueue ?? scenario?.queueByDefault ?? false);
  const poolSize = parseCount('--pool-size', raw.poolSize, DEFAULT_POOL_SIZE, problems, 1000);
  const httpCeilingMs = parseHttpCeiling(raw.httpCeiling, problems);
  const maxLoadMs = parseDuration('--max-load-time', raw.maxLoadTime, CLOSED_DRIVER_LIMIT_SEC * 1000, problems);
  const runs = parseCount('--runs', raw.runs, 3, problems, 100);
  const rate = raw.rate === undefined ? undefined : parseCount('--rate', raw.rate, 1, problems, 1_000_000);
  const maxConnections = parseCount('--max-connections', raw.maxConnections, 1000, problems, 100_000);
  if (raw.maxConnections !== undefined && rate === undefined) problems.push('--max-connections limits the open model; add --rate <n>, or use --connections for the closed model');
  const transport = (raw.transport ?? 'http') as 'http' | 'direct';
  if (transport !== 'http' && transport !== 'direct') problems.push(`--transport must be http or direct (got "${raw.transport}")`);
  if (transport === 'direct' && (scenario?.kind === 'journey' || scenario?.kind === 'queue')) {
    problems.push(`--transport direct: ${scenario.name} goes through the waiting room over HTTP; use it with hot-seat, flash-sale, general-admission or balance-spend`);
  }
  if (transport === 'direct' && rate !== undefined) problems.push('--transport direct runs the closed model only; drop --rate');
  if (rate !== undefined && scenario?.kind === 'journey') problems.push('--rate: journeys are closed-model only (each user waits for its previous answer); drop --rate');
  // A black-box target brings its own database (--target-db); the stores are seatlab's own.
  const stores = raw.target !== undefined ? [] : parseStores(raw, process.env.DATABASE_URL || undefined, problems);
  const thresholds: Threshold[] = [];
  for (const expr of raw.threshold ?? []) {
    const t = parseThreshold(expr, strategyNames());
    if (typeof t === 'string') problems.push(t);
    else if (t.store && !stores.some((x) => x.dialect === t.store)) problems.push(`--threshold "${expr}": ${t.store} is not a store of this run (${stores.map((x) => x.dialect).join(', ')}); add it with --store, or drop @${t.store}`);
    else thresholds.push(t);
  }
  const warmupMs = raw.warmup === undefined || raw.warmup.trim() === '0' ? (raw.warmup === undefined ? 2000 : 0) : parseDuration('--warmup', raw.warmup, 2000, problems);
  const timeoutSec = parseCount('--timeout', raw.timeout, 10, problems, 3600);
  const redisUrls = raw.redisUrl ?? (process.env.REDIS_URL ? [process.env.REDIS_URL] : []);
  // A cluster of one's own would be recorded as independent servers: compare would take it for single Redis.
  if (redisUrls.some(isClusterUrl)) problems.push('--redis-url / REDIS_URL: a redis-cluster:// URL of your own is not supported yet; let seatlab start one with --redis-cluster <primaries>');
  const redisNodes = parseCount('--redis-nodes', raw.redisNodes, Math.max(1, redisUrls.length), problems, 15);
  if (redisUrls.length > 0 && raw.redisNodes !== undefined && redisNodes !== redisUrls.length) {
    problems.push(`--redis-nodes ${redisNodes} does not match the ${redisUrls.length} --redis-url given; give one URL per node, or drop --redis-nodes`);
  }
  const instances = parseInstances(raw.instances, problems);
  const nemesis = parseNemesis(raw, problems);
  const livenessGraceMs = parseDuration('--liveness-grace', raw.livenessGrace, 5000, problems);
  const network = parseNetwork(raw, problems);
  for (const t of thresholds) {
    if (t.linkLatencyMs !== undefined && !network.links?.latenciesMs.includes(t.linkLatencyMs)) {
      problems.push(`--threshold "${t.expr}": no result of this run has a link round trip of ${t.linkLatencyMs} ms (${network.links ? `--link-latency gives ${network.links.latenciesMs.map((x) => `${x}ms`).join(', ')}` : 'there is no --link-latency'})`);
    }
  }
  if (network.links && transport === 'direct') problems.push('--link-latency puts a network between the server instances and the stores; --transport direct has no server instances: drop one of them');
  if (target && (network.links || raw.redisTopology !== undefined || raw.redisCluster !== undefined || raw.redisClusterReplicas !== undefined || raw.dbDurability !== undefined)) {
    problems.push('--link-latency, --redis-topology, --redis-cluster and --db-durability shape seatlab\'s own servers and stores; a --target has its own: drop them');
  }
  if (network.dbDurability === 'async' && raw.databaseUrl?.length) problems.push('--db-durability async is set on a PostgreSQL seatlab starts itself; with --database-url set synchronous_commit on that server instead and drop --db-durability');
  if (network.redisTopology === 'sentinel' && (raw.redisUrl?.length || raw.redisNodes !== undefined)) problems.push('--redis-topology sentinel starts its own primary, replica and three Sentinels; drop --redis-url / --redis-nodes');
  if (nemesis?.faults.some((f) => f.name === 'failover-redis') && network.redisTopology === 'single') {
    problems.push('--nemesis failover-redis fails a Redis primary over to its replica: add --redis-topology sentinel (seatlab then starts a primary, a replica and three Sentinels)');
  }
  if (network.redisTopology === 'cluster' && !target) problems.push(...clusterConflicts(raw, nemesis, network));
  const independent = network.redisTopology === 'sentinel' ? nemesis?.faults.filter((f) => f.name === 'restart-redis' || f.name === 'stop-redis-minority') ?? [] : [];
  if (independent.length > 0) problems.push(`--nemesis ${independent.map((f) => f.name).join(',')} acts on independent Redis servers; with --redis-topology sentinel use failover-redis`);
  if (transport === 'direct' && (instances > 1 || nemesis)) problems.push('--transport direct calls the core in the lab\'s own process: it has no instances to spread over or to break; drop --instances/--nemesis or use --transport http');
  if (rate !== undefined && maxConnections < instances) problems.push(`--max-connections ${maxConnections} is fewer than --instances ${instances}: each instance needs at least one connection`);
  if (scenario && problems.length === 0) problems.push(...scenario.validate(params));
  if (raw.target !== undefined && scenario && !scenario.workload) {
    problems.push(`--scenario ${scenario.name} cannot run against a target yet; use ${[...scenarios.values()].filter((s) => s.workload !== undefined).map((s) => s.name).join(', ')}`);
  }
  if (target && raw.httpCeiling !== undefined) problems.push('--http-ceiling measures seatlab\'s own server before its strategies; a --target run measures no ceiling: drop it');
  if (target && (instances > 1 || nemesis || transport === 'direct' || raw.queue === 'on' || raw.store !== undefined)) {
    problems.push('--target drives somebody else\'s API: --instances, --nemesis, --transport direct, --queue and --store act on seatlab\'s own servers; drop them');
  }
  if (problems.length > 0 || !scenario) return { problems };
  return {
    problems,
    options: {
      strategies: selected, scenario, params, strategyOptions: perStrategy, rawStrategyOptions: rawOpts,
      out: raw.out ?? 'results', json: raw.json ?? false, stores, redisUrls, redisNodes,
      skipUnavailable: raw.strategy === 'all',
      holdTtlMs, maxLoadMs, httpCeilingMs, queue, poolSize, timeoutSec, keepDb: raw.keepDb ?? false, runs, warmupMs, thresholds, rate, maxConnections, transport,
      instances, nemesis, livenessGraceMs, ...(target ? { target } : {}), network,
    },
  };
}
