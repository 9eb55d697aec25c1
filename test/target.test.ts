import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { loadProfile, validateProfile } from '../src/target/profile.js';
import { freshDatabase, startApi, runBench } from './helpers.js';

const bench = (args: string[], timeoutMs = 120_000) => runBench(args, { timeoutMs });

async function outDir(): Promise<string> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'seatlab-target-'));
  onTestFinished(() => rm(out, { recursive: true, force: true }));
  return out;
}

describe('profiles', () => {
  it('the shipped profiles are valid', async () => {
    expect((await loadProfile('profiles/seatlab.json')).name).toBe('seatlab');
    expect((await loadProfile('profiles/3rd-concert.json')).name).toBe('3rd-concert');
  });

  it('a bad profile gets every problem, each naming the field and what was expected', () => {
    const base = JSON.parse(JSON.stringify({ name: 'x', users: { http: { method: 'POST', path: '/u' }, token: '{{token}}' }, schedule: { http: { method: 'POST', path: '/s' } }, hold: { method: 'POST', path: '/r' } }));
    expect(validateProfile(base)).toEqual([]);
    const { users: _u, ...noUsers } = base;
    expect(validateProfile(noUsers)).toEqual(['users: required, an object { sql | http, token }']);
    expect(validateProfile({ ...base, hold: { method: 'FETCH', path: 'r' } })).toEqual([
      'hold.method: expected one of GET, POST, PUT, PATCH, DELETE (got "FETCH")', 'hold.path: expected a path starting with / (got "r")']);
    expect(validateProfile({ ...base, name: 42 })).toEqual(['name: expected a non-empty string (got 42)']);
    expect(validateProfile({ ...base, book: {} })[0]).toMatch(/^book: unknown field \(known: name, /);
    expect(validateProfile({ ...base, hold: undefined })).toEqual(['hold / holdTicket: at least one is required (numbered seats, or general admission)']);
    expect(validateProfile({ ...base, outcomes: [{ status: 409, outcome: 'maybe' }] })).toEqual(['outcomes[0].outcome: expected one of ok, conflict, soldOut, rejected, error (got "maybe")']);
  });

  it('a malformed --target and a scenario a target cannot run are named, not a request for --strategy', async () => {
    const r = await bench(['run', '--target', 'nope', '--scenario', 'journey']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--target must be an http(s) URL such as http://127.0.0.1:3000 (got "nope")');
    expect(r.stderr).toContain('--scenario journey cannot run against a target yet; use hot-seat, flash-sale, general-admission');
    expect(r.stderr).not.toContain('--strategy is required');
  });

  it('bench run names the profile file and its problems, exit 1', async () => {
    const dir = await outDir();
    const file = path.join(dir, 'bad.json');
    await (await import('node:fs/promises')).writeFile(file, JSON.stringify({ name: 'bad', users: {}, schedule: { sql: 'SELECT 1' } }));
    const r = await bench(['run', '--target', 'http://127.0.0.1:9', '--profile', file, '--scenario', 'hot-seat']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`profile ${file}:`);
    expect(r.stderr).toContain('users.token: required, a string');
    expect(r.stderr).toContain('schedule.sql: expected a non-empty array of SQL strings');
    expect(r.stderr).toContain('hold / holdTicket: at least one is required');
  });
});

describe('black-box runs against seatlab\'s own API', () => {
  it('through profiles/seatlab.json a flash sale gives the same verdicts and counts as the internal run, oversold from the database', async () => {
    const { url } = await freshDatabase();
    const api = await startApi(url, 'pessimistic');
    const out = await outDir();
    const args = ['--scenario', 'flash-sale', '--users', '600', '--seats', '60', '--runs', '1', '--warmup', '0', '--json', '--out', out];
    const target = await bench(['run', '--target', api.url, '--profile', 'profiles/seatlab.json', '--target-db', url, ...args]);
    expect(target.code, target.stderr).toBe(0);
    const internal = await bench(['run', '--strategy', 'pessimistic', '--database-url', inject('pgUrl'), '--http-ceiling', 'off', ...args]);
    expect(internal.code, internal.stderr).toBe(0);
    const [t, i] = [JSON.parse(target.stdout), JSON.parse(internal.stdout)];
    expect(t.results[0].strategy).toBe('target:seatlab');
    expect(t.target).toMatchObject({ url: api.url, where: 'this machine', truth: 'database', health: { status: 200 } });
    for (const r of [t.results[0], i.results[0]]) {
      expect(r).toMatchObject({ oversold: 0, verdict: 'pass' });
      expect(r.outcomes.ok).toBe(60);
      expect(r.history).toMatchObject({ lostAcks: 0, unexplainedWrites: 0 });
    }
  }, 200_000);

  it('a target that oversells on purpose is caught from its database (exit 3), and without the database the report says the check is weaker', async () => {
    const { url } = await freshDatabase();
    const api = await startApi(url, 'none', { strategyOptions: { raceWindowMs: '50' } });
    const out = await outDir();
    const r = await bench(['run', '--target', api.url, '--profile', 'profiles/seatlab.json', '--target-db', url, '--scenario', 'hot-seat', '--users', '30', '--runs', '1', '--json', '--out', out]);
    expect(r.code, r.stderr).toBe(3);
    const res = JSON.parse(r.stdout).results[0];
    expect(res.oversold).toBeGreaterThan(0);
    expect(res.oversold).toBe(res.outcomes.ok - 1);
    expect(res.violationCounts['seat-overlap']).toBe(res.oversold);
    const weak = await bench(['run', '--target', api.url, '--profile', 'profiles/seatlab.json', '--scenario', 'hot-seat', '--users', '30', '--runs', '1', '--json', '--out', out]);
    const w = JSON.parse(weak.stdout);
    expect(w.target.truth).toBe('api');
    expect(w.results[0].notes.join(' ')).toContain('weaker check');
  }, 120_000);
});

describe('a broken target is reported, never a crash of the lab', () => {
  it('500s are errors (unknown outcomes), a hang is a timeout', async () => {
    let n = 0;
    const server = http.createServer((req, res) => {
      const send = (status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
      if (req.url === '/healthz') return send(200, { status: 'ok' });
      if (req.url === '/lab/schedules') return send(201, { scheduleId: 7 });
      if (req.url === '/api/users') return send(201, { userId: ++n, token: `t${n}` });
      if (req.url === '/api/schedules/7/seats') return send(200, { seats: [] });
      // Half the holds fail with a 500, the other half never get an answer.
      if (n++ % 2 === 0) return send(500, { error: 'boom' });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    onTestFinished(() => { server.closeAllConnections(); return new Promise<void>((r) => server.close(() => r())); });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const out = await outDir();
    const r = await bench(['run', '--target', url, '--profile', 'profiles/seatlab.json', '--scenario', 'hot-seat', '--users', '20', '--runs', '1', '--timeout', '1', '--json', '--out', out]);
    expect([0, 3]).toContain(r.code);
    const res = JSON.parse(r.stdout).results[0];
    expect(res.outcomes.ok).toBe(0);
    expect(res.outcomes.error + res.outcomes.timeout).toBe(20);
    expect(res.outcomes.error).toBeGreaterThan(0);
    expect(res.outcomes.timeout).toBeGreaterThan(0);
    expect(res.unknown).toBe(20);
  }, 60_000);
});
