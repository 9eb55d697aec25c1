import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { parseProcStat, procStat } from '../src/infra/processes.js';
import { clockTicksPerSecond, cpuBetween, sampleCpu, startCpuWindow, type CpuFigures } from '../src/load/cpu.js';
import { runBench } from './helpers.js';

// CPU per component: the /proc/<pid>/stat parser on crafted lines, the sampler on real processes
// (a busy one, an idle one, a parent whose busy child exits and is reaped), and real runs.

describe('/proc/<pid>/stat parser', () => {
  // Fields 14–17 (utime stime cutime cstime) are 7 3 2 1; field 22 (starttime) is 12345.
  const tail = 'S 77 42 42 0 -1 4194560 100 0 0 0 7 3 2 1 20 0 1 0 12345 1000 10 18446744073709551615';

  it('splits after the last ")": a command name with ") " and "(" inside does not shift the fields', () => {
    expect(parseProcStat(42, `42 (a) R 9 (b)) ${tail}\n`)).toEqual({ pid: 42, state: 'S', ppid: 77, utime: 7, stime: 3, cutime: 2, cstime: 1, startTicks: '12345' });
    expect(parseProcStat(42, `42 (node) ${tail}`)).toMatchObject({ state: 'S', ppid: 77, utime: 7 });
  });

  it('a line without ")" or cut short is no process', () => {
    expect(parseProcStat(1, '1 node S 0 1 1')).toBeUndefined();
    expect(parseProcStat(1, '1 (node) S 0 1 1')).toBeUndefined();
  });

  it('reads this process: its parent, and CPU in clock ticks', () => {
    const me = procStat(process.pid)!;
    expect(me.ppid).toBe(process.ppid);
    expect(me.utime + me.stime).toBeGreaterThan(0);
    expect(clockTicksPerSecond()).toBe(100); // Linux's USER_HZ, asked of getconf
  });
});

/** A node child running `code`; killed when the test ends. Resolves once it printed its first line. */
async function child(code: string): Promise<{ proc: ChildProcess; lines: string[]; next: () => Promise<string> }> {
  const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  onTestFinished(() => { proc.kill('SIGKILL'); });
  const lines: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  let buf = '';
  proc.stdout!.on('data', (d) => {
    buf += String(d);
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line); else lines.push(line);
    }
  });
  const next = () => new Promise<string>((resolve) => { const l = lines.shift(); if (l !== undefined) resolve(l); else waiting.push(resolve); });
  await next();
  return { proc, lines, next };
}

const SPIN = (ms: number) => `{ const t = Date.now(); while (Date.now() - t < ${ms}) {} }`;

describe('the sampler on real processes', () => {
  it('a busy child uses CPU, an idle one next to none; the shares add up to no more than the machine', async () => {
    const busy = await child(`console.log('ready'); ${SPIN(1500)}; setInterval(() => {}, 1000)`);
    const idle = await child(`console.log('ready'); setInterval(() => {}, 1000)`);
    const w = startCpuWindow([
      { name: 'busy', tree: true, pids: () => [busy.proc.pid] },
      { name: 'idle', tree: true, pids: () => [idle.proc.pid] },
      { name: 'lab', tree: false, pids: () => [process.pid] },
      { name: 'elsewhere', notMeasured: 'a server the lab did not start' },
    ]);
    await new Promise((r) => setTimeout(r, 800));
    const cpu = w.end(100);
    const by = (n: string) => cpu.components.find((c) => c.name === n)!;
    expect(cpu.components.map((c) => c.name)).toEqual(['busy', 'idle', 'lab']);
    expect(by('busy').pids).toEqual([busy.proc.pid]);
    // The spinning child is on a core whenever the scheduler lets it: well above the idle one.
    expect(by('busy').cpuMs).toBeGreaterThan(100);
    expect(by('idle').cpuMs).toBeLessThan(by('busy').cpuMs / 4);
    expect(by('busy').usPerRequest).toBeCloseTo((by('busy').cpuMs * 1000) / 100, 0);
    expect(cpu.notMeasured).toEqual([{ name: 'elsewhere', reason: 'a server the lab did not start' }]);
    expect(cpu.total.cpuMs).toBeCloseTo(cpu.components.reduce((a, c) => a + c.cpuMs, 0), 0);
    expectWithinMachine(cpu, 3);
  });

  it('a tree counts a child that ran and was reaped between the readings (cutime); the parent alone does not', async () => {
    // The parent waits for a line on… nothing: it starts its busy child 300 ms after saying ready.
    const parent = await child(`console.log('ready'); setTimeout(() => {
      const c = require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(SPIN(600))}]);
      c.on('exit', () => console.log('reaped'));
    }, 300); setInterval(() => {}, 1000)`);
    const w = startCpuWindow([
      { name: 'tree', tree: true, pids: () => [parent.proc.pid] },
      { name: 'alone', tree: false, pids: () => [parent.proc.pid] },
    ]);
    expect(await parent.next()).toBe('reaped');
    const cpu = w.end(1);
    const tree = cpu.components.find((c) => c.name === 'tree')!;
    const alone = cpu.components.find((c) => c.name === 'alone')!;
    // The child's CPU (its node start-up and the spin) is in the parent's cutime now.
    expect(tree.cpuMs - alone.cpuMs).toBeGreaterThan(100);
    expect(tree.exited).toBeUndefined();
  });

  it('a process that exits between the readings is marked, and what it used meanwhile comes back through its reaper\'s cutime', async () => {
    // This process spawned it, so this process reaps it: its whole life lands in our cutime.
    const brief = await child(`console.log('ready'); ${SPIN(400)}; process.exit(0)`);
    const pid = brief.proc.pid!;
    const exited = new Promise<void>((r) => brief.proc.once('exit', () => r()));
    const a = sampleCpu([{ name: 'brief', tree: true, pids: () => [pid] }]);
    await exited;
    const b = sampleCpu([{ name: 'brief', tree: true, pids: () => [pid] }]);
    const cpu = cpuBetween(a, b, b.atMs - a.atMs, os.cpus().length, 1);
    expect(cpu.components[0]).toMatchObject({ name: 'brief', pids: [pid], exited: [pid], cpuMs: 0 });
    expect(cpu.components[1]).toMatchObject({ name: 'exited', pids: [pid], note: expect.stringContaining('processes of brief that exited') });
    expect(cpu.components[1]!.cpuMs).toBeGreaterThan(100);
    expect(cpu.total.cpuMs).toBe(cpu.components[1]!.cpuMs);
  });
});

/**
 * The components add up to no more than the machine: cores × the window, plus what the sampling
 * cannot help: each /proc reading of a process is rounded down to a clock tick, so a difference can
 * exceed the truth by up to one tick per process (`processes` of them), and reading the processes
 * takes a few ms during which they run (5% of the window allowed).
 */
function expectWithinMachine(cpu: CpuFigures, processes: number): void {
  const capacityMs = cpu.cores * cpu.durationMs;
  expect(cpu.total.cpuMs).toBeLessThanOrEqual(capacityMs * 1.05 + cpu.tickMs * processes);
  if (cpu.machine) {
    expect(cpu.machine.share).toBeGreaterThan(0);
    expect(cpu.machine.share).toBeLessThanOrEqual(1);
  }
}

describe('CPU per component in a real run', () => {
  const run = async (args: string[]) => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'seatlab-cpu-'));
    onTestFinished(() => rm(out, { recursive: true, force: true }));
    const r = await runBench(['run', '--strategy', 'pessimistic', '--runs', '1', '--warmup', '0', '--http-ceiling', 'off', '--json', '--out', out, ...args], { timeoutMs: 150_000 });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    return { report, md: await readFile(path.join(out, report.runId, 'report.md'), 'utf8'), stderr: r.stderr };
  };

  it('embedded PostgreSQL: the server, PostgreSQL (with its backends) and the lab are each positive, and together within the machine', async () => {
    // A flash sale of 1000 users, so every process runs for many clock ticks (10 ms each).
    const { report, md, stderr } = await run(['--scenario', 'flash-sale', '--users', '1000', '--seats', '100']);
    const cpu = report.results[0].cpu as CpuFigures;
    expect(cpu.components.map((c) => c.name)).toEqual(['server#0', 'postgres', 'lab']);
    expect(cpu.notMeasured).toEqual([]);
    expect(cpu.requests).toBe(report.results[0].requests);
    expect(cpu.cores).toBe(report.machine.cores);
    for (const c of cpu.components) {
      expect(c.cpuMs, c.name).toBeGreaterThan(0);
      expect(c.usPerRequest, c.name).toBeGreaterThan(0);
      expect(c.pids.length, c.name).toBe(1);
    }
    expect(cpu.components.find((c) => c.name === 'lab')!.pids).toEqual([expect.any(Number)]);
    // The postmaster has ~10 processes (backends, WAL writer, checkpointer …): a tick each, and one each for the server and the lab.
    expectWithinMachine(cpu, 20);
    expect(report.results[0].whereTimeGoes).toMatch(/^CPU per request: server \d+ µs, PostgreSQL \d+ µs, lab \d+ µs; the machine was \d+% busy/);
    expect(md).toContain('## CPU per component');
    expect(md).toMatch(/\| strategy \| server#0 \| postgres \| lab \| all measured \| machine busy \|/);
    expect(md).toMatch(/\| pessimistic \| \d+ µs · [\d.]+% \| \d+ µs · [\d.]+% \| \d+ µs · [\d.]+% \|/);
    expect(stderr).toMatch(/cpu µs\/req/);
  }, 180_000);

  it('an external PostgreSQL (--database-url) is "not measured", with the reason; the server and the lab still are', async () => {
    const { report, md } = await run(['--scenario', 'hot-seat', '--users', '30', '--database-url', inject('pgUrl')]);
    const cpu = report.results[0].cpu as CpuFigures;
    expect(cpu.components.map((c) => c.name)).toEqual(['server#0', 'lab']);
    expect(cpu.notMeasured).toEqual([{ name: 'postgres', reason: expect.stringContaining('a server the lab did not start (--database-url or DATABASE_URL)') }]);
    expect(report.results[0].whereTimeGoes).toContain('PostgreSQL not measured (a server the lab did not start)');
    expect(md).toMatch(/\| pessimistic \| .+ \| not measured \| .+ \|/);
    expect(md).toContain('Not measured: postgres: a server the lab did not start');
  }, 180_000);
});
