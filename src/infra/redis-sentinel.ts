import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { freePort, waitFor } from './ports.js';
import { registerCleanup } from './cleanup.js';
import type { Provisioned } from './chain.js';
import { InfraUnavailableError, describeCause } from './errors.js';
import { removeStaleDirs } from './postgres.js';
import { infoOf, makeNodeDir, redisNode, REDIS_DIR_PREFIX, type RedisNode } from './redis-node.js';
import { namedPrimaries, replicaInSync, roles, sentinelsAgree, SENTINEL_MASTER_NAME, withClient } from './redis-sentinel-probe.js';

export { SENTINEL_MASTER_NAME };

// One logical Redis behind Sentinel: a primary, one asynchronous replica, three Sentinels (quorum
// 2), all redis-server processes from PATH on loopback. Servers reach it through a
// redis-sentinel:// URL and follow a failover; failover() is the fault: SIGKILL the primary, let
// the Sentinels promote the replica, start the old primary again empty so they make it a replica.

const QUORUM = 2;

/** How quickly the Sentinels act: a primary silent for downAfterMs is down; failoverTimeoutMs paces retries and reconfiguration. */
export interface SentinelTiming { downAfterMs: number; failoverTimeoutMs: number }
/**
 * 2 s, not 1 s: at 1000 ms (the Sentinels' own ping period) one Sentinel now and then marks the
 * freshly promoted primary down about a second after the switch, counts the other Sentinels'
 * is-master-down votes left over from the failover just finished (+sdown and +odown in the same
 * millisecond, while the others never saw it down), and fails over again — onto the old primary
 * that has just restarted empty, erasing everything. Measured on Redis 7.0.15: 1 of 8 and 1 of 4
 * failovers at 1000 ms, 0 of 14 at 2000 ms; promotion then takes ~3.3 s instead of ~2.3 s.
 */
export const SENTINEL_TIMING: SentinelTiming = { downAfterMs: 2000, failoverTimeoutMs: 2000 };

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
  /**
   * The old primary started again (empty); the Sentinels make it a replica of the promoted node.
   * primaryAfter is the primary once they agree and the other node is in sync: the promoted node,
   * unless the Sentinels failed over again on their own meanwhile.
   */
  restarted: { pid: number | undefined; msToSettled: number; primaryAfter: number };
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

const sentinelConf = (port: number, dir: string, primaryPort: number, t: SentinelTiming) => [
  `port ${port}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`, 'daemonize no', 'loglevel notice', `logfile ${dir}/redis.log`,
  'sentinel resolve-hostnames no', 'sentinel announce-ip 127.0.0.1', `sentinel announce-port ${port}`,
  `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${primaryPort} ${QUORUM}`,
  `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${t.downAfterMs}`,
  `sentinel failover-timeout ${SENTINEL_MASTER_NAME} ${t.failoverTimeoutMs}`,
  `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
  '',
].join('\n');

/** Starts the five processes; throws InfraUnavailableError (and leaves nothing behind) if it cannot. */
export async function provisionRedisSentinel(timing: SentinelTiming = SENTINEL_TIMING): Promise<SentinelTopology> {
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
      const s = await redisNode(port, dir, sentinelConf(port, dir, a.port, timing), ['--sentinel']);
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

function topology(a: RedisNode, b: RedisNode, sentinels: RedisNode[], all: RedisNode[], unregister: () => void): SentinelTopology {
  let primary = a;
  let replica = b;
  let stopped = false;
  let busy: Promise<unknown> = Promise.resolve();
  let cutSince: number | undefined;
  // The roles as they are: every Sentinel names one of the two data nodes, and the other has caught
  // up with it. The Sentinels may fail over on their own (a starved machine misses pings), so the
  // topology follows them instead of assuming its last failover still stands.
  const observed = async (): Promise<{ primary: RedisNode; replica: RedisNode } | null> => {
    const names = await namedPrimaries(sentinels);
    const p = [a, b].find((n) => names.every((x) => x === n.port));
    if (!p) return null;
    const r = p === a ? b : a;
    return (await replicaInSync(r, p)) ? { primary: p, replica: r } : null;
  };
  const settle = async (timeoutMs = 20_000, what = 'every Sentinel to name one primary, and the other node to be in sync with it') => {
    try {
      await waitFor(async () => {
        const o = await observed();
        if (o) ({ primary, replica } = o);
        return o !== null;
      }, timeoutMs, what);
    } catch (err) {
      throw new Error(`${(err as Error).message} (${await roles([a, b], sentinels)})`, { cause: err });
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
    if (cutSince === undefined) await settle();
    else if (!(await namedPrimaries(sentinels)).every((p) => p === primary.port)) {
      const seen = await roles([primary, replica], sentinels);
      await uncut();
      throw new Error(`the Sentinels no longer all name ${primary.port} as the primary: ${seen}`);
    }
    const killed = primary;
    const promoted = replica;
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
      throw new Error(`${(err as Error).message} (${seen})`, { cause: err });
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
    await settle(60_000, `the Sentinels to make the restarted node on port ${killed.port} a replica of ${promoted.port}`);
    const restarted = { pid: killed.pid, msToSettled: Date.now() - t0, primaryAfter: primary.port };
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
    (o.restarted.primaryAfter === p.port
      ? `old primary started again empty as pid ${o.restarted.pid}, a synced replica of ${p.port} ${o.restarted.msToSettled} ms after the kill`
      : `old primary started again empty as pid ${o.restarted.pid}; then the Sentinels failed over again on their own, to it: ` +
        `${o.restarted.msToSettled} ms after the kill ${o.restarted.primaryAfter} is the primary and ${p.port} its replica (what was written before it synced is gone)`);
}
