import { performance } from 'node:perf_hooks';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisClient } from '../core/ports.js';
import { tally } from './error-tally.js';

export type { RedisClient };

/** Where a Redis address points: one server, a master name behind Sentinels, or a Redis Cluster. */
export type RedisTarget =
  | { kind: 'server'; url: string }
  | { kind: 'sentinel'; sentinels: { host: string; port: number }[]; name: string; password?: string }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; password?: string };

/** Addresses a server learns from Sentinel ("127.0.0.1:6380") → where to connect instead (a proxy). */
export type RedisNatMap = Record<string, { host: string; port: number }>;

const SENTINEL_URL = /^redis-sentinel:\/\/(?:([^@/]*)@)?([^/?#]+)\/([^/?#]+)\/?$/;
const CLUSTER_URL = /^redis-cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/;

const hostPorts = (url: string, list: string) => list.split(',').map((hp) => {
  const at = hp.lastIndexOf(':');
  const port = Number(hp.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`"${url}": "${hp}" is not host:port`);
  return { host: hp.slice(0, at), port };
});
const passwordOf = (userinfo: string | undefined) => (userinfo ? decodeURIComponent(userinfo.replace(/^[^:]*:/, '')) : undefined);

/**
 * `redis://…` (and `rediss://`) as ioredis reads them; `redis-sentinel://h:p,h:p/name`: the
 * Sentinels to ask and the master name; `redis-cluster://h:p,h:p`: nodes of a Redis Cluster to
 * learn the slot map from (any of them will do). An optional `:password@` is the data nodes' password.
 */
export function parseRedisUrl(url: string): RedisTarget {
  if (url.startsWith('redis-cluster:')) {
    const m = CLUSTER_URL.exec(url);
    if (!m) throw new Error(`"${url}" is not a Redis Cluster URL; write redis-cluster://host:port,host:port`);
    const password = passwordOf(m[1]);
    return { kind: 'cluster', nodes: hostPorts(url, m[2]!), ...(password ? { password } : {}) };
  }
  if (!url.startsWith('redis-sentinel:')) return { kind: 'server', url };
  const m = SENTINEL_URL.exec(url);
  if (!m) throw new Error(`"${url}" is not a Sentinel URL; write redis-sentinel://host:port,host:port/<master name>`);
  const password = passwordOf(m[1]);
  return { kind: 'sentinel', sentinels: hostPorts(url, m[2]!), name: decodeURIComponent(m[3]!), ...(password ? { password } : {}) };
}

/** Whether a URL names a Redis Cluster. */
export const isClusterUrl = (url: string): boolean => url.startsWith('redis-cluster:');

/**
 * The one place a Redis URL becomes a client. A Sentinel URL gives a client that asks the
 * Sentinels for the current primary on every (re)connect and checks it answers ROLE master, so it
 * follows a failover; `natMap` rewrites the addresses the Sentinels hand out. A cluster URL gives
 * an ioredis Cluster: it reads the slot map from the nodes and sends each command to the primary
 * of its key's slot (following MOVED after a failover or a reshard).
 */
export function redisFromUrl(url: string, opts: RedisOptions = {}, natMap?: RedisNatMap): RedisClient {
  const t = parseRedisUrl(url);
  if (t.kind === 'server') return new Redis(t.url, opts);
  if (t.kind === 'cluster') return clusterClient(t, opts, natMap);
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
 * The Cluster's own options take what applies to the cluster as a whole (key prefix, offline
 * queue, when to give up reconnecting); each node's connection takes the rest.
 */
function clusterClient(t: Extract<RedisTarget, { kind: 'cluster' }>, opts: RedisOptions, natMap?: RedisNatMap): Cluster {
  const { keyPrefix, enableOfflineQueue, lazyConnect, retryStrategy, ...node } = opts;
  // The slot of a key is its hash tag's (the part in the first {…}); a brace in the prefix would
  // become the tag of every key and put them all in one slot.
  if (keyPrefix?.includes('{')) throw new Error(`Redis key prefix "${keyPrefix}" has a "{": on a Redis Cluster it would be every key's hash tag; use a prefix without braces`);
  return new Cluster(t.nodes, {
    ...(keyPrefix ? { keyPrefix } : {}),
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    // Only primaries: a replica's read may be behind, and every script here writes.
    scaleReads: 'master',
    clusterRetryStrategy: (times) => (retryStrategy ? retryStrategy(times) ?? null : retryStrategy === null ? null : Math.min(100 * times, 1000)),
    ...(natMap ? { natMap } : {}),
    redisOptions: { ...node, ...(t.password ? { password: t.password } : {}) },
  });
}

/**
 * A client for the booking server's hot path. Commands to a server that is down fail at once
 * (no offline queue, no per-request retries) so that with N Redis nodes a dead node costs a vote,
 * not a hang; the connection itself keeps retrying in the background (behind Sentinel: asking the
 * Sentinels again each time, so it lands on the promoted primary).
 */
export function createRedisClient(url: string, keyPrefix?: string, natMap?: RedisNatMap, onCommand?: CommandTimer): RedisClient {
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

type Command = Parameters<Redis['sendCommand']>[0] & { seatlabTimed?: true };

/**
 * ioredis has no timing hook of its own that tells clients apart (its diagnostics channel is one
 * per process, and a test runs several servers in one), so this wraps the client's sendCommand,
 * through which every command, pipeline and script goes: the clock runs from the send to the
 * reply or the failure. A command ioredis sends again after a reconnect is timed once, from the
 * first send, which is what its caller waited.
 */
export function timeCommands(client: RedisClient, observe: CommandTimer): void {
  // A Cluster passes a command on to a node's client, and again after a MOVED: timed once, from the first send.
  const c = client as { sendCommand: (command: Command, ...rest: unknown[]) => unknown };
  const send = c.sendCommand.bind(client);
  c.sendCommand = (command: Command, ...rest: unknown[]) => {
    if (!command.seatlabTimed) {
      command.seatlabTimed = true;
      const t0 = performance.now();
      const done = () => observe(command.name, (performance.now() - t0) / 1000);
      command.promise.then(done, done);
    }
    return send(command, ...rest);
  };
}

/** Connects every client; fails if fewer than `atLeast` come up. Returns the clients either way. */
export async function connectAll(clients: RedisClient[], atLeast: number): Promise<void> {
  const results = await Promise.allSettled(clients.map((c) => c.connect()));
  const up = results.filter((r) => r.status === 'fulfilled').length;
  if (up < atLeast) {
    const why = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason as Error | undefined;
    throw new Error(`only ${up} of ${clients.length} Redis servers answered (need ${atLeast}): ${why?.message ?? 'unknown error'}`);
  }
}

/** A short-lived client for the lab's own reads (checkers, report metadata, fault records): fails fast, never retries. */
export function labRedis(url: string, opts: RedisOptions = {}): RedisClient {
  const r = redisFromUrl(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, ...opts });
  r.on('error', () => undefined);
  return r;
}
