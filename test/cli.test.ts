import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runBench } from './helpers.js';
import { describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { strategyNames } from '../strategies/index.js';
import { readHistory } from '../src/load/history.js';


const BIN = path.resolve('bin/bench.js');
const bench = runBench;

const noStack = (s: string) => expect(s).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

describe('bench: bad flags exit 1 with a message naming the flag', () => {
  it('unknown strategy lists the valid names', async () => {
    const r = await bench(['run', '--strategy', 'magic', '--scenario', 'hot-seat']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown strategy "magic"');
    for (const name of strategyNames()) expect(r.stderr).toContain(name);
    expect(r.stdout).toBe('');
    noStack(r.stderr);
  });

  it('unknown scenario lists the valid names', async () => {
    const r = await bench(['run', '--strategy', 'all', '--scenario', 'rush-hour']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown scenario "rush-hour"; valid: hot-seat, flash-sale, general-admission, balance-spend, queue-rush, journey');
    noStack(r.stderr);
  });

  it.each([
    ['--users', '0'], ['--users', '-5'], ['--users', '2.5'], ['--seats', 'abc'], ['--connections', '0'], ['--pool-size', '1e3'],
  ])('%s %s', async (flag, value) => {
    const r = await bench(['run', '--strategy', 'all', '--scenario', 'flash-sale', `${flag}=${value}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${flag} must be a positive integer`);
    expect(r.stderr).toContain(`"${value}"`);
    noStack(r.stderr);
  });

  it('reports every problem at once', async () => {
    const r = await bench(['run', '--strategy', 'nope', '--scenario', 'nada', '--users', '0', '--seed', 'x', '--hold-ttl', 'soon']);
    expect(r.code).toBe(1);
    for (const s of ['unknown strategy "nope"', 'unknown scenario "nada"', '--users must', '--seed must', '--hold-ttl must']) expect(r.stderr).toContain(s);
  });

  it('missing --strategy and --scenario are named', async () => {
    const r = await bench(['run']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--strategy is required');
    expect(r.stderr).toContain('--scenario is required');
  });

  it('an unknown option is refused', async () => {
    const r = await bench(['run', '--stratgy', 'all']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown option '--stratgy'");
  });

  it('a strategy option no selected strategy has is refused with the valid options', async () => {
    const r = await bench(['run', '--strategy', 'optimistic', '--scenario', 'hot-seat', '--strategy-opt', 'raceWindowMs=5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--strategy-opt raceWindowMs: no selected strategy has this option');
    expect(r.stderr).toContain('maxRetries (optimistic)');
  });

  it('an unreachable --database-url exits 2 (infrastructure unavailable)', async () => {
    const r = await bench(['run', '--strategy', 'none', '--scenario', 'hot-seat', '--database-url', 'postgres://postgres@127.0.0.1:1/x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot connect to PostgreSQL');
    noStack(r.stderr);
  });
});

describe('thresholds', () => {
  it('a misspelled metric is a usage error (exit 1) naming the valid metrics', async () => {
    const r = await bench(['run', '--strategy', 'all', '--scenario', 'hot-seat', '--threshold', 'oversould==0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown metric "oversould"');
    expect(r.stderr).toContain('oversold');
  });

  it('a breach exits 99 and is listed in the report; a pass leaves the exit code alone', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'seatlab-th-'));
    try {
      const base = ['run', '--strategy', 'pessimistic', '--scenario', 'hot-seat', '--users', '10', '--runs', '1', '--warmup', '0', '--http-ceiling', 'off', '--out', out, '--database-url', inject('pgUrl'), '--json'];
      const breach = await bench([...base, '--threshold', 'p99<0.001', '--threshold', 'oversold==0'], { timeoutMs: 60_000 });
      expect(breach.code, breach.stderr).toBe(99);
      expect(breach.stderr).toContain('threshold FAIL  pessimistic: p99 < 0.001');
      const report = JSON.parse(breach.stdout);
      expect(report.thresholds.map((t: { expr: string; pass: boolean }) => [t.expr, t.pass])).toEqual([['p99<0.001', false], ['oversold==0', true]]);
      expect(report.summary.exitCode).toBe(99);
      const pass = await bench([...base, '--threshold', 'pessimistic:ok==1'], { timeoutMs: 60_000 });
      expect(pass.code, pass.stderr).toBe(0);
      // The none control group oversells by design: safe: leaves it out, so the gate CI uses can pass.
      const withControl = base.map((a) => (a === 'pessimistic' ? 'none,pessimistic' : a));
      const safeOnly = await bench([...withControl, '--strategy-opt', 'raceWindowMs=50', '--threshold', 'safe:oversold==0'], { timeoutMs: 90_000 });
      expect(safeOnly.code, safeOnly.stderr).toBe(0);
      const safeReport = JSON.parse(safeOnly.stdout);
      expect(safeReport.results.find((x: { strategy: string }) => x.strategy === 'none').oversold).toBeGreaterThan(0);
      expect(safeReport.thresholds.map((t: { strategyName: string; pass: boolean }) => [t.strategyName, t.pass])).toEqual([['pessimistic', true]]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('open model', () => {
  it('a rate above capacity is reported as a shortfall with drops, not quietly measured lower', async () => {
    // 1,500 arrivals scheduled within 15 ms: more than the 1,000 connections can hold, so the rest are dropped.
    const r = await bench(['run', '--strategy', 'optimistic', '--scenario', 'flash-sale', '--users', '1500', '--seats', '100', '--rate', '100000',
      '--runs', '1', '--warmup', '0', '--http-ceiling', 'off', '--json', '--out', os.tmpdir(), '--database-url', inject('pgUrl')], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const res = report.results[0];
    expect(res.load.model).toBe('open');
    expect(res.load.rate).toMatchObject({ requested: 100000, shortfall: true });
    expect(res.load.rate.achieved).toBeLessThan(100000 * 0.95);
    expect(res.load.rate.dropped).toBeGreaterThan(0);
    expect(res.load.rate.missed).toBeGreaterThanOrEqual(res.load.rate.dropped);
    expect(res.load.rate.maxConnections).toBe(1000);
    expect(res.requests).toBeGreaterThanOrEqual(1500 - res.load.rate.missed);
    expect(res.notes.join(' ')).toContain('could not sustain the rate');
    expect(res.notes.join(' ')).toContain('arrivals dropped: all 1000 connections were busy');
    // The open model now keeps a history, so the history checker ran.
    expect(res.history.ops).toBeGreaterThan(0);
    const md = await readFile(path.join(os.tmpdir(), report.runId, 'report.md'), 'utf8');
    expect(md).toMatch(/\*\*Load:\*\* open model over HTTP: 100000 users arrive per second on a fixed schedule/);
    expect(md).toContain('on at most 1000 connections; latency counts from the intended send time');
    expect(md).toContain(`${res.load.rate.dropped} dropped`);
  });
});

describe('--transport direct', () => {
  it('drives the booking core in-process: same invariants, transport recorded; refused for queue scenarios', async () => {
    const r = await bench(['run', '--strategy', 'pessimistic,redis-decr', '--scenario', 'hot-seat', '--users', '30', '--transport', 'direct',
      '--runs', '1', '--warmup', '0', '--json', '--out', os.tmpdir(), '--database-url', inject('pgUrl')], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    for (const res of JSON.parse(r.stdout).results) {
      expect(res.load.transport).toBe('direct');
      expect(res.outcomes.ok).toBe(1);
      expect(res.outcomes.conflict).toBe(29);
      expect(res.oversold).toBe(0);
      expect(res.notes.join(' ')).not.toContain('did not sell out');
    }
    // 20 users for 100 seats cannot sell out: "sold out in" is then only the time to the last hold, and the report says so.
    const unsold = await bench(['run', '--strategy', 'pessimistic', '--scenario', 'flash-sale', '--users', '20', '--seats', '100', '--transport', 'direct',
      '--runs', '1', '--warmup', '0', '--json', '--out', os.tmpdir(), '--database-url', inject('pgUrl')], { timeoutMs: 120_000 });
    expect(unsold.code, unsold.stderr).toBe(0);
    const u = JSON.parse(unsold.stdout).results[0];
    expect(u.outcomes.ok).toBe(20);
    expect(u.notes).toContain('the sale did not sell out: 80 of 100 seats were left at the end, so "sold out in" is the time to the last successful hold');
    const refused = await bench(['run', '--strategy', 'all', '--scenario', 'queue-rush', '--transport', 'direct']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--transport direct: queue-rush goes through the waiting room');
  });
});

describe('bench compare', () => {
  const crafted = (rps: number[], o: { oversold?: number; strategies?: string[]; users?: number; transport?: string; skipped?: { strategy: string; reason: string }[] } = {}) => {
    const mean = rps.reduce((a, b) => a + b, 0) / rps.length;
    const flat = (v: number) => ({ n: rps.length, median: v, min: v, max: v, mean: v, ci95: [v, v] });
    const latencyMs = { p50: 10, p90: 20, p99: 100, p999: 300, max: 400, mean: 12, count: 1 };
    return {
      schemaVersion: 1, runId: `r-${rps[0]}`, git: { commit: 'abcdef1234567' },
      scenario: { name: 'flash-sale', params: { users: o.users ?? 2000, seats: 200, connections: 64, seed: 42 } },
      config: { skipped: o.skipped ?? [], poolSize: 20, runs: rps.length },
      results: (o.strategies ?? ['pessimistic']).map((strategy) => ({
        strategy, safe: true, rps: mean, okPerSec: 40, oversold: o.oversold ?? 0, latencyMs,
        load: { model: 'closed', connections: 64, transport: o.transport ?? 'http' },
        runs: rps.map((x, i) => ({ run: i + 1, rps: x, okPerSec: 40, latencyMs })),
        stats: { rps: { ...flat(mean), min: Math.min(...rps), max: Math.max(...rps) }, okPerSec: flat(40), p50: flat(10), p99: flat(100), p999: flat(300) },
      })),
    };
  };

  it('prints markdown with p-values and exits 0 / 4 / 3 / 5; a file that is not a report is exit 1', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'seatlab-cmp-'));
    try {
      const { writeFile } = await import('node:fs/promises');
      const file = async (name: string, body: unknown) => { const f = path.join(dir, name); await writeFile(f, typeof body === 'string' ? body : JSON.stringify(body)); return f; };
      const base = await file('base.json', crafted([1000, 1010, 990]));
      const same = await bench(['compare', base, await file('same.json', crafted([1004, 996, 1000]))]);
      expect(same.code, same.stderr).toBe(0);
      expect(same.stdout).toContain('| pessimistic | rps |');
      expect(same.stdout).toContain('p (worse)');
      expect(same.stdout).toContain('no regression (exit 0)');
      const slower = await bench(['compare', base, await file('slow.json', crafted([700, 705, 695]))]);
      expect(slower.code).toBe(4);
      expect(slower.stdout).toMatch(/\| <0\.001 \| \*\*REGRESSION\*\* \|/);
      const loose = await bench(['compare', base, await file('slow2.json', crafted([700, 705, 695])), '--max-regression', '50%']);
      expect(loose.code).toBe(0);
      const oversold = await bench(['compare', base, await file('over.json', crafted([1200, 1210, 1190], { oversold: 2 }))]);
      expect(oversold.code).toBe(3);
      expect(oversold.stdout).toContain('OVERSOLD 2');
      const bad = await bench(['compare', base, await file('bad.json', 'not json')]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('not JSON');
      const badPct = await bench(['compare', base, base, '--max-regression', 'lots']);
      expect(badPct.code).toBe(1);
      expect(badPct.stderr).toContain('--max-regression must be a percentage');
      const badAlpha = await bench(['compare', base, base, '--alpha', '5%']);
      expect(badAlpha.code).toBe(1);
      expect(badAlpha.stderr).toContain('--alpha must be a p-value');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a strategy of the baseline missing from the current report (Redis skipped) exits 5, not 0', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'seatlab-cmp-'));
    try {
      const { writeFile } = await import('node:fs/promises');
      const file = async (name: string, body: unknown) => { const f = path.join(dir, name); await writeFile(f, JSON.stringify(body)); return f; };
      const base = await file('base.json', crafted([1000, 1010, 990], { strategies: ['pessimistic', 'redis-decr'] }));
      const cur = await file('cur.json', crafted([1000, 1010, 990], { skipped: [{ strategy: 'redis-decr', reason: 'no Redis found' }] }));
      const r = await bench(['compare', base, cur]);
      expect(r.code, r.stderr).toBe(5);
      expect(r.stdout).toContain('redis-decr is in the baseline but missing from the current report');
      expect(r.stdout).toContain('no Redis found');
      const help = await bench(['compare', '--help']);
      expect(help.stdout.replace(/\s+/g, ' ')).toContain('5 (a result of the baseline is missing from the current report');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports of different parameters: exit 1 naming each field with both values; --allow-different-params warns and compares', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'seatlab-cmp-'));
    try {
      const { writeFile } = await import('node:fs/promises');
      const file = async (name: string, body: unknown) => { const f = path.join(dir, name); await writeFile(f, JSON.stringify(body)); return f; };
      const base = await file('base.json', crafted([1000, 1010, 990]));
      const cur = await file('cur.json', crafted([1000, 1010, 990], { users: 500, transport: 'direct' }));
      const refused = await bench(['compare', base, cur]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('scenario.params.users differs: baseline 2000, current 500');
      expect(refused.stderr).toContain('transport (results[].load.transport) differs: baseline http, current direct');
      expect(refused.stderr).toContain('--allow-different-params');
      expect(refused.stdout).toBe('');
      noStack(refused.stderr);
      const allowed = await bench(['compare', base, cur, '--allow-different-params']);
      expect(allowed.code, allowed.stderr).toBe(0);
      expect(allowed.stderr).toContain('warning: scenario.params.users differs: baseline 2000, current 500');
      expect(allowed.stdout).toContain('Compared despite different parameters');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('bench list', () => {
  it('prints one line per strategy and scenario', async () => {
    const r = await bench(['list']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('strategy')).map((l) => l.split(/\s+/)[1])).toEqual(strategyNames());
    expect(lines.filter((l) => l.startsWith('scenario')).map((l) => l.split(/\s+/)[1])).toEqual(['hot-seat', 'flash-sale', 'general-admission', 'balance-spend', 'queue-rush', 'journey']);
  });
});

describe('bench run end to end', () => {
  it('hot-seat over every strategy: --json prints only report.json; safe strategies have exactly 1 winner', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'seatlab-cli-'));
    try {
      // A short warm-up keeps its path in the test; the HTTP ceiling is off (ceilings.test.ts measures it).
      const r = await bench(['run', '--strategy', 'all', '--scenario', 'hot-seat', '--users', '40', '--runs', '2', '--json', '--out', out,
        '--database-url', inject('pgUrl'), '--strategy-opt', 'raceWindowMs=50', '--warmup', '300ms', '--http-ceiling', 'off'], { timeoutMs: 230_000 });
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.schemaVersion).toBe(1);
      expect(report.scenario).toMatchObject({ name: 'hot-seat', params: { users: 40, seats: 1, seed: 42 } });
      expect(Object.keys(report.machine)).toEqual(expect.arrayContaining(['cpuModel', 'cores', 'memGiB', 'node', 'os']));
      expect(Object.keys(report.servers.postgres.settings)).toEqual(expect.arrayContaining(['max_connections', 'synchronous_commit', 'shared_buffers']));
      expect(report.results.map((x: { strategy: string }) => x.strategy)).toEqual(strategyNames());
      for (const res of report.results) {
        expect(Object.keys(res.outcomes).sort()).toEqual(['conflict', 'error', 'ok', 'rejected', 'soldOut', 'timeout']);
        // Two runs: counts are one sale's (the median run's), totals are labelled; each run is kept.
        expect(res.requests).toBe(40);
        expect(res.totals).toMatchObject({ runs: 2, requests: 80 });
        expect(res.runs.map((x: { run: number }) => x.run)).toEqual([1, 2]);
        expect(res.stats.rps.n).toBe(2);
        if (res.safe) {
          expect(res.runs.map((x: { outcomes: { ok: number } }) => x.outcomes.ok)).toEqual([1, 1]);
          expect(res.outcomes.ok).toBe(1);
          expect(res.outcomes.conflict).toBe(39);
          expect(res.totals.outcomes.ok).toBe(2);
          expect(res.oversold).toBe(0);
          expect(res.verdict).toBe('pass');
        }
        // The lab's own memory, for each run and for the result (the run with the highest peak).
        expect(res.runs.map((x: { memory?: { opsRecorded: number } }) => x.memory?.opsRecorded)).toEqual([40, 40]);
        expect(res.memory.peakRssBytes).toBe(Math.max(...res.runs.map((x: { memory: { peakRssBytes: number } }) => x.memory.peakRssBytes)));
        expect(res.memory.peakRssBytes).toBeGreaterThan(res.memory.startRssBytes - 1);
        expect(res.memory.bytesPerOp).toBeGreaterThanOrEqual(0);
        // The history streamed during the load: one line per recorded operation, in index order.
        const ops = await readHistory(path.join(out, report.runId, res.history.file));
        expect(ops.map((op) => op.index)).toEqual(ops.map((_, i) => i));
        expect(ops).toHaveLength(res.history.ops);
      }
      const none = report.results.find((x: { strategy: string }) => x.strategy === 'none');
      expect(none.oversold).toBeGreaterThan(0);
      expect(none.verdict).toBe('unsafe-as-expected');
      const md = await readFile(path.join(out, report.runId, 'report.md'), 'utf8');
      expect(md).toContain('| strategy | safe | req/s | ok/s |');
      expect(md).toContain(report.machine.cpuModel);
      expect(md).toContain('## The lab\'s memory');
      expect(report.ceilings.http).toBeUndefined();
      expect(md).toContain('- HTTP ceiling: the booking server answering GET /lab/noop under the same load model: not measured.');
      expect(r.stderr).not.toContain('HTTP ceiling (GET /lab/noop');
      for (const res of report.results) expect(res.warmup).toMatchObject({ ms: 300, applied: true });
      expect(JSON.parse(await readFile(path.join(out, report.runId, 'report.json'), 'utf8'))).toEqual(report);
      // Every run database was dropped afterwards.
      const c = new pg.Client(inject('pgUrl'));
      await c.connect();
      const left = await c.query(`SELECT datname FROM pg_database WHERE datname LIKE 'seatlab\\_2%'`);
      await c.end();
      expect(left.rows).toEqual([]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 240_000);
});

describe('bench serve', () => {
  it('prints {url, databaseUrl, concertId, scheduleId, strategy}, serves the API, and stops on SIGINT dropping its database', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--strategy', 'optimistic', '--seats', '7', '--database-url', inject('pgUrl')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d) => { buf += d; if (buf.includes('\n')) resolve(buf.split('\n')[0]!); });
      child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
    });
    const ready = JSON.parse(line);
    expect(ready).toEqual({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), databaseUrl: expect.stringMatching(/^postgres:\/\//), concertId: expect.any(Number), scheduleId: expect.any(Number), strategy: 'optimistic' });
    expect(await (await fetch(`${ready.url}/healthz`)).json()).toEqual({ status: 'ok', strategy: 'optimistic' });
    const user = await (await fetch(`${ready.url}/api/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"curl"}' })).json();
    const seats = await (await fetch(`${ready.url}/api/schedules/${ready.scheduleId}/seats`, { headers: { authorization: `Bearer ${user.token}` } })).json();
    expect(seats.seats).toHaveLength(7);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    await exited;
    const c = new pg.Client(inject('pgUrl'));
    await c.connect();
    const left = await c.query(`SELECT datname FROM pg_database WHERE datname LIKE 'seatlab\\_serve\\_%'`);
    await c.end();
    expect(left.rows).toEqual([]);
  });
});
