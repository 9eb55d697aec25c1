import { createLatencyHistogram, encode } from '../src/load/histogram.js';
import type { Report, StrategyResult } from '../src/report/schema.js';

// Hand-built results and reports for renderer tests (no server needed): one sale's figures per
// result, with a link round trip when given.

export function hist(n: number, lo: number, hi: number): string {
  const h = createLatencyHistogram();
  for (let i = 0; i < n; i++) h.recordValue(Math.round((lo + ((hi - lo) * i) / Math.max(1, n - 1)) * 1000));
  return encode(h);
}
export const lat = (p99: number) => ({ count: 10, p50: p99 / 2, p90: p99 * 0.9, p99, p999: p99, max: p99, mean: p99 / 2 });

export function result(strategy: string, rtt: number | undefined, rps: number, selloutMs: number): StrategyResult {
  const p99 = 1000 / rps;
  return {
    strategy, ...(rtt !== undefined ? { linkLatencyMs: rtt, linkJitterMs: 0 } : {}), description: strategy, safe: true, options: {},
    load: { model: 'closed', connections: 10, transport: 'http' }, seedMs: 5, durationMs: 100, requests: 10, rps, okPerSec: 10,
    latencyMs: lat(p99), okLatencyMs: lat(p99), outcomes: { ok: 1, conflict: 9, soldOut: 0, rejected: 0, error: 0, timeout: 0 },
    statusCodes: { 201: 1, 409: 9 }, errorCodes: {}, journeys: { total: 10, succeeded: 1, exhausted: 9, stopped: 0, unknown: 0 },
    oversold: 0, retries: 0, lockFailures: 0, dbAvoided: 0, counters: {}, check: { capacity: 1000, activeReservations: 1000, remaining: 0 },
    violations: [], violationCounts: {}, verdict: 'pass', notes: [], perSecond: { ok: [1, 0], requests: [6, 4] }, histogram: hist(10, 1, p99),
    warmup: { ms: 0, applied: false, excludedRequests: 0 },
    sale: { timeToSelloutMs: selloutMs, holdsPerSecUntilSellout: 20, firstComeShare: 1, rankCorrelation: null },
    latencyByOutcome: { ok: lat(p99), rejected: lat(p99), error: { ...lat(0), count: 0 }, unknown: { ...lat(0), count: 0 } },
    outcomeHistograms: { ok: hist(1, p99, p99), rejected: hist(9, 1, p99) }, selloutCurve: [0, 1, 1],
    runs: [{ run: 1, rps, okPerSec: 10, latencyMs: lat(p99) }] as StrategyResult['runs'],
  } as StrategyResult;
}

export function report(results: StrategyResult[], latencies: number[] | undefined): Report {
  return {
    schemaVersion: 1, runId: 'run-x', createdAt: '2025-01-01T00:00:00Z', tool: { name: 'seatlab', version: '0.1.0' },
    scenario: { name: 'general-admission', description: 'tickets', expectation: 'exactly seats sold', params: { users: 10, seats: 1, connections: 10, seed: 42 } },
    config: { strategies: [...new Set(results.map((r) => r.strategy))], skipped: [], redisNodes: 0, strategyOptions: {}, holdTtlMs: 300000, poolSize: 20, timeoutSec: 10,
      seed: 42, runs: 1, warmupMs: 0, command: [], ...(latencies ? { links: { latenciesMs: latencies, jitterMs: 0, reason: '--link-latency', overheadUs: 40 } } : {}) },
    machine: { cpuModel: 'Test CPU', cores: 2, memGiB: 4, node: 'v20', os: 'Linux', loadAvg1m: 0, note: 'shared cores' },
    servers: { postgres: { version: '16', kind: 'embedded', settings: {} } },
    git: { commit: null, dirty: null }, ceilings: { http: { perSec: 10000, p99Ms: 5, durationMs: 3000 } },
    results, thresholds: [], summary: { exitCode: 0, failedStrategies: [] },
  };
}

