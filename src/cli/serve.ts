import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { strategies, strategyNames } from '../../strategies/index.js';
import { createDb, withDatabase } from '../db/knex.js';
import { createTemplateDatabase, dropDatabase } from '../db/databases.js';
import { seedSchedule } from '../db/seed.js';
import { provisionStore } from '../infra/store.js';
import { registerCleanup } from '../infra/cleanup.js';
import { startServer, type ServerConfig } from '../server/start.js';
import { UsageError } from './errors.js';
import { parseCount, parseDuration, parseInstances, parseQueue, parseStores, strategyOptionsFor } from './options.js';
import { startInstances } from '../load/instances.js';
import { parseNetwork } from './network-options.js';
import { startLinkHost } from '../infra/link.js';
import { linkInstances } from '../load/instance-links.js';
import { provisionRedisNodes } from '../infra/redis.js';
import type { Io } from './run.js';
import { DB_DURABILITIES, type DbDurability } from './network-options.js';

export interface RawServeOptions {
  strategy?: string;
  port?: string;
  host?: string;
  seats?: string;
  databaseUrl?: string;
  store?: string;
  redisUrl?: string[];
  strategyOpt?: string[];
  holdTtl?: string;
  poolSize?: string;
  queue?: string;
  queueActive?: string;
  queueRate?: string;
  queueActiveTtl?: string;
  instances?: string;
  linkLatency?: string;
  linkJitter?: string;
  dbDurability?: string;
}

/** Starts the API on provisioned servers with one concert and one schedule; runs until SIGINT/SIGTERM. */
export async function serve(raw: RawServeOptions, io: Io): Promise<void> {
  const problems: string[] = [];
  const strategy = raw.strategy ? strategies.get(raw.strategy) : undefined;
  if (!raw.strategy) problems.push(`--strategy is required; valid: ${strategyNames().join(', ')}`);
  else if (!strategy) problems.push(`--strategy: unknown strategy "${raw.strategy}"; valid: ${strategyNames().join(', ')}`);
  const seats = parseCount('--seats', raw.seats, 100, problems, 1_000_000);
  let port = 0;
  if (raw.port !== undefined) {
    if (!/^\d+$/.test(raw.port) || Number(raw.port) > 65535) problems.push(`--port must be an integer from 0 to 65535 (got "${raw.port}")`);
    else port = Number(raw.port);
  }
  const host = raw.host ?? '127.0.0.1';
  // An IP address or a host name (letters, digits, dots, hyphens); anything else would only fail later, in getaddrinfo.
  if (isIP(host) === 0 && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    problems.push(`--host must be an address to listen on, e.g. 127.0.0.1 (the default), 0.0.0.0 or ::; got "${host}"`);
  }
  const holdTtlMs = parseDuration('--hold-ttl', raw.holdTtl, 5 * 60_000, problems);
  const poolSize = parseCount('--pool-size', raw.poolSize, 20, problems, 1000);
  const { perStrategy } = strategyOptionsFor(strategy ? [strategy] : [], raw.strategyOpt ?? [], problems);
  const queue = parseQueue(raw, false, problems);
  const instances = parseInstances(raw.instances, problems);
  if (instances > 1 && port !== 0 && port + instances - 1 > 65535) problems.push(`--port ${port} with --instances ${instances}: the ports ${port}…${port + instances - 1} do not all exist`);
  // One store: the dialect of --database-url (or DATABASE_URL), or --store, or embedded PostgreSQL.
  const [spec] = parseStores({ store: raw.store, databaseUrl: raw.databaseUrl === undefined ? [] : [raw.databaseUrl] }, process.env.DATABASE_URL || undefined, problems, true);
  const network = parseNetwork({ linkLatency: raw.linkLatency, linkJitter: raw.linkJitter }, problems);
  if (network.links && network.links.latenciesMs.length > 1) problems.push(`--link-latency: bench serve runs at one round-trip time (got ${network.links.latenciesMs.map((x) => `${x}ms`).join(', ')})`);
  const durability = (raw.dbDurability ?? 'full') as DbDurability;
  if (!DB_DURABILITIES.includes(durability)) problems.push(`--db-durability must be full (synchronous_commit on) or async (synchronous_commit off) (got "${raw.dbDurability}")`);
  else if (durability === 'async' && (spec?.url !== undefined || spec?.dialect !== 'pg')) problems.push('--db-durability async is set on a PostgreSQL seatlab starts itself; drop --database-url / --store mysql, or drop --db-durability');
  if (problems.length > 0 || !strategy || !spec) throw new UsageError(problems);

  const server = await provisionStore(spec.dialect, { url: spec.url, durability });
  registerCleanup(spec.dialect === 'pg' ? 'postgres' : 'mysql', () => server.stop());
  const dbName = `seatlab_serve_${randomBytes(4).toString('hex')}`;
  await createTemplateDatabase(server.url, dbName);
  // An embedded server goes with its data directory; only someone else's server needs the drop.
  if (server.kind !== 'embedded') registerCleanup(`database ${dbName}`, () => dropDatabase(server.url, dbName));
  const url = withDatabase(server.url, dbName);
  const db = createDb({ url, poolMax: 1 });
  const schedule = await seedSchedule(db, { seats }).finally(() => db.destroy());

  const redisUrls: string[] = [];
  if (strategy.requires.redis || queue) {
    const nodes = await provisionRedisNodes({ urls: raw.redisUrl ?? (process.env.REDIS_URL ? [process.env.REDIS_URL] : []), nodes: 1 });
    for (const n of nodes) registerCleanup('redis', () => n.stop());
    redisUrls.push(...nodes.map((n) => n.url));
  }
  const secret = process.env.SEATLAB_TOKEN_SECRET ?? randomBytes(32).toString('hex');
  const cfg = { databaseUrl: url, strategy: strategy.name, strategyOptions: perStrategy.get(strategy.name), tokenSecret: secret, holdTtlMs, port, host, poolSize, redisUrls, redisKeyPrefix: `${dbName}:`, queue };
  // With --link-latency each instance reaches the stores through links of its own, as in bench run.
  // Each instance is started alone (startInstances(1, …) below), so its index is given here.
  let configs: ServerConfig[] = Array.from({ length: instances }, (_, i) => ({ ...cfg, port: port === 0 ? 0 : port + i, instance: String(i) }));
  if (network.links) {
    const host = await startLinkHost();
    registerCleanup('link proxy', () => host.close());
    const toxics = { latencyMs: network.links.latenciesMs[0]!, jitterMs: network.links.jitterMs };
    configs = (await linkInstances(host, instances, cfg, toxics)).configs.map((c, i) => ({ ...c, port: configs[i]!.port, instance: configs[i]!.instance }));
    io.err(`links: every instance reaches the stores through a TCP proxy (pid ${host.pid}) adding a round trip of ${toxics.latencyMs} ms${toxics.jitterMs ? `, jitter ${toxics.jitterMs} ms` : ''}`);
  }
  let urls: string[];
  if (instances === 1) {
    const server = await startServer(configs[0]!, io.err);
    registerCleanup('booking server', () => server.close());
    urls = [server.url];
  } else {
    // N processes, as N pods would be: each with its own pool, Redis clients, sweeper and relay.
    const started = [];
    for (let i = 0; i < instances; i++) {
      const [inst] = await startInstances(1, configs[i]!, { onLog: (_, l) => io.err(`instance ${i}: ${l.trimEnd()}`) });
      registerCleanup(`booking server instance ${i}`, () => inst!.stop());
      started.push(inst!);
    }
    urls = started.map((s) => s.url);
  }
  io.out(`${JSON.stringify({ url: urls[0], ...(instances > 1 ? { urls } : {}), databaseUrl: url, concertId: schedule.concertId, scheduleId: schedule.scheduleId, strategy: strategy.name })}\n`);
  io.err(`seatlab serving ${strategy.name} on ${urls.join(', ')} (${spec.dialect === 'pg' ? 'PostgreSQL' : 'MySQL/MariaDB'}: ${server.kind}${durability === 'async' ? ', durability async: synchronous_commit off' : ''}); Ctrl-C stops it and everything it started`);
  await new Promise<void>(() => undefined); // until a signal; the exit hook cleans up
}
