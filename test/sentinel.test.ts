import net from 'node:net';
import os from 'node:os';
import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import type { RedisClient } from '../src/infra/redis-client.js';
import { startLinkHost } from '../src/infra/link.js';
import { linkInstances } from '../src/load/instance-links.js';
import { describeFailover, provisionRedisSentinel, type FailoverObservation, type SentinelTopology } from '../src/infra/redis-sentinel.js';
import { createRedisClient, parseRedisUrl } from '../src/infra/redis-client.js';
import { infoOf } from '../src/infra/redis-node.js';
import { waitFor } from '../src/infra/ports.js';
import { faults } from '../src/nemesis/index.js';
import type { NemesisTargets } from '../src/nemesis/types.js';
import { WaitingRoom } from '../src/queue/waiting-room.js';
import { checkQueue } from '../src/check/queue.js';
import type { QueueAnswers } from '../src/load/history.js';
import { redisInfo } from '../src/report/metadata.js';
import { parseRunOptions } from '../src/cli/options.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { call, freshDatabase, SECRET, startApi } from './helpers.js';

// One Redis behind Sentinel, started from PATH like `bench run --redis-topology sentinel` does,
// shared by the tests of this file in order (each failover takes ~13 s: promotion ~3 s, then the
// Sentinels wait ~8 s before they turn the returning old primary into a replica). No mocks: the
// kill is a real SIGKILL, the promotion the Sentinels' own.

const alive = (pid: number | undefined) => { if (!pid) return false; try { process.kill(pid, 0); return true; } catch { return false; } };
const failover = faults.get('failover-redis')!;
const targets = (redis: NemesisTargets['redis']): NemesisTargets => ({ instances: [], redis, adminDbUrl: inject('pgUrl'), dbName: 'x' });

async function at(port: number, fn: (r: RedisClient) => Promise<unknown>): Promise<unknown> {
  const r = createRedisClient(`redis://127.0.0.1:${port}`);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}
const role = (port: number) => at(port, async (r) => ((await r.call('ROLE')) as string[])[0]);
const replication = (port: number) => at(port, (r) => infoOf(r, 'replication')) as Promise<Record<string, string>>;
const named = (t: SentinelTopology) => Promise.all(t.sentinels().map((s) => at(s.port, async (r) => Number(((await r.call('SENTINEL', 'get-master-addr-by-name', 'seatlab')) as string[])[1]))));

/** A client on the sentinel URL, connected and ready (after a failover it reconnects through the Sentinels). */
async function sentinelClient(t: SentinelTopology, prefix: string): Promise<RedisClient> {
  const c = createRedisClient(t.url, prefix);
  onTestFinished(() => c.disconnect());
  await c.connect();
  return c;
}
const ready = (c: RedisClient) => waitFor(async () => c.status === 'ready' && (await c.ping().then(() => true, () => false)), 20_000, 'the client to reach the promoted primary');

let topo: SentinelTopology;
beforeAll(async () => { topo = await provisionRedisSentinel(); }, 60_000);
afterAll(async () => { await topo?.stop(); });

describe('--redis-topology sentinel: provisioning', () => {
  it('starts five processes: a primary, a replica in sync, three Sentinels that agree, each in its own temp dir', async () => {
    const procs = [topo.primary(), topo.replica(), ...topo.sentinels()];
    expect(new Set(procs.map((p) => p.pid)).size).toBe(5);
    expect(new Set(procs.map((p) => p.port)).size).toBe(5);
    expect(procs.every((p) => alive(p.pid))).toBe(true);
    expect(topo.url).toBe(`redis-sentinel://${topo.sentinels().map((s) => `127.0.0.1:${s.port}`).join(',')}/seatlab`);
    expect(parseRedisUrl(topo.url)).toEqual({ kind: 'sentinel', name: 'seatlab', sentinels: topo.sentinels().map((s) => ({ host: '127.0.0.1', port: s.port })) });
    expect(topo.kind).toBe('embedded');
    expect(await role(topo.primary().port)).toBe('master');
    expect(await replication(topo.replica().port)).toMatchObject({ role: 'slave', master_port: String(topo.primary().port), master_link_status: 'up' });
    expect(await named(topo)).toEqual([topo.primary().port, topo.primary().port, topo.primary().port]);
    for (const s of topo.sentinels()) {
      await at(s.port, async (r) => {
        expect(await r.call('SENTINEL', 'ckquorum', 'seatlab')).toMatch(/^OK 3 usable Sentinels/);
        expect(await r.call('SENTINEL', 'sentinels', 'seatlab')).toHaveLength(2);
      });
    }
    // Own temp dirs under the prefix the stale-dir cleanup knows; Sentinel could rewrite its config there.
    const dirs = (await readdir(os.tmpdir())).filter((d) => d.startsWith(`seatlab-redis-${process.pid}-`));
    expect(dirs).toHaveLength(5);
    const confs = await Promise.all(dirs.map((d) => readFile(`${os.tmpdir()}/${d}/redis.conf`, 'utf8')));
    expect(confs.filter((c) => /^sentinel myid /m.test(c))).toHaveLength(3);
    expect(await redisInfo(topo.url, topo.kind)).toMatchObject({ version: expect.stringMatching(/^7\./), kind: 'embedded' });
  });

  it('createRedisClient follows the Sentinels, and a natMap routes the data connection elsewhere (here: through a TCP relay)', async () => {
    let relayed = 0;
    const relay = net.createServer((sock) => {
      relayed++;
      const up = net.connect(topo.primary().port, '127.0.0.1');
      sock.pipe(up).pipe(sock);
      up.on('error', () => sock.destroy());
      sock.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    onTestFinished(() => new Promise<void>((r) => relay.close(() => r())));
    const port = (relay.address() as net.AddressInfo).port;
    const c = createRedisClient(topo.url, 'nat:', { [`127.0.0.1:${topo.primary().port}`]: { host: '127.0.0.1', port } });
    onTestFinished(() => c.disconnect());
    await c.connect();
    await c.set('k', 'v');
    expect(relayed).toBeGreaterThanOrEqual(1);
    expect(await at(topo.primary().port, (r) => r.get('nat:k'))).toBe('v');
  });

  it('failover-redis without a Sentinel topology does nothing and says why; bench run says to add --redis-topology sentinel', async () => {
    const none = await failover.inject(targets([]), 0);
    expect(none).toMatchObject({ applied: false, detail: expect.stringContaining('--redis-topology sentinel') });
    const { problems } = parseRunOptions({ strategy: 'redlock', scenario: 'flash-sale', nemesis: 'failover-redis' });
    expect(problems).toEqual([expect.stringContaining('add --redis-topology sentinel')]);
    expect(parseRunOptions({ strategy: 'redlock', scenario: 'flash-sale', nemesis: 'failover-redis', redisTopology: 'sentinel' }).problems).toEqual([]);
    expect(parseRunOptions({ strategy: 'redlock', scenario: 'flash-sale', nemesis: 'restart-redis', redisTopology: 'sentinel' }).problems)
      .toEqual([expect.stringContaining('with --redis-topology sentinel use failover-redis')]);
  });
});

describe('faults that reach Redis behind Sentinel', () => {
  it('expire-locks cuts the lock keys on the current primary, through the sentinel URL', async () => {
    const prefix = `expire_${process.pid}:`;
    const c = await sentinelClient(topo, '');
    await c.set(`${prefix}seatlab:lock:{s1}:seat:1`, 'a', 'PX', 60_000);
    await c.set(`${prefix}seatlab:{s1}:seat-count`, '5');
    const active = await faults.get('expire-locks')!.inject({ instances: [], redis: [topo], adminDbUrl: inject('pgUrl'), dbName: 'x', redisKeyPrefix: prefix }, 0);
    await new Promise((r) => setTimeout(r, 150));
    const healed = await active.heal();
    expect(healed).toMatch(/^1 live lock\(s\) cut to 1 ms/);
    expect(await c.exists(`${prefix}seatlab:lock:{s1}:seat:1`)).toBe(0);
    expect(await c.get(`${prefix}seatlab:{s1}:seat-count`)).toBe('5');
  });

  it('links reach the data nodes behind Sentinel (natMap): a partition of one instance\'s Redis links stops its commands, healing restores them', async () => {
    const host = await startLinkHost();
    onTestFinished(() => host.close());
    const nodes = [topo.primary(), topo.replica()].map((n) => ({ host: '127.0.0.1', port: n.port }));
    const { links, configs } = await linkInstances(host, 1, { databaseUrl: 'postgres://x@127.0.0.1:5432/x', strategy: 'redlock', tokenSecret: 's', redisUrls: [topo.url], redisKeyPrefix: 'linked:' }, { latencyMs: 0, jitterMs: 0 }, nodes);
    expect(configs[0]!.redisUrls![0]).toMatch(/^redis-sentinel:\/\/(127\.0\.0\.1:\d+,){2}127\.0\.0\.1:\d+\/seatlab$/);
    expect(Object.keys(configs[0]!.redisNatMap!)).toEqual(nodes.map((n) => `127.0.0.1:${n.port}`));
    const c = createRedisClient(configs[0]!.redisUrls![0]!, 'linked:', configs[0]!.redisNatMap);
    onTestFinished(() => c.disconnect());
    await c.connect();
    await c.set('k', 'v1');
    const before = await Promise.all(links[0]!.redis.map((l) => l.stats()));
    expect(before.reduce((a, x) => a + x.bytesUp, 0)).toBeGreaterThan(0);
    for (const l of links[0]!.redis) await l.blackhole();
    await expect(Promise.race([c.get('k'), new Promise((_, rej) => setTimeout(() => rej(new Error('no answer')), 500))])).rejects.toThrow('no answer');
    for (const l of links[0]!.redis) await l.heal();
    await ready(c);
    expect(await c.get('k')).toBe('v1');
  });
});

describe('failover-redis: a real SIGKILL, a real promotion', () => {
  it('kills the primary, the Sentinels promote the replica, the old primary comes back as its replica, the record says so; a sentinel-URL client keeps writing', async () => {
    const c = await sentinelClient(topo, 'fo1:');
    await c.set('before', '1');
    const [oldPrimary, oldReplica] = [topo.primary(), topo.replica()];
    const active = await failover.inject(targets([topo]), 0);
    expect(active.applied).toBe(true);
    expect(active.target).toBe(`redis primary 127.0.0.1:${oldPrimary.port} (pid ${oldPrimary.pid}) of seatlab`);
    const healed = await active.heal();
    // The old process is gone; the replica's port is the primary now, by its own ROLE and by every Sentinel.
    expect(alive(oldPrimary.pid)).toBe(false);
    expect(topo.primary()).toEqual({ port: oldReplica.port, pid: oldReplica.pid });
    expect(await role(oldReplica.port)).toBe('master');
    expect(await named(topo)).toEqual([oldReplica.port, oldReplica.port, oldReplica.port]);
    // The old primary's port answers again, from a new process, as a synced replica of the new primary.
    const back = topo.replica();
    expect(back.port).toBe(oldPrimary.port);
    expect(back.pid).not.toBe(oldPrimary.pid);
    expect(alive(back.pid)).toBe(true);
    expect(await replication(back.port)).toMatchObject({ role: 'slave', master_port: String(oldReplica.port), master_link_status: 'up' });
    expect(healed).toMatch(new RegExp(`SIGKILL primary 127\\.0\\.0\\.1:${oldPrimary.port} \\(pid ${oldPrimary.pid}, \\d+ keys, offset \\d+\\); ` +
      `replica 127\\.0\\.0\\.1:${oldReplica.port} \\(pid ${oldReplica.pid}\\) promoted after \\d+ ms`));
    expect(healed).toContain(`old primary started again empty as pid ${back.pid}, a synced replica of ${oldReplica.port}`);
    // The client found the new primary: its writes land there, and the write from before survived (it was replicated).
    await ready(c);
    await c.set('after', '2');
    expect(await at(oldReplica.port, async (r) => [await r.get('fo1:before'), await r.get('fo1:after')])).toEqual(['1', '2']);
  }, 90_000);

  it('writes the primary acknowledged while the replica was cut off are lost, and the record counts them', async () => {
    const c = await sentinelClient(topo, 'fo2:');
    for (let i = 0; i < 200; i++) await c.set(`kept${i}`, 'x');
    await topo.cutReplication();
    for (let i = 0; i < 300; i++) await c.set(`lost${i}`, 'x');
    const o = await topo.failoverObserved();
    expect(o.replicationCutMs).toBeGreaterThan(0);
    expect(o.killed.keys! - o.promoted.keys!).toBe(300);
    expect(o.lostBytes).toBeGreaterThan(300 * 20);
    await ready(c);
    expect(await c.exists(...Array.from({ length: 200 }, (_, i) => `kept${i}`))).toBe(200);
    expect(await c.exists(...Array.from({ length: 300 }, (_, i) => `lost${i}`))).toBe(0);
  }, 90_000);

  it('the waiting room after a lossy failover: joins told a number are lost, their numbers re-issued, and checkQueue says so', async () => {
    const prefix = 'fo3:';
    const c = await sentinelClient(topo, prefix);
    const room = new WaitingRoom(c, { maxActive: 5, ratePerSec: 100, activeTtlMs: 60_000 }, 'test');
    await room.init();
    const answers: QueueAnswers = { joins: [], joinsUnanswered: 0, placesLost: [] };
    const join = async (userId: number) => answers.joins.push({ userId, joinNumber: (await room.join(3, userId)).joinNumber });
    for (let u = 1; u <= 20; u++) await join(u);
    await topo.cutReplication();
    for (let u = 21; u <= 30; u++) await join(u);
    await topo.failover();
    await ready(c);
    // The scripts are gone with the old primary (SCRIPT LOAD is not replicated): the room reloads them.
    for (let u = 31; u <= 40; u++) await join(u);
    expect(answers.joins.map((j) => j.joinNumber)).toEqual([...Array.from({ length: 30 }, (_, i) => i + 1), ...Array.from({ length: 10 }, (_, i) => i + 21)]);
    const check = (a?: QueueAnswers) => checkQueue({ redisUrl: topo.url, keyPrefix: prefix, scheduleId: 3, queue: room.config, okResponses: a ? a.joins.length : 30, unknownResponses: 0, ...(a ? { answers: a } : {}) });
    // The records alone are perfect again (1..30, unique, gap-free): only the users' answers show the broken promise.
    expect((await check()).violations).toEqual([]);
    const r = await check(answers);
    expect(r.violationCounts).toEqual({ 'join-lost': 10, 'join-number-reissued': 10, 'joins-disagree-with-responses': 1 });
    expect(r.violations.find((v) => v.kind === 'join-number-reissued')!.evidence).toEqual({ joinNumber: 21, users: [21, 31] });
  }, 90_000);

  it('holds through booking servers with redlock and redis-decr on the sentinel URL work before and after a failover', async () => {
    const servers = [];
    for (const strategy of ['redlock', 'redis-decr']) {
      const { url, db } = await freshDatabase();
      const { scheduleId } = await seedSchedule(db, { seats: 10 });
      const users = await seedUsers(db, { count: 3, secret: SECRET });
      const api = await startApi(url, strategy, { redisUrls: [topo.url] });
      servers.push({ strategy, api, scheduleId, users });
    }
    const hold = (s: (typeof servers)[number], user: number, seatNo: number) => call(s.api.url, 'POST', '/api/reservations', { token: s.users[user]!.token, body: { scheduleId: s.scheduleId, seatNo } });
    for (const s of servers) expect((await hold(s, 0, 1)).status, s.strategy).toBe(201);
    await topo.failover();
    for (const s of servers) {
      // Until the server's client has reconnected through the Sentinels, Redis is unavailable: 503, never a wrong answer.
      let st = 0;
      await waitFor(async () => { st = (await hold(s, 1, 2)).status; expect([201, 503]).toContain(st); return st === 201; }, 20_000, `${s.strategy} to hold again`);
      expect((await hold(s, 2, 1)).status, `${s.strategy}: seat 1 is taken`).toBe(409);
      expect((await hold(s, 2, 3)).status, s.strategy).toBe(201);
    }
  }, 120_000);

  it('stop() leaves no process and no temp dir behind', async () => {
    const pids = [topo.primary().pid, topo.replica().pid, ...topo.sentinels().map((s) => s.pid)];
    await topo.stop();
    expect(pids.filter(alive)).toEqual([]);
    expect((await readdir(os.tmpdir())).filter((d) => d.startsWith(`seatlab-redis-${process.pid}-`))).toEqual([]);
  });
});

describe('the failover record', () => {
  const o: FailoverObservation = {
    killed: { port: 7001, pid: 11, keys: 120, offset: 9000 }, promoted: { port: 7002, pid: 12, keys: 100, offset: 8000 },
    lostBytes: 1000, replicationCutMs: 500, msToPromotion: 3200, msToAllSentinels: 3210, restarted: { pid: 13, msToSettled: 12000, primaryAfter: 7002 },
  };
  it('says what was cut, killed, promoted and lost, and how the old primary came back', () => {
    expect(describeFailover(o)).toBe('replica cut off from the primary (REPLICAOF an unreachable port) for 500 ms, then SIGKILL primary 127.0.0.1:7001 (pid 11, 120 keys, offset 9000); ' +
      'replica 127.0.0.1:7002 (pid 12) promoted after 3200 ms (every Sentinel after 3210 ms), 100 keys, offset 8000: 1000 bytes of the primary\'s replication stream ' +
      '(acknowledged writes, and the Sentinels\' hello messages) never reached the replica: lost; old primary started again empty as pid 13, a synced replica of 7002 12000 ms after the kill');
  });
  it('says so when the Sentinels failed over again on their own, onto the restarted empty node', () => {
    expect(describeFailover({ ...o, restarted: { pid: 13, msToSettled: 15000, primaryAfter: 7001 } }))
      .toContain('old primary started again empty as pid 13; then the Sentinels failed over again on their own, to it: 15000 ms after the kill 7001 is the primary and 7002 its replica');
  });
});
