import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { strategies, strategyNames } from '../../strategies/index.js';
import { BookingService } from '../core/booking.js';
import { resolveStrategyOptions } from '../core/options.js';
import type { Counters, StrategyRuntime } from '../core/ports.js';
import { createDb, timeDb } from '../db/knex.js';
import { createApp } from './app.js';
import { ServerMetrics } from './metrics.js';
import { startSweeper } from '../core/expiry.js';
import { startRelay } from '../events/relay.js';
import { WaitingRoom, type QueueConfig } from '../queue/waiting-room.js';
import type { RedisClient } from '../core/ports.js';
import { connectAll, createRedisClient } from '../infra/redis-client.js';
import { connectionErrorCode } from '../infra/error-tally.js';

export interface ServerConfig {
  databaseUrl: string;
  strategy: string;
  strategyOptions?: Record<string, string>;
  tokenSecret: string;
  holdTtlMs?: number;
  port?: number;
  host?: string;
  poolSize?: number;
  /** One URL per independent Redis server (strategies that need Redis). */
  redisUrls?: string[];
  /** Prefix for every Redis key, so runs or tests sharing a Redis never see each other's state. */
  redisKeyPrefix?: string;
  /**
   * Rewrites the data-node addresses Sentinel hands out ("127.0.0.1:6380" → a proxy in front of
   * it), for every Redis client this server makes; ioredis's natMap. Plain redis:// URLs ignore it.
   */
  redisNatMap?: Record<string, { host: string; port: number }>;
  /** How often this process tries to sweep expired holds (only one process sweeps at a time); 0 = never. */
  sweepIntervalMs?: number;
  /** The waiting room (needs Redis: the first of redisUrls). */
  queue?: QueueConfig;
  /** How often the outbox relay runs (when there is a Redis); 0 = never. */
  relayIntervalMs?: number;
  /** This server's index in the run (the `instance` label of its metrics); default "0". */
  instance?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  counters(): Counters;
  /** What GET /metrics exports (one registry per server). */
  metrics: ServerMetrics;
  close(): Promise<void>;
}

export const DEFAULT_HOLD_TTL_MS = 5 * 60_000;
export const DEFAULT_POOL_SIZE = 20;
export const DEFAULT_SWEEP_INTERVAL_MS = 1000;

/** The booking core without HTTP (for --transport direct): the same strategy, pool and Redis set-up. */
export async function startCore(cfg: ServerConfig): Promise<{ booking: BookingService; runtime: StrategyRuntime; close(): Promise<void> }> {
  const strategy = strategies.get(cfg.strategy);
  if (!strategy) throw new Error(`unknown strategy "${cfg.strategy}"; valid: ${strategyNames().join(', ')}`);
  const { options, problems } = resolveStrategyOptions(strategy, cfg.strategyOptions ?? {});
  if (problems.length) throw new Error(problems.join('\n'));
  const db = createDb({ url: cfg.databaseUrl, poolMax: cfg.poolSize ?? DEFAULT_POOL_SIZE, applicationName: `seatlab-direct-${strategy.name}`, session: strategy.sessionSettings?.(options) ?? {} });
  await warmPool(db, cfg.poolSize ?? DEFAULT_POOL_SIZE);
  const redis = strategy.requires.redis ? (cfg.redisUrls ?? []).map((u) => createRedisClient(u, cfg.redisKeyPrefix, cfg.redisNatMap)) : [];
  if (redis.length > 0) await connectAll(redis, Math.floor(redis.length / 2) + 1);
  const runtime = strategy.create({ db, redis }, options);
  await runtime.init?.();
  const booking = new BookingService(db, runtime, { holdTtlMs: cfg.holdTtlMs ?? DEFAULT_HOLD_TTL_MS });
  return { booking, runtime, close: async () => { await runtime.close(); await db.destroy(); for (const r of redis) r.disconnect(); } };
}

/** Starts the booking API for one strategy. Used by the server child process and by tests. */
export async function startServer(cfg: ServerConfig, log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`)): Promise<RunningServer> {
  const strategy = strategies.get(cfg.strategy);
  if (!strategy) throw new Error(`unknown strategy "${cfg.strategy}"; valid: ${strategyNames().join(', ')}`);
  const { options, problems } = resolveStrategyOptions(strategy, cfg.strategyOptions ?? {});
  if (problems.length) throw new Error(problems.join('\n'));

  // The strategy's counters are read at scrape time; until the booking core exists there are none.
  let counters: () => Counters = () => ({});
  const metrics = new ServerMetrics({ strategy: strategy.name, instance: cfg.instance ?? '0', counters: () => counters() });
  const session = strategy.sessionSettings?.(options) ?? {};
  const db = createDb({ url: cfg.databaseUrl, poolMax: cfg.poolSize ?? DEFAULT_POOL_SIZE, applicationName: `seatlab-${strategy.name}`, session });
  await warmPool(db, cfg.poolSize ?? DEFAULT_POOL_SIZE);
  // After the warm-up: opening the pool is start-up, not waiting for a connection under load.
  const stopTimingDb = timeDb(db, metrics);
  const redisClient = (u: string) => createRedisClient(u, cfg.redisKeyPrefix, cfg.redisNatMap, metrics.redisCommand);
  const redis = strategy.requires.redis ? (cfg.redisUrls ?? []).map(redisClient) : [];
  let room: WaitingRoom | undefined;
  let queueRedis: RedisClient | undefined;
  if (cfg.queue) {
    if (!cfg.redisUrls?.[0]) throw new Error('the waiting room needs Redis: give redisUrls');
    queueRedis = redisClient(cfg.redisUrls[0]);
    await connectAll([queueRedis], 1);
    room = new WaitingRoom(queueRedis, cfg.queue, `pid-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    await room.init();
    room.start(unlessStoreGone(log, 'queue admission'), metrics.runOf('admission'));
  }
  if (strategy.requires.redis) {
    if (redis.length === 0) throw new Error(`strategy "${strategy.name}" needs Redis: give redisUrls`);
    // A quorum must be up to start; the rest may join later.
    await connectAll(redis, Math.floor(redis.length / 2) + 1);
  }
  const runtime = strategy.create({ db, redis, observe: metrics.observer }, options);
  await runtime.init?.();
  const booking = new BookingService(db, runtime, { holdTtlMs: cfg.holdTtlMs ?? DEFAULT_HOLD_TTL_MS });
  counters = () => booking.counters();
  const app = createApp({ booking, db, room, strategyName: strategy.name, strategy: runtime, tokenSecret: cfg.tokenSecret, log, metrics });

  const stopSweeper = (cfg.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS) > 0
    ? startSweeper(db, runtime, { intervalMs: cfg.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS, owner: `pid-${process.pid}-${strategy.name}`, onError: unlessStoreGone(log, 'expiry sweep'), onRun: metrics.runOf('sweeper') })
    : async () => {};
  // The outbox relay publishes to the first Redis, when there is one; one process relays at a time.
  let relayRedis: RedisClient | undefined;
  let stopRelay = async () => {};
  if (cfg.redisUrls?.[0] && (cfg.relayIntervalMs ?? 100) > 0) {
    relayRedis = redisClient(cfg.redisUrls[0]);
    await connectAll([relayRedis], 1);
    stopRelay = startRelay(db, relayRedis, { intervalMs: cfg.relayIntervalMs ?? 100, onError: unlessStoreGone(log, 'outbox relay'), onRun: metrics.runOf('relay') });
  }
  const server = http.createServer(app);
  // Load generators keep connections open; do not drop them between requests.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port ?? 0, cfg.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${reachableHost(cfg.host)}:${port}`,
    port,
    counters: () => booking.counters(),
    metrics,
    close: async () => {
      await stopSweeper();
      await stopRelay();
      relayRedis?.disconnect();
      room?.stop();
      queueRedis?.disconnect();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await runtime.close();
      stopTimingDb();
      await db.destroy();
      for (const r of redis) r.disconnect();
    },
  };
}

/**
 * A periodic job's failure is shown at most once every few seconds with a count of the rest, and
 * not at all when a store went away: the pool and the Redis clients count those where the connection
 * failed, and a job retrying every 100 ms would repeat it ten times a second.
 */
function unlessStoreGone(log: (msg: string) => void, job: string, periodMs = 5000): (e: unknown) => void {
  let last = -Infinity;
  let quiet = 0;
  return (e) => {
    if (connectionErrorCode(e) !== undefined) return;
    const now = Date.now();
    if (now - last < periodMs) {
      quiet++;
      return;
    }
    log(`${job} failed: ${(e as Error)?.message ?? String(e)}${quiet > 0 ? ` (${quiet} more failures since the last line)` : ''}`);
    last = now;
    quiet = 0;
  };
}

/** Where this process reaches a server listening on `host`: loopback for the default and the wildcards. */
function reachableHost(host: string | undefined): string {
  if (host === undefined || host === '0.0.0.0' || host === '::' || host === '127.0.0.1' || host === 'localhost') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Opens every pooled connection before the first request, as a long-running server would have. */
async function warmPool(db: ReturnType<typeof createDb>, size: number): Promise<void> {
  const conns = await Promise.all(Array.from({ length: size }, () => db.client.acquireConnection()));
  // The callback form: node-postgres and mysql2 both take it (mysql2's plain connection has no promises).
  await Promise.all(conns.map((c: { query(sql: string, cb: (err: Error | null) => void): unknown }) =>
    new Promise<void>((resolve, reject) => { c.query('SELECT 1', (err) => (err ? reject(err) : resolve())); })));
  for (const c of conns) db.client.releaseConnection(c);
}
