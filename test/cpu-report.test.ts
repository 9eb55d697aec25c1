import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../src/report/render-md.js';
import { renderHtml, timeTicks } from '../src/report/render-html.js';
import { renderConsoleTable } from '../src/cli/console.js';
import { whereTimeGoes } from '../src/report/render-cpu.js';
import { aggregateRuns } from '../src/report/aggregate.js';
import type { CpuFigures } from '../src/load/cpu.js';
import type { StrategyResult } from '../src/report/schema.js';
import { report, result } from './report-fixtures.js';

// Hand-built reports (no server needed): CPU per component in report.md, report.html and the
// console, "where the time goes" from the measured figures, and report.html's sale table and time axes.

/** 1000 requests over 2 s on 2 cores: 1000 µs per request is a quarter of the machine. */
function cpu(us: Record<string, number>, extra: Partial<CpuFigures> = {}): CpuFigures {
  const requests = 1000, durationMs = 2000, cores = 2;
  const components = Object.entries(us).map(([name, u], i) => ({ name, pids: [100 + i], tree: name !== 'lab', cpuMs: (u * requests) / 1000, usPerRequest: u, share: (u * requests) / (cores * durationMs * 1000) }));
  const total = Object.values(us).reduce((a, b) => a + b, 0);
  return { durationMs, cores, tickMs: 10, requests, components, notMeasured: [], total: { cpuMs: total, usPerRequest: total, share: total / 4000 }, machine: { share: 0.93 }, ...extra };
}

function twoStrategies() {
  const r = report([
    { ...result('pessimistic', undefined, 700, 1200), cpu: cpu({ 'server#0': 310, postgres: 520, lab: 180 }) },
    { ...result('redlock', undefined, 600, 1500), cpu: cpu({ 'server#0': 400, postgres: 300, 'redis#0': 40, lab: 180 }) },
  ], undefined);
  r.scenario.params = { users: 1000, seats: 100, connections: 64, seed: 42 };
  return r;
}

describe('CPU per component in the report', () => {
  it('where the time goes reads from the measured figures, servers summed, an unmeasured store named with its reason', () => {
    expect(whereTimeGoes(cpu({ 'server#0': 310, postgres: 520, 'redis#0': 30, sentinels: 10, lab: 180 }))).toBe(
      'CPU per request: server 310 µs, PostgreSQL 520 µs, Redis 40 µs, lab 180 µs; the machine was 93% busy (these processes 26%), over 2.0 s on 2 cores');
    const ext = cpu({ 'server#0': 200, 'server#1': 150, lab: 4.25 }, {
      notMeasured: [{ name: 'postgres', reason: 'a server the lab did not start (--database-url or DATABASE_URL): its processes are not the lab\'s to read' }], run: 2,
    });
    expect(whereTimeGoes(ext)).toBe('CPU per request (run 2, the median): 2 servers 350 µs, PostgreSQL not measured (a server the lab did not start), lab 4.3 µs; ' +
      'the machine was 93% busy (these processes 8.9%), over 2.0 s on 2 cores');
  });

  it('processes that exited (killed instances) count with their kind when they were all of one', () => {
    const killed = cpu({ 'server#0': 100, 'server#1': 80, postgres: 400, exited: 700, lab: 300 });
    killed.components[0]!.exited = [100];
    killed.components[1]!.started = [101];
    expect(whereTimeGoes(killed)).toMatch(/^CPU per request: 2 servers 880 µs \(700 µs of it in processes that exited\), PostgreSQL 400 µs, lab 300 µs;/);
    killed.components[2]!.exited = [102];
    expect(whereTimeGoes(killed)).toMatch(/^CPU per request: 2 servers 180 µs, PostgreSQL 400 µs, processes that exited 700 µs, lab 300 µs;/);
  });

  it('report.md: one row per strategy, one column per component, the lab in every row, and how it was measured', () => {
    const md = renderMarkdown(twoStrategies());
    const section = md.slice(md.indexOf('## CPU per component'), md.indexOf('## Ceilings'));
    expect(section).toContain('| strategy | server#0 | postgres | redis#0 | lab | all measured | machine busy |');
    expect(section).toContain('| pessimistic | 310 µs · 7.8% | 520 µs · 13% | – | 180 µs · 4.5% | 1010 µs · 25% | 93% |');
    expect(section).toContain('| redlock | 400 µs · 10% | 300 µs · 7.5% | 40 µs · 1.0% | 180 µs · 4.5% | 920 µs · 23% | 93% |');
    expect(section).toContain('/proc/<pid>/stat');
    expect(section).toContain('what the measuring costs');
  });

  it('a report without CPU figures (written before them) has no CPU section', () => {
    const r = report([result('pessimistic', undefined, 700, 1200)], undefined);
    expect(renderMarkdown(r)).not.toContain('## CPU per component');
    expect(renderHtml(r)).not.toContain('CPU per component');
  });

  it('the console gets one column: every component\'s µs per request, and the lab\'s', () => {
    const lines = renderConsoleTable(twoStrategies()).split('\n');
    const header = lines.find((l) => l.startsWith('strategy'))!;
    expect(header).toContain('cpu µs/req');
    expect(lines.find((l) => l.startsWith('pessimistic'))).toContain('1010 (lab 180)');
  });

  it('report.html: a bar per strategy with a segment per component, and the table', () => {
    const html = renderHtml(twoStrategies());
    const section = html.slice(html.indexOf('<h2>CPU per component</h2>'), html.indexOf('<h2>Ceilings'));
    expect(section.match(/<g class="series" data-strategy="[^"]+">/g)).toEqual(['<g class="series" data-strategy="pessimistic">', '<g class="series" data-strategy="redlock">']);
    expect(section.match(/<rect [^>]*><title>redis#0: 40 µs per request/g)).toHaveLength(1);
    expect(section).toContain('<table class="cpu"><tr><th>strategy</th><th>server#0</th><th>postgres</th><th>redis#0</th><th>lab</th>');
  });

  it('several runs: one run\'s figures whole, the one with the median total per request, and it says which', () => {
    const runs = [950, 1200, 1010].map((total) => ({ ...result('pessimistic', undefined, 700, 1200), cpu: cpu({ 'server#0': total - 180, lab: 180 }) }) as StrategyResult);
    const agg = aggregateRuns(runs);
    expect(agg.cpu).toMatchObject({ run: 3, total: { usPerRequest: 1010 } });
    expect(agg.runs!.map((x) => x.cpu!.total.usPerRequest)).toEqual([950, 1200, 1010]);
  });
});

describe('report.html: what a reader meets first', () => {
  it('time axes get tick labels every 0.1, 0.2, 0.5, 1, 2, 5, 10 … s, at most ten', () => {
    expect(timeTicks(0.1, 0.3)).toEqual([[0.1, '0.1'], [0.2, '0.2'], [0.3, '0.3']]);
    expect(timeTicks(0.1, 1.8).map((t) => t[1])).toEqual(['0.2', '0.4', '0.6', '0.8', '1.0', '1.2', '1.4', '1.6', '1.8']);
    expect(timeTicks(0, 7).map((t) => t[1])).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    expect(timeTicks(0, 42).map((t) => t[1])).toEqual(['0', '5', '10', '15', '20', '25', '30', '35', '40']);
    expect(timeTicks(0, 600).length).toBeLessThanOrEqual(11);
  });

  it('the sellout curve and throughput over time have labelled x ticks', () => {
    const r = twoStrategies();
    r.results = r.results.map((s) => ({ ...s, selloutCurve: Array.from({ length: 25 }, (_, i) => i * 4), perSecond: { ok: [50, 40, 10], requests: [300, 400, 350] } }));
    const html = renderHtml(r);
    const figure = (caption: string) => html.slice(html.indexOf(caption), html.indexOf('</figure>', html.indexOf(caption)));
    const ticks = (f: string) => [...f.matchAll(/<text x="[\d.]+" y="276" text-anchor="middle">([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(ticks(figure('Seats sold over time'))).toEqual(['0.5', '1.0', '1.5', '2.0', '2.5']);
    expect(ticks(figure('Throughput over time'))).toEqual(['0', '1', '2']);
  });

  it('the sale table comes first, with report.md\'s columns and cells', () => {
    const html = renderHtml(twoStrategies());
    const sale = html.indexOf('<table class="sale">');
    expect(sale).toBeGreaterThan(0);
    expect(sale).toBeLessThan(html.indexOf('<table class="comparison">'));
    expect(html).toContain('<table class="sale"><tr><th>strategy</th><th>sold out in</th><th>holds/s until then</th><th>winners p50 / p99 ms</th><th>losers p50 / p99 ms</th><th>errors p99 ms</th><th>first come</th><th>oversold</th><th>verdict</th></tr>');
    expect(html).toContain('<tr data-strategy="pessimistic"><td>pessimistic</td><td>1.20 s</td><td>20</td>');
    const md = renderMarkdown(twoStrategies());
    expect(md).toContain('| pessimistic | 1.20 s | 20 |');
  });
});
