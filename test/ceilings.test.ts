import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runBench } from './helpers.js';
import { describe, expect, inject, it } from 'vitest';
import { strategyNames } from '../strategies/index.js';

const bench = (args: string[], timeoutMs: number) => runBench(args, { timeoutMs });

describe('ceilings are ceilings', () => {
  it('every strategy on a flash sale: one sale\'s counts, a sellout time, winners\' latency, and an efficiency of at most 1.05', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'seatlab-ceil-'));
    try {
      const r = await bench(['run', '--strategy', 'all', '--scenario', 'flash-sale', '--users', '1000', '--seats', '100', '--runs', '1', '--warmup', '0',
        '--json', '--out', out, '--database-url', inject('pgUrl')], 280_000);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.results.map((x: { strategy: string }) => x.strategy)).toEqual(strategyNames());
      expect(report.ceilings.http.perSec).toBeGreaterThan(0);
      for (const res of report.results) {
        expect(res.storeCeiling.perSec, res.strategy).toBeGreaterThan(0);
        expect(res.ceilingInvalid, `${res.strategy}: ${res.ceilingInvalid}`).toBeUndefined();
        expect(res.efficiency, res.strategy).toBeGreaterThan(0);
        expect(res.efficiency, res.strategy).toBeLessThanOrEqual(1.05);
        // From the CPU measured per process; the external PostgreSQL (--database-url) is not the lab's to read.
        expect(res.whereTimeGoes).toMatch(/^CPU per request: server \d+ µs, PostgreSQL not measured \(a server the lab did not start\)/);
        expect(res.sale.timeToSelloutMs).toBeGreaterThan(0);
        expect(res.latencyByOutcome.ok.count).toBe(res.outcomes.ok);
        if (res.safe) expect(res.outcomes.ok).toBe(100);
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 300_000);
});
