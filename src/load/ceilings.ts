import autocannon from 'autocannon';

export interface Ceiling {
  perSec: number; p99Ms: number; durationMs: number;
  /** The store ceiling replayed only the plan's first `journeys` users of `ofJourneys` (a long plan's rate, not its length). */
  journeys?: number; ofJourneys?: number;
}

/** The HTTP ceiling: the booking server answering GET /lab/noop (no database) under the same load model. */
export async function measureHttpCeiling(url: string, o: { connections: number; rate?: number; durationSec: number }): Promise<Ceiling> {
  const result = await autocannon({
    url: `${url}/lab/noop`, connections: o.connections, pipelining: 1, duration: o.durationSec,
    ...(o.rate ? { overallRate: o.rate } : {}),
  });
  return { perSec: Math.round(result.requests.average), p99Ms: result.latency.p99, durationMs: o.durationSec * 1000 };
}
