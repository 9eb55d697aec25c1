import autocannon from 'autocannon';
import { performance } from 'node:perf_hooks';
import { createLatencyHistogram, summarize } from './histogram.js';

export interface Ceiling { perSec: number; p99Ms: number; durationMs: number }

/** The HTTP ceiling: the booking server answering GET /lab/noop (no database) under the same load model. */
export async function measureHttpCeiling(url: string, o: { connections: number; rate?: number; durationSec: number }): Promise<Ceiling> {
  const result = await autocannon({
    url: `${url}/lab/noop`, connections: o.connections, pipelining: 1, duration: o.durationSec,
    ...(o.rate ? { overallRate: o.rate } : {}),
  });
  return { perSec: Math.round(result.requests.average), p99Ms: result.latency.p99, durationMs: o.durationSec * 1000 };
}

/** The store ceiling: `op` (one unit of a strategy's core statements) run back to back by `concurrency` workers. */
export async function measureStoreCeiling(op: () => Promise<void>, o: { concurrency: number; durationMs: number }): Promise<Ceiling> {
  const h = createLatencyHistogram();
  const t0 = performance.now();
  const end = t0 + o.durationMs;
  let done = 0;
  await Promise.all(Array.from({ length: o.concurrency }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      await op();
      h.recordValue(Math.max(1, Math.round((performance.now() - s) * 1000)));
      done++;
    }
  }));
  const ms = performance.now() - t0;
  return { perSec: Math.round((done / ms) * 1000), p99Ms: summarize(h).p99, durationMs: Math.round(ms) };
}
