import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import net from 'node:net';
import { rm } from 'node:fs/promises';
import { makeNodeDir, NodeStartError, redisNode } from '../src/infra/redis-node.js';
import { provisionRedisCluster, type ClusterTopology } from '../src/infra/redis-cluster.js';
import { createRedisClient, parseRedisUrl } from '../src/infra/redis-client.js';
import { WaitingRoom, queueKeys } from '../src/queue/waiting-room.js';
import { relayOnce, EVENTS_STREAM } from '../src/events/relay.js';
import { parseRunOptions, type RawRunOptions } from '../src/cli/options.js';
import { paramDifferences } from '../src/report/compare.js';
import type { Report } from '../src/report/schema.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { call, freshDatabase, SECRET, startApi } from './helpers.js';

// A Redis Cluster as `bench run --redis-cluster 3 --redis-cluster-replicas 1` starts it (six
// redis-server processes, one file-wide cluster): keys spread over the primaries by hash tag, the
// waiting room and the event stream work through a Cluster client, and the flags refuse what the
// lab cannot do on a cluster. The strategies' contract on a cluster is in strategies.contract.test.ts.

const alive = (pid: number | undefined) => { if (!pid) return false; try { process.kill(pid, 0); return true; } catch { return false; } };

/** A plain connection to one node (no cluster routing), closed after fn. */
async function at<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** Every key under `prefix` on each primary (a SCAN per node: a cluster client's SCAN would ask one node). */
async function keysPerPrimary(t: ClusterTopology, prefix: string): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const n of t.nodes().filter((x) => x.role === 'primary')) out.set(n.port, await at(n.port, (r) => r.keys(`${prefix}*`)));
  return out;
}

let cluster: ClusterTopology;
beforeAll(async () => { cluster = await provisionRedisCluster({ primaries: 3, replicasPerPrimary: 1 }); }, 60_000);
afterAll(async () => { await cluster?.stop(); });

describe('--redis-cluster: provisioning', () => {
  it('starts 3 primaries with a replica each, every node cluster_state:ok, reachable through a redis-cluster:// URL', async () => {
    const nodes = cluster.nodes();
    expect(nodes.map((n) => n.role)).toEqual(['primary', 'primary', 'primary', 'replica', 'replica', 'replica']);
    expect(new Set(nodes.map((n) => n.port)).size).toBe(6);
    expect(nodes.every((n) => alive(n.pid))).toBe(true);
    expect(parseRedisUrl(cluster.url)).toEqual({ kind: 'cluster', nodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })) });
    for (const n of nodes) {
      const info = await at(n.port, (r) => r.call('CLUSTER', 'INFO')) as string;
      expect(info).toMatch(/cluster_state:ok/);
      expect(info).toMatch(/cluster_known_nodes:6/);
      expect(info).toMatch(/cluster_size:3/);
      expect(await at(n.port, async (r) => ((await r.call('ROLE')) as string[])[0])).toBe(n.role === 'primary' ? 'master' : 'slave');
    }
  });

  it('a node whose port is taken says so from its log (the reason a cluster start tries other ports), and leaves nothing running', async () => {
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
    const port = (squatter.address() as net.AddressInfo).port;
    const dir = await makeNodeDir();
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const node = await redisNode(port, dir, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `logfile ${dir}/redis.log`, 'save ""', ''].join('\n'));
    const err = await node.start().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(NodeStartError);
    expect((err as NodeStartError).portTaken).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`redis-server on port ${port} exited: .*${port}.*Address already in use`));
    expect(node.running()).toBe(false);
  });

  it('refuses a key prefix with a brace: it would become the hash tag of every key', () => {
    expect(() => createRedisClient(cluster.url, 'run{1}:')).toThrow(/has a "\{"/);
  });
});

describe('keys on a cluster', () => {
  it('a sale of several schedules puts its keys on more than one primary; each key\'s slot is its schedule tag\'s, whatever the prefix', async () => {
    const { url, db, name } = await freshDatabase();
    const schedules = [await seedSchedule(db, { seats: 4 }), await seedSchedule(db, { seats: 4 }), await seedSchedule(db, { seats: 4 })];
    const users = await seedUsers(db, { count: 3, secret: SECRET });
    const decr = await startApi(url, 'redis-decr', { redisUrls: [cluster.url] });
    const lock = await startApi(url, 'redlock', { redisUrls: [cluster.url], strategyOptions: { lockTtlMs: '60000' } });
    for (const [i, s] of schedules.entries()) {
      expect((await call(decr.url, 'POST', '/api/reservations', { token: users[i]!.token, body: { scheduleId: s.scheduleId, seatNo: 1 } })).status).toBe(201);
      expect((await call(lock.url, 'POST', '/api/reservations', { token: users[i]!.token, body: { scheduleId: s.scheduleId, seatNo: 2 } })).status).toBe(201);
    }
    const perNode = await keysPerPrimary(cluster, `${name}:`);
    const all = [...perNode.values()].flat();
    // Three keys of state per schedule (seat count, claims, tickets); the locks were released.
    expect(all).toHaveLength(schedules.length * 3);
    expect([...perNode.values()].filter((ks) => ks.length > 0).length).toBeGreaterThan(1);
    const c = createRedisClient(cluster.url);
    onTestFinished(() => c.disconnect());
    await c.connect();
    for (const key of all) {
      const tag = /\{(s\d+)\}/.exec(key)![1]!;
      expect(await c.call('CLUSTER', 'KEYSLOT', key)).toBe(await c.call('CLUSTER', 'KEYSLOT', `{${tag}}`));
    }
    // A schedule's keys are all on one primary: each script stays in one slot.
    for (const s of schedules) expect([...perNode.values()].filter((ks) => ks.some((k) => k.includes(`{s${s.scheduleId}}`)))).toHaveLength(1);
  });

  it('the waiting room admits on a cluster: joins of two schedules, one admission round, positions in join order', async () => {
    const prefix = `room-${Date.now()}:`;
    const c = createRedisClient(cluster.url, prefix);
    onTestFinished(() => c.disconnect());
    await c.connect();
    const room = new WaitingRoom(c, { maxActive: 2, ratePerSec: 100, activeTtlMs: 60_000 }, 'test');
    await room.init();
    const joined = [await room.join(1, 10), await room.join(1, 11), await room.join(1, 12), await room.join(2, 20)];
    expect(joined.map((p) => [p.status, p.position, p.joinNumber])).toEqual([['WAITING', 1, 1], ['WAITING', 2, 2], ['WAITING', 3, 3], ['WAITING', 1, 1]]);
    expect(await room.admitOnce()).toBe(3);
    expect((await Promise.all([10, 11, 12].map((u) => room.status(1, u)))).map((p) => p.status)).toEqual(['ACTIVE', 'ACTIVE', 'WAITING']);
    expect(await room.isActive(2, 20)).toBe(true);
    // The scripts were loaded on every primary, so none had to be sent again.
    expect(room.counters.scriptsReloaded).toBe(0);
    expect(await c.call('CLUSTER', 'KEYSLOT', `${prefix}${queueKeys(1).waiting}`)).not.toBe(await c.call('CLUSTER', 'KEYSLOT', `${prefix}${queueKeys(2).waiting}`));
  });

  it('the outbox relay publishes to the event stream through a cluster client', async () => {
    const { url, db, name } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 2 });
    const [user] = await seedUsers(db, { count: 1, secret: SECRET });
    const api = await startApi(url, 'pessimistic', { redisUrls: [cluster.url] });
    const held = await call(api.url, 'POST', '/api/reservations', { token: user!.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } });
    expect(held.status).toBe(201);
    const c = createRedisClient(cluster.url, `${name}:`);
    onTestFinished(() => c.disconnect());
    await c.connect();
    expect(await relayOnce(db, c)).toBeGreaterThan(0);
    expect(await c.xlen(EVENTS_STREAM)).toBeGreaterThan(0);
  });
});

describe('--redis-cluster flags', () => {
  const base: RawRunOptions = { strategy: 'redlock', scenario: 'hot-seat' };
  const problems = (extra: RawRunOptions) => parseRunOptions({ ...base, ...extra }).problems.join('\n');

  it('--redis-cluster N implies the cluster topology; --redis-topology cluster alone means 3 primaries', () => {
    expect(parseRunOptions({ ...base, redisCluster: '5', redisClusterReplicas: '1' }).options!.network).toMatchObject({ redisTopology: 'cluster', redisCluster: { primaries: 5, replicasPerPrimary: 1 } });
    expect(parseRunOptions({ ...base, redisTopology: 'cluster' }).options!.network).toMatchObject({ redisTopology: 'cluster', redisCluster: { primaries: 3, replicasPerPrimary: 0 } });
    expect(parseRunOptions(base).options!.network.redisCluster).toBeUndefined();
  });

  it('every bad combination is a usage error naming the flag and what to do', () => {
    expect(problems({ redisCluster: '2' })).toMatch(/--redis-cluster must be the number of primaries, 3 to 16 .*got "2"/);
    expect(problems({ redisCluster: 'three' })).toMatch(/--redis-cluster must be the number of primaries/);
    expect(problems({ redisCluster: '3', redisClusterReplicas: '-1' })).toMatch(/--redis-cluster-replicas must be the replicas of each primary, 0 to 5/);
    expect(problems({ redisClusterReplicas: '1' })).toMatch(/--redis-cluster-replicas needs a Redis Cluster: add --redis-cluster/);
    expect(problems({ redisCluster: '3', redisUrl: ['redis://127.0.0.1:6379'] })).toMatch(/drop --redis-url \/ --redis-nodes/);
    expect(problems({ redisCluster: '3', redisNodes: '3' })).toMatch(/drop --redis-url \/ --redis-nodes/);
    expect(problems({ redisCluster: '3', redisTopology: 'sentinel' })).toMatch(/--redis-topology is sentinel: drop --redis-topology, or say --redis-topology cluster/);
    expect(problems({ redisTopology: 'mesh' })).toMatch(/--redis-topology must be one of single, sentinel, cluster/);
    expect(problems({ redisCluster: '3', nemesis: 'restart-redis,pause-instance' })).toMatch(/--nemesis restart-redis is not supported on a Redis Cluster/);
    expect(problems({ redisCluster: '3', linkLatency: '1ms' })).toMatch(/--link-latency is not supported on a Redis Cluster/);
    expect(parseRunOptions({ scenario: 'hot-seat', target: 'http://127.0.0.1:1', profile: 'p.json', redisCluster: '3' }).problems.join('\n')).toMatch(/--redis-cluster .*a --target has its own: drop them/);
    expect(problems({ redisUrl: ['redis-cluster://127.0.0.1:7000,127.0.0.1:7001'] })).toMatch(/a redis-cluster:\/\/ URL of your own is not supported yet; let seatlab start one with --redis-cluster/);
    expect(problems({ redisCluster: '3', nemesis: 'pause-instance' })).toBe('');
  });

  it('bench compare treats cluster and single Redis, and clusters of other shapes, as different experiments', () => {
    const r = (config: Partial<Report['config']>) => ({ scenario: { name: 'flash-sale', params: {} }, config: { ...config }, results: [] }) as unknown as Report;
    const single = r({});
    const three = r({ redisTopology: 'cluster', redisCluster: { primaries: 3, replicasPerPrimary: 0 } });
    const five = r({ redisTopology: 'cluster', redisCluster: { primaries: 5, replicasPerPrimary: 0 } });
    expect(paramDifferences(single, three)).toEqual([{ field: 'Redis topology (config.redisTopology)', baseline: 'single', current: 'cluster (3 primaries, 0 replicas each)' }]);
    expect(paramDifferences(three, five).map((d) => d.current)).toEqual(['cluster (5 primaries, 0 replicas each)']);
    expect(paramDifferences(three, three)).toEqual([]);
  });
});
