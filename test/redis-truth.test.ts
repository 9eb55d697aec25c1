import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { checkSeatOverlaps } from '../src/check/intervals.js';
import { ViolationLog } from '../src/check/violations.js';
import { labRedis } from '../src/infra/redis-client.js';
import { validateProfile, type Profile } from '../src/target/profile.js';
import { checkProfile } from '../src/target/profile-check.js';
import { mergeSameHolder, sampleRedisHolds, type RedisTruthSpec } from '../src/target/redis-truth.js';
import { runBench } from './helpers.js';

// Holds that live only in Redis, as many booking APIs keep them (a key with a TTL per held seat):
// the lab samples them during the run and judges the intervals with the same overlap checker.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SPEC: RedisTruthSpec = { match: 'hold:{{scheduleId}}:*', seatNo: 'key:2', userId: 'value', sampleMs: 20 };

function redis(): Redis {
  const r = new Redis(inject('redisUrl'));
  r.on('error', () => undefined);
  onTestFinished(() => void r.disconnect());
  return r;
}

/**
 * A small booking API that holds in Redis only. exclusive: SET hold:<schedule>:<seat> <user> NX
 * (one holder per seat); otherwise one key per seat and user, never checked — a double hold.
 */
async function redisHoldApi(exclusive: boolean): Promise<string> {
  const r = redis();
  let users = 0;
  let schedule = randomInt(1_000_000, 2_000_000);
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += String(d); });
    req.on('end', () => {
      const send = (status: number, json: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(json)); };
      const b = (body ? JSON.parse(body) : {}) as { seatNo?: number; scheduleId?: number };
      if (req.url === '/users') return send(201, { userId: ++users, token: `u${users}` });
      if (req.url === '/schedules') return send(201, { scheduleId: ++schedule });
      if (req.url === '/holds') {
        const user = String(req.headers.authorization).replace('Bearer u', '');
        const key = exclusive ? `hold:${b.scheduleId}:${b.seatNo}` : `hold:${b.scheduleId}:${b.seatNo}:${user}`;
        void r.set(key, user, 'PX', 60_000, 'NX').then((ok) => (ok ? send(201, { held: true }) : send(409, { error: 'TAKEN' })));
        return;
      }
      send(404, {});
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const keys = await r.keys('hold:*');
    if (keys.length) await r.del(...keys);
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const profile = {
  name: 'redis-holds',
  users: { http: { method: 'POST', path: '/users', body: {}, capture: { userId: 'userId', token: 'token' } }, token: '{{token}}' },
  schedule: { http: { method: 'POST', path: '/schedules', body: { seats: '{{seats}}' }, capture: { scheduleId: 'scheduleId' } } },
  hold: { method: 'POST', path: '/holds', body: { scheduleId: '{{scheduleId}}', seatNo: '{{seatNo}}' } },
  outcomes: [{ status: 201, outcome: 'ok' }, { status: 409, outcome: 'conflict' }],
  truth: { redis: { match: 'hold:{{scheduleId}}:*', seatNo: 'key:2', userId: 'value', sampleMs: 50 } },
};

describe('truth.redis: holds kept only in Redis', () => {
  it('a crafted double hold (two holders of one seat at once) is one oversold seat; a resale one after the other and one user\'s hold then purchase are not', async () => {
    const r = redis();
    const client = labRedis(inject('redisUrl'));
    await client.connect();
    onTestFinished(() => void client.disconnect());
    const scheduleId = randomInt(3_000_000, 4_000_000);
    onTestFinished(async () => { const k = await r.keys(`hold:${scheduleId}:*`); if (k.length) await r.del(...k); });
    let t = 0;
    const sampler = sampleRedisHolds(client, SPEC, { scheduleId }, () => (t += 1000));
    await r.set(`hold:${scheduleId}:5:a`, '7');
    await r.set(`hold:${scheduleId}:5:b`, '8'); // seat 5 twice at once
    await r.set(`hold:${scheduleId}:6`, '9'); // seat 6, user 9, then user 10 after it
    await sleep(100);
    await r.del(`hold:${scheduleId}:6`);
    await sleep(100);
    await r.set(`hold:${scheduleId}:6`, '10');
    await sleep(100);
    const { rows, samples, failures } = await sampler.stop();
    expect(failures).toBe(0);
    expect(samples).toBeGreaterThan(3);
    expect(rows.filter((x) => x.seatNo === 5).map((x) => x.userId).sort()).toEqual([7, 8]);
    expect(rows.filter((x) => x.seatNo === 6).map((x) => x.userId)).toEqual([9, 10]);
    const log = new ViolationLog();
    expect(checkSeatOverlaps(log, rows)).toBe(1);
    expect(log.violations[0]!.detail).toMatch(/^seat 5: /);
    // User 9's Redis hold of seat 6 and a stored purchase by the same user that began during it: one reservation.
    const bought = { id: 41, userId: 9, scheduleId: 0, seatNo: 6, status: 'HELD', startUs: rows.find((x) => x.userId === 9)!.startUs + 1, endUs: null };
    const merged = mergeSameHolder([...rows.filter((x) => x.seatNo === 6 && x.userId === 9), bought]);
    expect(merged).toEqual([expect.objectContaining({ id: 41, userId: 9, endUs: null, status: 'HELD' })]);
  });

  it('bench run --target-redis: an API that holds in Redis without checking oversells the hot seat (exit 3); with SET NX it has one winner (exit 0)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'seatlab-redis-truth-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'redis-holds.json');
    await writeFile(file, JSON.stringify(profile));
    const run = async (exclusive: boolean) => {
      const url = await redisHoldApi(exclusive);
      const r = await runBench(['run', '--target', url, '--profile', file, '--target-redis', inject('redisUrl'), '--scenario', 'hot-seat', '--users', '30', '--runs', '1', '--json', '--out', dir], { timeoutMs: 90_000 });
      return { code: r.code, stderr: r.stderr, res: r.stdout ? JSON.parse(r.stdout).results[0] : undefined, report: r.stdout ? JSON.parse(r.stdout) : undefined };
    };
    const broken = await run(false);
    expect(broken.code, broken.stderr).toBe(3);
    expect(broken.res.outcomes.ok).toBe(30);
    expect(broken.res.oversold).toBe(29);
    expect(broken.res.verdict).toBe('fail');
    expect(broken.report.target.truth).toBe('redis');
    expect(broken.res.notes.join(' ')).toMatch(/holds kept in Redis were sampled every 50 ms \(\d+ samples, 30 holds seen\)/);
    expect(broken.res.notes.join(' ')).toContain('lost acknowledgements and unexplained writes were not checked');
    const safe = await run(true);
    expect(safe.code, safe.stderr).toBe(0);
    expect(safe.res.outcomes.ok).toBe(1);
    expect(safe.res.oversold).toBe(0);
  });

  it('bench profile check reads truth.redis once after the holds, and names a pattern that matches no key', async () => {
    const url = await redisHoldApi(true);
    const client = labRedis(inject('redisUrl'));
    await client.connect();
    onTestFinished(() => void client.disconnect());
    const good = await checkProfile(profile as Profile, { base: url, redis: client });
    expect(good.problems).toEqual([]);
    expect(good.steps.filter((s) => s.where === 'hold').map((s) => s.outcome)).toEqual(['ok', 'conflict']);
    expect(good.redisTruth).toMatchObject({ keys: 1, sample: [{ seatNo: 1, userId: '1' }] });
    const wrong = await checkProfile({ ...profile, truth: { redis: { ...profile.truth.redis, match: 'holds:{{scheduleId}}:*' } } } as Profile, { base: url, redis: client });
    expect(wrong.problems).toEqual([expect.stringMatching(/^truth\.redis\.match: no key matches "holds:\d+:\*" after 1 hold\(s\) succeeded/)]);
  });

  it('the profile\'s truth.redis is validated field by field, and --target-redis needs it', async () => {
    expect(validateProfile({ ...profile, truth: { redis: { match: '', seatNo: 'key:x', userId: 'field', sampleMs: 1 } } })).toEqual([
      'truth.redis.match: required, a SCAN pattern of the hold keys such as "hold:{{scheduleId}}:*"',
      'truth.redis.seatNo: expected "key:N" (the key\'s N-th \':\' part), "value", "hash:<field>" or "json:<path>" (got "key:x")',
      'truth.redis.userId: expected "key:N" (the key\'s N-th \':\' part), "value", "hash:<field>" or "json:<path>" (got "field")',
      'truth.redis.sampleMs: expected an integer of at least 10 (milliseconds)',
    ]);
    expect(validateProfile({ ...profile, truth: {} })).toEqual(['truth: expected reservations (SQL on --target-db) or redis (holds kept in Redis, read from --target-redis), or both']);
    const r = await runBench(['run', '--target', 'http://127.0.0.1:3000', '--profile', 'profiles/seatlab.json', '--target-redis', 'redis://127.0.0.1:6379', '--scenario', 'hot-seat']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--target-redis was given but the profile has no truth.redis (match, seatNo, userId) to read it with');
  });
});
