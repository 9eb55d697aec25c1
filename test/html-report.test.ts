import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('report.html in a real headless browser', () => {
  it('renders without console errors and draws one series per strategy in every chart', async () => {
    // No skipping: without a browser this test fails and says how to get one.
    expect(existsSync(CHROMIUM), `no browser at ${CHROMIUM}: run \`npm test\` (scripts/test-deps.sh installs Debian's chromium when root with apt-get), or \`sudo apt-get update && sudo apt-get install chromium\`, or set CHROMIUM_PATH to a Chromium binary`).toBe(true);
    const out = await mkdtemp(path.join(os.tmpdir(), 'seatlab-html-'));
    try {
      const strategies = ['pessimistic', 'optimistic', 'none'];
      const run = spawnSync(process.execPath, ['bin/bench.js', 'run', '--strategy', strategies.join(','), '--scenario', 'hot-seat', '--users', '30',
        '--runs', '2', '--warmup', '0', '--http-ceiling', 'off', '--out', out, '--database-url', inject('pgUrl'), '--strategy-opt', 'raceWindowMs=50'], { encoding: 'utf8', timeout: 120_000 });
      expect(run.status, run.stderr).toBe(0);
      const [runId] = await readdir(out);
      const file = path.join(out, runId!, 'report.html');

      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
        page.on('pageerror', (e) => errors.push(e.message));
        const requests: string[] = [];
        page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
        await page.goto(`file://${file}`);
        expect(errors).toEqual([]);
        expect(requests).toEqual([]);
        const figures = await page.$$eval('figure', (fs) => fs.map((f) => ({
          caption: f.querySelector('figcaption')?.textContent ?? '',
          series: [...f.querySelectorAll('.series')].map((s) => s.getAttribute('data-strategy')),
        })));
        expect(figures.map((f) => f.caption)).toEqual([
          expect.stringContaining('Seats sold over time'), expect.stringContaining("Each winner's place in the arrival order"), expect.stringContaining('Winners (solid) and losers (dashed)'),
          expect.stringContaining('Latency by percentile'), expect.stringContaining('Throughput over time'),
          // From the servers' /metrics, scraped during the load: lock wait, pool wait, event-loop lag.
          expect.stringContaining('Inside the server: lock wait'), expect.stringContaining('Inside the server: pool wait'), expect.stringContaining('Inside the server: event-loop lag'),
          expect.stringContaining('Outcomes'), expect.stringContaining('CPU per request by component')]);
        const [sold, , winnersLosers, ...rest] = figures;
        // Who got the seats: a panel for the strategy with more than one winner (the control group oversold the seat).
        expect(await page.$$eval('svg.rank-panel', (ps) => ps.map((p) => p.getAttribute('data-strategy')))).toEqual(['none']);
        expect(await page.$$eval('table.fairness tr[data-strategy]', (rs) => rs.map((r) => r.getAttribute('data-strategy')))).toEqual(strategies);
        // Every strategy sold its one seat; winners and (where there were any) losers each get a curve.
        expect(sold!.series).toEqual(strategies);
        expect([...new Set(winnersLosers!.series)]).toEqual(strategies);
        expect(winnersLosers!.series.filter((x) => x === 'pessimistic')).toHaveLength(2);
        for (const f of rest) expect(f.series).toEqual(strategies);
        const oversold = await page.$eval('table.oversold tr[data-strategy="none"] td:nth-child(2)', (td) => ({ text: td.textContent, cls: td.className }));
        expect(Number(oversold.text)).toBeGreaterThan(0);
        expect(oversold.cls).toBe('bad');
        expect(await page.$eval('table.oversold tr[data-strategy="pessimistic"] td:nth-child(2)', (td) => td.className)).toBe('good');
        // The sale comes first, as in report.md: the control group's oversold in red there too.
        expect(await page.$eval('table', (t) => t.className)).toBe('sale');
        expect(await page.$eval('table.sale tr[data-strategy="none"] td:nth-child(8)', (td) => td.className)).toBe('bad');
      } finally {
        await browser.close();
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
