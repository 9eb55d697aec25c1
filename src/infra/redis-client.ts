import { performance } from 'node:perf_hooks';
import { Redis, type RedisOptions } from 'ioredis';
import { tally } from './error-tally.js';

/** Where a Redis address points: one server, or a master name behind Sentinels. */
export type RedisTarget =
  | { kind: 'server'; url: string }
  | { kind: 'sentinel'; sentinels: { host: string; port: number }[]; name: string; password?: string };

/** Addresses a server learns from Sentinel ("127.0.0.1:6380") → where to connect instead (a proxy). */
export type RedisNatMap = Record<string, { host: string; port: number }>;

const SENTINEL_URL = /^redis-sentinel:\/\/(?:([^@/]*)@)?([^/?#]+)\/([^/?#]+)\/?$/;

/**
 * `redis://…` (and `rediss://`) as ioredis reads them, or `redis-sentinel://h:p,h:p/name`: the
 * Sentinels to ask and the master name (an optional `:password@` is the data nodes' password).
 */
export function parseRedisUrl(url: string): RedisTarget {
  if (!url.startsWith('redis-sentinel:')) return { kind: 'server', url };
  const m = SENTINEL_URL.exec(url);
  if (!m) throw new Error(`"${url}" is not a Sentinel URL; write redis-sentinel://host:port,host:port/<master name>`);
  const sentinels = m[2]!.split(',').map((hp) => {
    const at = hp.lastIndexOf(':');
    const port = Number(hp.slice(at + 1));
    if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`"${url}": "${hp}" is not host:port`);
    return { host: hp.slice(0, at), port };
  });
  const password = m[1] ? decodeURIComponent(m[1].replace(/^[^:]*:/, '')) : undefined;
  return { kind: 'sentinel', sentinels, name: decodeURIComponent(m[3]!), ...(password ? { password } : {}) };
}

/**
 * The one place a Redis URL becomes a client. A Sentinel URL gives a client that asks the
 * Sentinels for the current primary on every (re)connect and checks it answers ROLE master, so it
 * follows a failover; `natMap` rewrites the addresses the Sentinels hand out.
 */
export function redisFromUrl(url: string, opts: RedisOptions = {}, natMap?: RedisNatMap): Redis {
  const t = parseRedisUrl(url);
  if (t.kind === 'server') return new Redis(t.url, opts);
  return new Redis({
    ...opts,
    sentinels: t.sentinels,
    name: t.name,
    ...(t.password ? { password: t.password } : {}),
    ...(natMap ? { natMap } : {}),
    // A Sentinel that is down is skipped at once; give up on a round of them after a few tries
    // the same way the data connection's retryStrategy does (null stops retrying).
    sentinelRetryStrategy: (times) => (opts.retryStrategy ? opts.retryStrategy(times) : opts.retryStrategy === null ? null : Math.min(100 * times, 1000)),
  });
}

/**
 * A client for the booking server's hot path. Commands to a server that is down fail at once
 * (no offline queue, no per-request retries) so that with N Redis nodes a dead node costs a vote,
 * not a hang; the connection itself keeps retrying in the background (behind Sentinel: asking the
 * Sentinels again each time, so it lands on the promoted primary).
 */
export function createRedisClient(url: string, keyPrefix?: string, natMap?: RedisNatMap, onCommand?: CommandTimer): Redis {
  const client = redisFromUrl(url, {
    ...(keyPrefix ? { keyPrefix } : {}),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    lazyConnect: true,
    retryStrategy: (times) => Math.min(50 * times, 1000),
  }, natMap);
  // Each failed reconnect is an 'error' (ECONNREFUSED while the server is down): counted, not shown.
  client.on('error', (e) => tally.record('redis', e));
  if (onCommand) timeCommands(client, onCommand);
  return client;
}

/** Hears how long each Redis command took (seconds), by its name as ioredis has it. */
export type CommandTimer = (command: string, seconds: number) => void;

type SendCommand = Redis['sendCommand'];
type Command = Parameters<SendCommand>[0] & { seatlabTimed?: true };

/**
 * ioredis has no timing hook of its own that tells clients apart (its diagnostics channel is one
 * per process, and a test runs several servers in one), so this wraps the client's sendCommand,
 * through which every command, pipeline and script goes: the clock runs from the send to the
 * reply or the failure. A command ioredis sends again after a reconnect is timed once, from the
 * first send, which is what its caller waited.
 */
export function timeCommands(client: Redis, observe: CommandTimer): void {
  const send: SendCommand = client.sendCommand.bind(client);
  client.sendCommand = (command: Command, stream) => {
    if (!command.seatlabTimed) {
      command.seatlabTimed = true;
      const t0 = performance.now();
      const done = () => observe(command.name, (performance.now() - t0) / 1000);
      command.promise.then(done, done);
    }
    return send(command, stream);
  };
}

/** Connects every client; fails if fewer than `atLeast` come up. Returns the clients either way. */
export async function connectAll(clients: Redis[], atLeast: number): Promise<void> {
  const results = await Promise.allSettled(clients.map((c) => c.connect()));
  const up = results.filter((r) => r.status === 'fulfilled').length;
  if (up < atLeast) {
    const why = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason as Error | undefined;
    throw new Error(`only ${up} of ${clients.length} Redis servers answered (need ${atLeast}): ${why?.message ?? 'unknown error'}`);
  }
}

/** A short-lived client for the lab's own reads (checkers, report metadata, fault records): fails fast, never retries. */
export function labRedis(url: string, opts: RedisOptions = {}): Redis {
  const r = redisFromUrl(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, ...opts });
  r.on('error', () => undefined);
  return r;
}
