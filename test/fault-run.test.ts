import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runBench } from './helpers.js';
import { describe, expect, inject, it } from 'vitest';
import { readHistory } from '../src/load/history.js';


const bench = (args: string[], timeoutMs: number) => runBench(args, { timeoutMs });

describe('bench run --instances --nemesis: the fault matrix end to end', () => {
  it('two instances under kill-instance and kill-db-connections: faults recorded with times, a history per cell, oversold 0, nothing stuck', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'seatlab-faults-'));
    try {
      const r = await bench(['run', '--strategy', 'pessimistic,optimistic', '--scenario', 'flash-sale', '--users', '1000', '--seats', '100', '--runs', '1',
        '--warmup', '0', '--http-ceiling', 'off', '--instances', '2', '--nemesis', 'kill-instance,kill-db-connections', '--nemesis-every', '1500ms', '--nemesis-for', '300ms',
        '--json', '--out', out, '--database-url', inject('pgUrl')], 200_000);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.config).toMatchObject({ instances: 2, nemesis: { faults: ['kill-instance', 'kill-db-connections'], everyMs: 1500, forMs: 300 } });
      expect(report.results.map((x: { strategy: string; fault: string }) => `${x.strategy}@${x.fault}`)).toEqual([
        'pessimistic@kill-instance', 'pessimistic@kill-db-connections', 'optimistic@kill-instance', 'optimistic@kill-db-connections']);
      for (const res of report.results) {
        expect(res.verdict, JSON.stringify(res.violations)).toBe('pass');
        expect(res.oversold).toBe(0);
        expect(res.stuck).toBe(0);
        expect(res.instances.count).toBe(2);
        expect(res.instances.perInstance.every((i: { requests: number }) => i.requests > 0)).toBe(true);
        expect(res.nemesis.events.length).toBeGreaterThan(0);
        for (const e of res.nemesis.events) {
          expect(e.applied).toBe(true);
          expect(e.endMs).toBeGreaterThanOrEqual(e.startMs);
          expect(Date.parse(e.startedAt)).toBeGreaterThan(0);
        }
        expect(res.history.lostAcks).toBe(0);
        expect(res.history.unexplainedWrites).toBe(0);
        expect(res.history.file).toMatch(/\.jsonl\.gz$/);
        const ops = await readHistory(path.join(out, report.runId, res.history.file));
        expect(ops.length).toBe(res.history.ops);
        expect(ops.map((o) => o.index)).toEqual([...ops.map((o) => o.index)].sort((a, b) => a - b));
        const first = ops[0]!;
        expect(Object.keys(first)).toEqual(expect.arrayContaining(['index', 'process', 'instance', 'op', 'invokeMs', 'completeMs', 'outcome']));
      }
      const killed = report.results.find((x: { fault: string }) => x.fault === 'kill-instance');
      expect(killed.nemesis.events[0].detail).toMatch(/SIGKILL pid \d+ .*started again as pid \d+/);
      expect(killed.instances.restarts).toBeGreaterThan(0);
      const md = await readFile(path.join(out, report.runId, 'report.md'), 'utf8');
      expect(md).toContain('## Fault matrix');
      expect(md).toContain('| pessimistic | yes |');
      expect(md).toContain('## Faults injected');
      const html = await readFile(path.join(out, report.runId, 'report.html'), 'utf8');
      expect(html).toContain('class="fault-band"');
      expect(r.stderr).toContain('fault matrix');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 220_000);
});
