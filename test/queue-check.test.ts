import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { WaitingRoom, queueKeys, type QueueConfig } from '../src/queue/waiting-room.js';
import { checkQueue } from '../src/check/queue.js';
import type { QueueAnswers } from '../src/load/history.js';

// The queue checker must catch a waiting room that broke its word. Each case builds a real
// waiting room in Redis with the real Lua scripts, then breaks one promise by writing the
// waiting room's own keys directly (what a lost write or a bug would leave), and the checker
// must name it with evidence. A healthy room must pass. check(null): the records alone, no answers.

const SCHEDULE = 7;
const queue: QueueConfig = { maxActive: 3, ratePerSec: 100, activeTtlMs: 60_000 };

async function room(users: number, admit = 0) {
  const prefix = `qcheck_${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(inject('redisUrl'), { keyPrefix: prefix });
  onTestFinished(() => void redis.disconnect());
  const wr = new WaitingRoom(redis, { ...queue, maxActive: admit || 1 }, 'test');
  await wr.init();
  const answers: QueueAnswers = { joins: [], joinsUnanswered: 0, placesLost: [] };
  for (let u = 1; u <= users; u++) answers.joins.push({ userId: 100 + u, joinNumber: (await wr.join(SCHEDULE, 100 + u)).joinNumber });
  if (admit > 0) await wr.admitOnce();
  const check = (a: QueueAnswers | null = answers) =>
    checkQueue({ redisUrl: inject('redisUrl'), keyPrefix: prefix, scheduleId: SCHEDULE, queue, okResponses: a?.joins.length ?? users, unknownResponses: 0, ...(a ? { answers: a } : {}) });
  return { redis, wr, answers, check, k: queueKeys(SCHEDULE) };
}

const kinds = (r: { violations: { kind: string }[] }) => [...new Set(r.violations.map((v) => v.kind))].sort();

describe('checkQueue holds the waiting room to its promises', () => {
  it('a healthy room passes: 6 joins, 3 admitted in order, every promised number still the user\'s', async () => {
    const { check, answers } = await room(6, 3);
    expect(answers.joins.map((j) => j.joinNumber)).toEqual([1, 2, 3, 4, 5, 6]);
    const r = await check();
    expect(r.violations).toEqual([]);
    expect(r.admitted).toBe(3);
  });

  it('a duplicated join number in the records', async () => {
    const { redis, k, check } = await room(4);
    await redis.hset(k.joins, '104', '2');
    await redis.zadd(k.waiting, 2, '104');
    const r = await check(null);
    expect(kinds(r)).toEqual(['join-number-duplicated']);
    expect(r.violations[0]!.evidence).toEqual({ joinNumber: 2, users: expect.arrayContaining([102, 104]) });
  });

  it('a gap in the join numbers', async () => {
    const { redis, k, check } = await room(3);
    await redis.hset(k.joins, '104', '6');
    await redis.zadd(k.waiting, 6, '104');
    const r = await check(null);
    expect(kinds(r)).toEqual(['join-numbers-not-gap-free', 'joins-disagree-with-responses']);
    expect(r.violations.find((v) => v.kind === 'join-numbers-not-gap-free')!.evidence).toEqual({ missing: [4, 5], outOfRange: [] });
  });

  it('an admission out of join order, and a join left waiting behind a later one already admitted', async () => {
    const { redis, k, check } = await room(5);
    const t = Date.now();
    // Join 4 admitted first, then join 1: join 2 and 3 still wait although 4 got in.
    await redis.zrem(k.waiting, '104', '101');
    await redis.zadd(k.admitted, t, '104:4', t + 10, '101:1');
    const r = await check();
    expect(kinds(r)).toEqual(['admission-skipped', 'admitted-out-of-order']);
    const order = r.violations.find((v) => v.kind === 'admitted-out-of-order')!;
    expect(order.detail).toBe('join 1 was admitted after join 4');
    expect(r.violationCounts['admission-skipped']).toBe(2);
  });

  it('promises broken the way a failover breaks them: a promised join lost, its number given to somebody else', async () => {
    const { redis, wr, k, answers, check } = await room(5);
    // As if the last two joins never reached the replica that was then promoted: gone, and the counter back at 3.
    await redis.hdel(k.joins, '104', '105');
    await redis.zrem(k.waiting, '104', '105');
    await redis.set(k.seq, '3');
    for (const u of [201, 202]) answers.joins.push({ userId: u, joinNumber: (await wr.join(SCHEDULE, u)).joinNumber });
    // Without the answers the records look perfect: 1..5, unique, gap-free.
    expect((await check(null)).violations).toEqual([]);
    const r = await check();
    expect(kinds(r)).toEqual(['join-lost', 'join-number-reissued', 'joins-disagree-with-responses']);
    expect(r.violations.filter((v) => v.kind === 'join-lost').map((v) => v.evidence)).toEqual([
      { userId: 104, told: 4, recorded: null }, { userId: 105, told: 5, recorded: null }]);
    expect(r.violations.filter((v) => v.kind === 'join-number-reissued').map((v) => v.evidence)).toEqual([
      { joinNumber: 4, users: [104, 201] }, { joinNumber: 5, users: [105, 202] }]);
  });

  it('a user told WAITING and later told it is in no line; a join neither waiting nor admitted', async () => {
    const { redis, k, answers, check } = await room(3);
    await redis.zrem(k.waiting, '103');
    const r = await check({ ...answers, placesLost: [{ userId: 103, joinNumber: 3, atMs: 1234 }] });
    expect(kinds(r)).toEqual(['queue-place-lost']);
    expect(r.violationCounts['queue-place-lost']).toBe(2);
    expect(r.violations.map((v) => v.detail)).toContain('user 103 waited in line with join number 3, then at 1234 ms was told it was in no line, never having been admitted');
  });
});
