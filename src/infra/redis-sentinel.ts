import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { freePort, waitFor } from './ports.js';
import { registerCleanup } from './cleanup.js';
import type { Provisioned } from './chain.js';
import { InfraUnavailableError, describeCause } from './errors.js';
import { removeStaleDirs } from './postgres.js';
import { infoOf, makeNodeDir, redisNode, REDIS_DIR_PREFIX, type RedisNode } from './redis-node.js';

// One logical Redis behind Sentinel: a primary, one asynchronous replica, three Sentinels (quorum
// 2), all redis-server processes from PATH on loopback. Servers reach it through a
// redis-sentinel:// URL and follow a failover; failover() is the fault: SIGKILL the primary, let
// the Sentinels promote the replica, start the old primary again empty so they make it a replica.

export const SENTINEL_MASTER_NAME = 'seatlab';
const QUORUM = 2;
const DOWN_AFTER_MS = 1000;
const FAILOVER_TIMEOUT_MS = 2000;

export interface FailoverOptions {
  /**
   * Widens the loss window: for this long before the kill the replica is cut off from the primary
   * (see cutReplication), so writes the primary acknowledges meanwhile never reach it. 0 = none.
   */
  replicationCutMs?: number;
}

/** What one failover did and saw. Offsets are bytes of the primary's replication stream. */
export interface FailoverObservation {
  killed: { port: number; pid: number | undefined; keys: number | null; offset: number | null };
  promoted: { port: number; pid: number | undefined; keys: number | null; offset: number | null };
  /** Bytes of replication stream the primary had and the promoted replica never applied (a lower bound: writes after the last reading are not in it). */
  lostBytes: number | null;
  /** How long the replica had been cut off when the primary was killed (0: it was never cut). */
  replicationCutMs: number;
  /** Kill → a quorum of Sentinels names the replica and it answers ROLE master. */
  msToPromotion: number;
  /** Kill → every Sentinel names it. */
  msToAllSentinels: number;
  restarted: { pid: number | undefined; msToReplica: number };
}

export interface SentinelTopology extends Provisioned {
  readonly topology: 'sentinel';
  readonly masterName: string;
  /** The data nodes as they are now: they swap roles on each failover. */
  primary(): { port: number; pid: number | undefined };
  replica(): { port: number; pid: number | undefined };
  sentinels(): { port: number; pid: number | undefined }[];
  /**
   * Cuts the replica off from the primary until the next failover: the replica is pointed at a
   * port nobody listens on (REPLICAOF), as a partition between the two would. Writes the primary
   * acknowledges from now on stay on the primary only. Neither DEBUG SLEEP nor SIGSTOP on the
   * replica does this: what the primary sent meanwhile waits in the replica's socket buffer and
   * is applied when it wakes, even after the primary is dead (measured: 3000 of 3000 writes kept).
   */
  cutReplication(): Promise<void>;
  failover(opts?: FailoverOptions): Promise<string>;
  /** The same, returning what was observed as data. */
  failoverObserved(opts?: FailoverOptions): Promise<FailoverObservation>;
}

export function isSentinelTopology(p: Provisioned): p is SentinelTopology {
  return (p as Partial<SentinelTopology>).topology === 'sentinel';
}

const dataConf = (port: number, dir: string, replicaOf?: number) => [
  `port ${port}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`, 'daemonize no', 'loglevel notice', `logfile ${dir}/redis.log`,
  'save ""', 'appendonly no',
  // No persistence, and no RDB files from replication either: a node that restarts comes back empty.
  'repl-diskless-sync yes', 'repl-diskless-sync-delay 0', 'repl-diskless-load on-empty-db', 'rdb-del-sync-files yes',
  'replica-announce-ip 127.0.0.1',
  ...(replicaOf ? [`replicaof 127.0.0.1 ${replicaOf}`] : []),
  '',
].join('\n');

const sentinelConf = (port: number, dir: string, primaryPort: number) => [
  `port ${port}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`, 'daemonize no', 'loglevel notice', `logfile ${dir}/redis.log`,
  'sentinel resolve-hostnames no', 'sentinel announce-ip 127.0.0.1', `sentinel announce-port ${port}`,
  `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${primaryPort} ${QUORUM}`,
  `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${DOWN_AFTER_MS}`,
  `sentinel failover-timeout ${SENTINEL_MASTER_NAME} ${FAILOVER_TIMEOUT_MS}`,
  `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
  '',
].join('\n');

/** Starts the five processes; throws InfraUnavailableError (and leaves nothing behind) if it cannot. */
export async function provisionRedisSentinel(): Promise<SentinelTopology> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new InfraUnavailableError('--redis-topology sentinel starts redis-server processes from PATH, and there is none; install redis-server (apt-get install redis-server)');
  }
  await removeStaleDirs(REDIS_DIR_PREFIX, 'server.pid', 'SIGTERM');
  const nodes: RedisNode[] = [];
  const unregister = registerCleanup('Redis Sentinel topology', () => stopAll(nodes), () => { for (const n of nodes) n.terminateNow(); });
  try {
    const [a, b] = [await dataNode(nodes), await dataNode(nodes, nodes[0]!.port)] as [RedisNode, RedisNode];
    await a.start();
    await b.start();
    await waitFor(() => replicaInSync(b, a), 15_000, `the replica on port ${b.port} to sync from the primary on ${a.port}`);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = await makeNodeDir();
      const s = await redisNode(port, dir, sentinelConf(port, dir, a.port), ['--sentinel']);
      nodes.push(s);
      await s.start();
    }
    const sentinels = nodes.slice(2);
    await waitFor(() => sentinelsAgree(sentinels, a.port, b.port), 20_000, 'the three Sentinels to find each other and the replica');
    return topology(a, b, sentinels, nodes, unregister);
  } catch (err) {
    unregister();
    await stopAll(nodes);
    throw new InfraUnavailableError(`could not start a Redis Sentinel topology: ${describeCause(err)}`, { cause: err });
  }
}

async function dataNode(nodes: RedisNode[], replicaOf?: number): Promise<RedisNode> {
  const port = await freePort();
  const dir = await makeNodeDir();
  const n = await redisNode(port, dir, dataConf(port, dir, replicaOf));
  nodes.push(n);
  return n;
}

async function stopAll(nodes: RedisNode[]): Promise<void> {
  // Sentinels first, so none reacts to the data nodes going away.
  for (const n of [...nodes].reverse()) await n.stop().catch(() => undefined);
  for (const n of nodes) await rm(n.dir, { recursive: true, force: true }).catch(() => undefined);
}

async function withClient<T>(n: { client(): Redis }, fn: (r: Redis) => Promise<T>): Promise<T | null> {
  const r = n.client();
  try {
    await r.connect();
    return await fn(r);
  } catch {
    return null;
  } finally {
    r.disconnect();
  }
}

/**
 * The node replicates from the primary and has caught up with it: its own view (link up, initial
 * sync done) is not enough, since after a diskless sync the primary streams what it buffered only
 * once the replica's first ACK arrives; so the primary must list it online, and the replica must
 * have applied the primary's offset as read just before.
 */
export async function replicaInSync(n: RedisNode, primary: RedisNode): Promise<boolean> {
  const p = await withClient(primary, (r) => infoOf(r, 'replication'));
  if (!p || p.role !== 'master') return false;
  const listed = Object.entries(p).some(([k, v]) => /^slave\d+$/.test(k) && v.includes(`port=${n.port},`) && v.includes('state=online'));
  const info = await withClient(n, (r) => infoOf(r, 'replication'));
  return listed && info?.role === 'slave' && info.master_port === String(primary.port) && info.master_link_status === 'up'
    && info.master_sync_in_progress === '0' && Number(info.slave_repl_offset) >= Number(p.master_repl_offset);
}

/** The port each Sentinel names as the primary (null: it did not answer). */
async function namedPrimaries(sentinels: RedisNode[]): Promise<(number | null)[]> {
  return Promise.all(sentinels.map((s) => withClient(s, async (r) => {
    const a = (await r.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME)) as [string, string] | null;
    return a ? Number(a[1]) : null;
  })));
}

/** Every Sentinel names the primary, knows the two others, sees the replica healthy, and the quorum check passes. */
async function sentinelsAgree(sentinels: RedisNode[], primaryPort: number, replicaPort: number): Promise<boolean> {
  const views = await Promise.all(sentinels.map((s) => withClient(s, async (r) => {
    const named = (await r.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME)) as [string, string] | null;
    const others = (await r.call('SENTINEL', 'sentinels', SENTINEL_MASTER_NAME)) as unknown[];
    const replicas = ((await r.call('SENTINEL', 'replicas', SENTINEL_MASTER_NAME)) as string[][]).map(fields);
    const ok = String(await r.call('SENTINEL', 'ckquorum', SENTINEL_MASTER_NAME).catch(() => 'NO')).startsWith('OK');
    return named?.[1] === String(primaryPort) && others.length === 2 && ok
      && replicas.some((x) => x.port === String(replicaPort) && x.flags === 'slave' && x['master-link-status'] === 'ok');
  })));
  return views.every((v) => v === true);
}

/** For an error message: what each data node says it is, and what each Sentinel thinks. */
async function roles(data: RedisNode[], sentinels: RedisNode[]): Promise<string> {
  const nodes = await Promise.all(data.map(async (n) => {
    const i = await withClient(n, (r) => infoOf(r, 'replication'));
    return `${n.port}: ${i ? `${i.role}${i.role === 'slave' ? ` of ${i.master_port}, link ${i.master_link_status}` : ''}` : 'no answer'}`;
  }));
  const views = await Promise.all(sentinels.map((s) => withClient(s, async (r) => {
    const m = (await r.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME)) as [string, string] | null;
    const reps = ((await r.call('SENTINEL', 'replicas', SENTINEL_MASTER_NAME)) as string[][]).map(fields).map((x) => `${x.port} ${x.flags}`);
    const tilt = (await infoOf(r, 'sentinel')).sentinel_tilt === '1' ? ', TILT' : '';
    return `Sentinel ${s.port}: primary ${m?.[1]}, replicas ${reps.join(' / ') || 'none'}${tilt}`;
  })));
  return [...nodes, ...views.map((v, i) => v ?? `Sentinel ${sentinels[i]!.port}: no answer`)].join('; ');
}

const fields = (flat: string[]): Record<string, string> => {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]!] = flat[i + 1]!;
  return o;
};

function topology(a: RedisNode, b: RedisNode, sentinels: RedisNode[], all: RedisNode[], unregister: () => void): SentinelTopology {
  let primary = a;
  let replica = b;
  let stopped = false;
  let busy: Promise<unknown> = Promise.resolve();
  let cutSince: number | undefined;
  // Every Sentinel names the primary and the replica has caught up: a failover (or a cut) acts on the topology it thinks it does.
  const settle = async () => {
    try {
      await waitFor(async () => (await namedPrimaries(sentinels)).every((p) => p === primary.port) && replicaInSync(replica, primary), 20_000,
        `primary ${primary.port} named by every Sentinel, replica ${replica.port} in sync with it`);
    } catch (err) {
      throw new Error(`${(err as Error).message} (${await roles([primary, replica], sentinels)})`);
    }
  };
  const cut = async () => {
    if (cutSince !== undefined) return;
    await settle();
    const nowhere = await freePort();
    const r = replica.client();
    try {
      await r.connect();
      await r.call('REPLICAOF', '127.0.0.1', String(nowhere));
      cutSince = Date.now();
    } finally {
      r.disconnect();
    }
  };
  const uncut = async () => {
    if (cutSince === undefined) return;
    const r = replica.client();
    try {
      await r.connect();
      await r.call('REPLICAOF', '127.0.0.1', String(primary.port));
      cutSince = undefined;
    } catch {
      // The Sentinels point it back at the primary themselves (+fix-slave-config).
    } finally {
      r.disconnect();
    }
  };
  const url = `redis-sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${SENTINEL_MASTER_NAME}`;
  const nodeView = (n: RedisNode) => ({ port: n.port, pid: n.pid });

  async function failoverObserved(opts: FailoverOptions = {}): Promise<FailoverObservation> {
    if (stopped) throw new Error('this Sentinel topology was stopped');
    const killed = primary;
    const promoted = replica;
    if (cutSince === undefined) await settle();
    else if (!(await namedPrimaries(sentinels)).every((p) => p === killed.port)) {
      const seen = await roles([primary, replica], sentinels);
      await uncut();
      throw new Error(`the Sentinels no longer all name ${killed.port} as the primary: ${seen}`);
    }
    if (opts.replicationCutMs) {
      await cut();
      await new Promise((r) => setTimeout(r, opts.replicationCutMs));
    }
    const before = await withClient(killed, async (r) => ({ keys: await r.dbsize(), offset: Number((await infoOf(r, 'replication')).master_repl_offset) }));
    const killedPid = killed.pid;
    const cutMs = cutSince === undefined ? 0 : Date.now() - cutSince;
    await killed.kill();
    cutSince = undefined;
    const t0 = Date.now();
    try {
      await waitFor(async () => {
        const names = await namedPrimaries(sentinels);
        if (names.filter((p) => p === promoted.port).length < QUORUM) return false;
        return (await withClient(promoted, async (r) => ((await r.call('ROLE')) as [string])[0])) === 'master';
      }, 30_000, `the Sentinels to promote the replica on port ${promoted.port} (a Sentinel in TILT mode, e.g. on a starved machine, does not fail over)`);
    } catch (err) {
      const seen = await roles([promoted], sentinels);
      // Leave nothing down: the old primary comes back (empty) and the Sentinels sort out the roles.
      await killed.start().catch(() => undefined);
      throw new Error(`${(err as Error).message} (${seen})`);
    }
    const msToPromotion = Date.now() - t0;
    const after = await withClient(promoted, async (r) => {
      const info = await infoOf(r, 'replication');
      // second_repl_offset is where the promoted node's history diverged from the old primary's, + 1.
      return { keys: await r.dbsize(), offset: Number(info.second_repl_offset) - 1 };
    });
    await waitFor(async () => (await namedPrimaries(sentinels)).every((p) => p === promoted.port), 15_000, 'every Sentinel to name the promoted primary');
    const msToAllSentinels = Date.now() - t0;
    primary = promoted;
    replica = killed;
    await killed.start();
    try {
      await waitFor(() => replicaInSync(killed, promoted), 60_000, `the Sentinels to make the restarted node on port ${killed.port} a replica of ${promoted.port}`);
    } catch (err) {
      throw new Error(`${(err as Error).message} (${await roles([killed, promoted], sentinels)})`);
    }
    const restarted = { pid: killed.pid, msToReplica: Date.now() - t0 };
    const lostBytes = before && after ? Math.max(0, before.offset - after.offset) : null;
    return {
      killed: { port: killed.port, pid: killedPid, keys: before?.keys ?? null, offset: before?.offset ?? null },
      promoted: { port: promoted.port, pid: promoted.pid, keys: after?.keys ?? null, offset: after?.offset ?? null },
      lostBytes, replicationCutMs: cutMs, msToPromotion, msToAllSentinels, restarted,
    };
  }

  // One failover at a time: a second one waits for the first to settle.
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = busy.then(fn, fn);
    busy = next.catch(() => undefined);
    return next;
  };

  return {
    url, kind: 'embedded', topology: 'sentinel', masterName: SENTINEL_MASTER_NAME,
    get port() { return primary.port; },
    get pid() { return primary.pid; },
    get dataDir() { return primary.dir; },
    primary: () => nodeView(primary),
    replica: () => nodeView(replica),
    sentinels: () => sentinels.map(nodeView),
    cutReplication: () => serial(cut),
    failoverObserved: (opts) => serial(() => failoverObserved(opts)),
    failover: async (opts) => describeFailover(await serial(() => failoverObserved(opts))),
    stop: async () => {
      stopped = true;
      await busy;
      unregister();
      await stopAll(all);
    },
  };
}

export function describeFailover(o: FailoverObservation): string {
  const k = o.killed;
  const p = o.promoted;
  const lost = o.lostBytes === null ? 'replication offsets unreadable'
    : o.lostBytes === 0 ? 'no replication bytes lost (the replica had everything the primary had at the last reading)'
      : `${o.lostBytes} bytes of the primary's replication stream (acknowledged writes, and the Sentinels' hello messages) never reached the replica: lost`;
  return `${o.replicationCutMs > 0 ? `replica cut off from the primary (REPLICAOF an unreachable port) for ${o.replicationCutMs} ms, then ` : ''}` +
    `SIGKILL primary 127.0.0.1:${k.port} (pid ${k.pid}, ${k.keys ?? '?'} keys, offset ${k.offset ?? '?'}); ` +
    `replica 127.0.0.1:${p.port} (pid ${p.pid}) promoted after ${o.msToPromotion} ms (every Sentinel after ${o.msToAllSentinels} ms), ` +
    `${p.keys ?? '?'} keys, offset ${p.offset ?? '?'}: ${lost}; ` +
    `old primary started again empty as pid ${o.restarted.pid}, a synced replica of ${p.port} ${o.restarted.msToReplica} ms after the kill`;
}
