import { describe, expect, it } from 'vitest';
import { Recorder, REFUSED, type Fairness } from '../src/load/recorder.js';
import { createRng } from '../src/core/rng.js';
import { medianCount } from '../src/report/aggregate.js';

// The Recorder on a crafted run: operations with known start and end times (the clock is
// replaced), so every figure can be computed by hand.

function crafted(): { rec: Recorder; clock: { t: number } } {
  const rec = new Recorder(2);
  const clock = { t: 0 };
  (rec as unknown as { now: () => number }).now = () => clock.t;
  return { rec, clock };
}

function op(rec: Recorder, clock: { t: number }, at: number, took: number, answer: Parameters<Recorder['complete']>[1], instance = 0) {
  clock.t = at;
  const inv = rec.invoke({ op: 'hold', scheduleId: 1, seatNo: 1 }, 0, instance);
  clock.t = at + took;
  return rec.complete(inv, answer);
}

describe('Recorder', () => {
  it('keeps winners, losers, errors and unknowns in separate histograms; a timeout enters at the time it was given up on', () => {
    const { rec, clock } = crafted();
    op(rec, clock, 0, 10, { status: 201, reservationId: 1 });
    op(rec, clock, 0, 30, { status: 201, reservationId: 2 });
    for (let i = 0; i < 10; i++) op(rec, clock, 5, 2, { status: 409, errorCode: 'SEAT_TAKEN' });
    op(rec, clock, 5, 4, { status: 503, errorCode: 'UNAVAILABLE' }, 1);
    op(rec, clock, 5, 10_000, { wireError: 'timeout' }, 1);
    op(rec, clock, 5, 1, { wireError: REFUSED }, 1);
    const s = rec.summary();
    // HDR keeps 3 significant digits: a value comes back within 0.1%.
    const near = (v: number, want: number) => expect(Math.abs(v - want) / want).toBeLessThan(0.001);
    const b = s.latencyByOutcome;
    expect([b.ok.count, b.rejected.count, b.error.count, b.unknown.count]).toEqual([2, 10, 2, 1]);
    near(b.ok.p50, 10);
    near(b.ok.max, 30);
    near(b.rejected.p99, 2);
    near(b.error.max, 4);
    near(b.unknown.p50, 10_000);
    expect(s.latencyMs.count).toBe(15);
    near(s.latencyMs.max, 10_000);
    expect(s.outcomes).toEqual({ ok: 2, conflict: 10, soldOut: 0, rejected: 0, error: 2, timeout: 1 });
    expect(s.instances).toEqual([{ instance: 0, requests: 12, ok: 2, errors: 0, unknown: 0 }, { instance: 1, requests: 3, ok: 0, errors: 2, unknown: 1 }]);
    // The history: 2xx ok, 4xx fail, 5xx and no answer unknown, refused before sending fail.
    expect(rec.history.map((h) => h.outcome)).toEqual(['ok', 'ok', ...Array(10).fill('fail'), 'unknown', 'unknown', 'fail']);
  });

  it('time to sell out runs from the first request to the last success, with the cumulative curve in 100 ms buckets', () => {
    const { rec, clock } = crafted();
    op(rec, clock, 50, 20, { status: 201 }); // ok at 70
    op(rec, clock, 60, 5, { status: 409, errorCode: 'SEAT_TAKEN' });
    op(rec, clock, 100, 150, { status: 201 }); // ok at 250
    op(rec, clock, 300, 5, { status: 409, errorCode: 'SEAT_TAKEN' }); // after the sellout: not part of it
    const s = rec.summary();
    expect(s.sellout.timeToSelloutMs).toBe(200);
    expect(s.sellout.holdsPerSecUntilSellout).toBe(10);
    // Buckets from the first request (50 ms): [50,150) has the success at 70, [150,250) none, [250,350) the one at 250.
    expect(s.sellout.cumulativeOkPer100ms).toEqual([1, 1, 2]);
  });

  it('a sale of 300,000 successful holds sells out without overflowing the stack (the last success is found by a loop)', () => {
    const { rec, clock } = crafted();
    for (let k = 0; k < 300_000; k++) op(rec, clock, k, 1, { status: 201 });
    const s = rec.summary();
    expect(s.sellout.timeToSelloutMs).toBe(300_000);
    expect(s.outcomes.ok).toBe(300_000);
  });

  it('with no success there is no sellout', () => {
    const { rec, clock } = crafted();
    op(rec, clock, 0, 5, { status: 409, errorCode: 'SEAT_TAKEN' });
    expect(rec.summary().sellout).toEqual({ timeToSelloutMs: null, holdsPerSecUntilSellout: null, cumulativeOkPer100ms: [] });
  });

  it('fairness: first come, first served scores 1; newcomers overtaking the first arrivals score lower', () => {
    const fair = new Recorder(1);
    for (let i = 0; i < 10; i++) fair.journey(i, i < 3 ? 100 + i : undefined);
    expect(fair.fairness(3)).toEqual({ firstComeShare: 1, rankCorrelation: 1, winners: 3, gaveUpWhileOnSale: 0, gaveUpAfter: null, winnerRanks: [[0, 0], [1, 1], [2, 2]] });
    const unfair = new Recorder(1);
    // The first three users sleep in back-off; users 7, 8, 9 get the three tickets, the last arrival first.
    for (let i = 0; i < 10; i++) unfair.journey(i, i >= 7 ? 200 - i : undefined);
    expect(unfair.fairness(3)).toEqual({ firstComeShare: 0, rankCorrelation: -1, winners: 3, gaveUpWhileOnSale: 0, gaveUpAfter: null, winnerRanks: [[9, 0], [8, 1], [7, 2]] });
  });

  it('gave up while on sale: busy refusals before a later hold succeeded count; taken-only refusals and giving up after the last hold do not', () => {
    const rec = new Recorder(1);
    rec.journey(0, undefined, { refusals: 3, busy: 3, at: 50 }); // turned away busy three times while tickets were left: counts
    rec.journey(1, undefined, { refusals: 2, busy: 1, at: 60 }); // one busy among two refusals: counts
    rec.journey(2, undefined, { refusals: 3, busy: 0, at: 70 }); // every seat it asked for was taken: the workload's doing, not counted
    rec.journey(3, 100); // the last hold of the sale
    rec.journey(4, undefined, { refusals: 3, busy: 3, at: 150 }); // refused after the last ticket went: nothing left to give
    rec.journey(5, undefined); // ended on another answer (an error): not a refusal
    const f = rec.fairness(1)!;
    expect(f.gaveUpWhileOnSale).toBe(2);
    expect(f.gaveUpAfter).toBe(3);
    expect(f.winners).toBe(1);
    expect(f.firstComeShare).toBe(0);
  });

  it('winner ranks are sampled evenly down to 400 points, keeping the first winner', () => {
    const rec = new Recorder(1);
    for (let i = 0; i < 1000; i++) rec.journey(i, 5000 + i);
    const f = rec.fairness(1000)!;
    expect(f.winnerRanks).toHaveLength(400);
    expect(f.winnerRanks[0]).toEqual([0, 0]);
    expect(f.winnerRanks.every(([a, s]) => a === s)).toBe(true);
  });

  it("a count over several runs is one sale's: the median run's (the lower middle one for an even number of runs)", () => {
    expect(medianCount([1000, 1000, 998])).toBe(1000);
    expect(medianCount([3, 1])).toBe(1);
    expect(medianCount([5])).toBe(5);
  });

  it('fairness gives exactly what it gave when every journey was an object (ties in arrival and success times included)', () => {
    const rng = createRng(5);
    for (let round = 0; round < 30; round++) {
      const rec = new Recorder(1);
      const ends: JourneyEnd[] = [];
      const n = 1 + Math.floor(rng() * 600);
      for (let i = 0; i < n; i++) {
        const arrivedAt = Math.floor(rng() * 100);
        const won = rng() < 0.3;
        const okAt = won ? arrivedAt + Math.floor(rng() * 40) : undefined;
        const refused = !won && rng() < 0.7 ? { refusals: 1 + Math.floor(rng() * 3), busy: Math.floor(rng() * 3), at: arrivedAt + Math.floor(rng() * 60) } : undefined;
        rec.journey(arrivedAt, okAt, refused);
        ends.push(okAt !== undefined ? { arrivedAt, okAt } : refused ? { arrivedAt, refused } : { arrivedAt });
      }
      const capacity = 1 + Math.floor(rng() * n);
      expect(rec.fairness(capacity)).toEqual(fairnessAsItWas(ends, capacity));
    }
  });
});

// The implementation before journeys became columns, kept as the reference the new one must match.
interface JourneyEnd { arrivedAt: number; okAt?: number; refused?: { refusals: number; busy: number; at: number } }
const MAX_RANK_POINTS = 400;
const round3 = (n: number) => Math.round(n * 1000) / 1000;
function fairnessAsItWas(journeys: JourneyEnd[], capacity: number): Fairness | undefined {
  if (journeys.length === 0) return undefined;
  const byArrival = [...journeys].sort((a, b) => a.arrivedAt - b.arrivedAt);
  const winners = byArrival.filter((j) => j.okAt !== undefined);
  const lastOk = winners.reduce((m, w) => Math.max(m, w.okAt!), -Infinity);
  const gaveUp = byArrival.filter((j) => j.refused && j.refused.busy > 0 && j.refused.at < lastOk);
  const gave = { gaveUpWhileOnSale: gaveUp.length, gaveUpAfter: gaveUp.length > 0 ? gaveUp.reduce((m, j) => Math.max(m, j.refused!.refusals), 0) : null };
  if (winners.length === 0) return { firstComeShare: null, rankCorrelation: null, winners: 0, ...gave, winnerRanks: [] };
  const first = new Set(byArrival.slice(0, Math.max(1, capacity)));
  const share = winners.filter((w) => first.has(w)).length / Math.min(winners.length, Math.max(1, capacity));
  const arrivalRank = new Map(byArrival.map((j, i) => [j, i]));
  const ranks = [...winners].sort((a, b) => a.okAt! - b.okAt!).map((w, i): [number, number] => [arrivalRank.get(w)!, i]);
  const step = Math.max(1, ranks.length / MAX_RANK_POINTS);
  const winnerRanks = ranks.length <= MAX_RANK_POINTS ? ranks : Array.from({ length: MAX_RANK_POINTS }, (_, i) => ranks[Math.floor(i * step)]!);
  return { firstComeShare: round3(Math.min(1, share)), rankCorrelation: winners.length > 1 ? round3(spearmanAsItWas(winners)) : null, winners: winners.length, ...gave, winnerRanks };
}

function spearmanAsItWas(winners: JourneyEnd[]): number {
  const n = winners.length;
  const successRank = new Map([...winners].sort((a, b) => a.okAt! - b.okAt!).map((w, i) => [w, i]));
  let d2 = 0;
  winners.forEach((w, i) => { const d = i - successRank.get(w)!; d2 += d * d; });
  return 1 - (6 * d2) / (n * (n * n - 1));
}
