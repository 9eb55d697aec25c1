import { describe, expect, it } from 'vitest';
import { seatOrder, type SeatOrder } from '../src/check/seat-order.js';
import { SEAT_BUSY } from '../src/load/plan.js';
import { createRng } from '../src/core/rng.js';
import { HistoryLog } from '../src/load/history-log.js';
import type { HistoryOp } from '../src/load/history.js';

// Crafted histories for the seat-level fairness measure: where it must find an overtake, and where
// it must not (the winner asked first; an earlier request gave up or was refused because the seat
// was taken; an earlier request's outcome is unknown).

let n = 0;
const hold = (seatNo: number, invokeMs: number, completeMs: number, outcome: HistoryOp['outcome'], error?: string): HistoryOp => ({
  index: n++, process: n, instance: 0, op: 'hold', invokeMs, completeMs, outcome, seatNo, scheduleId: 1, userId: n,
  ...(outcome === 'ok' ? { status: 201 } : outcome === 'fail' ? { status: 409 } : {}), ...(error ? { error } : {}),
});

describe('seat order: was each seat won by the earliest request that stayed for it?', () => {
  it('finds an overtake: an earlier request refused as busy, a later one wins the seat', () => {
    const busy = hold(7, 10, 12, 'fail', 'SEAT_BUSY');
    const later = hold(7, 30, 35, 'ok');
    const r = seatOrder([busy, later]);
    expect(r).toMatchObject({ seatsWon: 1, seatsContested: 1, seatsWonInOrder: 0, inOrderShare: 0, overtakes: 1, overtakeMs: { median: 20, max: 20 } });
    expect(r.examples).toEqual([{ seatNo: 7, winner: later.index, overtaken: busy.index, winnerInvokeMs: 30, overtakenInvokeMs: 10, how: 'refused-busy' }]);
  });

  it('finds an overtake: an earlier request still waiting when a later one won', () => {
    const waiting = hold(3, 5, 80, 'fail', 'SEAT_TAKEN');
    const later = hold(3, 20, 25, 'ok');
    expect(seatOrder([waiting, later])).toMatchObject({ overtakes: 1, seatsWonInOrder: 0, overtakeMs: { median: 15, max: 15 } });
    expect(seatOrder([waiting, later]).examples[0]!.how).toBe('still-waiting');
  });

  it('finds none when the earliest request won, and later ones were refused', () => {
    const r = seatOrder([hold(1, 0, 5, 'ok'), hold(1, 2, 9, 'fail', 'SEAT_BUSY'), hold(1, 3, 10, 'fail', 'SEAT_TAKEN')]);
    expect(r).toMatchObject({ seatsWon: 1, seatsContested: 0, seatsWonInOrder: 1, inOrderShare: 1, overtakes: 0, overtakeMs: null });
  });

  it('finds none when the earlier request gave up or was told the seat was taken before the winner asked', () => {
    // Taken at 4 ms: someone held it then (a hold that expired later); the winner asked at 50 ms.
    const taken = hold(2, 1, 4, 'fail', 'SEAT_TAKEN');
    // Gave up: the client stopped waiting (no answer in time) — its fate is unknown, never an overtake.
    const gaveUp = hold(2, 2, 40, 'unknown', 'timeout');
    expect(seatOrder([taken, gaveUp, hold(2, 50, 55, 'ok')])).toMatchObject({ seatsWonInOrder: 1, overtakes: 0 });
  });

  it('an earlier request with an unknown outcome is not an overtake: it may have won', () => {
    expect(seatOrder([hold(4, 0, 100, 'unknown', 'ECONNRESET'), hold(4, 10, 20, 'ok')])).toMatchObject({ overtakes: 0, seatsWonInOrder: 1 });
  });

  it('adds up over seats: medians and maxima over every overtake, seats nobody won left out', () => {
    const h = [
      hold(1, 0, 2, 'fail', 'SEAT_BUSY'), hold(1, 10, 12, 'ok'), // overtaken by 10 ms
      hold(2, 0, 2, 'fail', 'SEAT_BUSY'), hold(2, 1, 3, 'fail', 'SEAT_BUSY'), hold(2, 40, 42, 'ok'), // 40 and 39 ms
      hold(3, 0, 5, 'ok'), // in order
      hold(4, 0, 5, 'fail', 'SEAT_BUSY'), // never won
      { ...hold(5, 0, 5, 'ok'), op: 'pay' as const }, // not a hold
    ];
    expect(seatOrder(h)).toMatchObject({ seatsWon: 3, seatsWonInOrder: 1, inOrderShare: 0.333, overtakes: 3, overtakeMs: { median: 39, max: 40 } });
  });

  it('gives exactly what it gave when it kept every hold (two passes, one record per seat), on an array and on the columnar history', () => {
    const rng = createRng(11);
    let overtakes = 0;
    for (let round = 0; round < 20; round++) {
      const seats = 1 + Math.floor(rng() * 30);
      const ops: HistoryOp[] = [];
      const log = new HistoryLog();
      for (let i = 0; i < 400; i++) {
        // Coarse times so that ties happen (equal ask and completion times decide by history order).
        const invokeMs = Math.floor(rng() * 50);
        const r = rng();
        const outcome: HistoryOp['outcome'] = r < 0.2 ? 'ok' : r < 0.9 ? 'fail' : 'unknown';
        const error = outcome === 'fail' ? (rng() < 0.5 ? SEAT_BUSY : 'SEAT_TAKEN') : undefined;
        const op: HistoryOp = { index: i, process: i % 8, instance: 0, op: rng() < 0.9 ? 'hold' : 'pay', invokeMs, completeMs: invokeMs + Math.floor(rng() * 20), outcome,
          ...(error ? { error } : {}), scheduleId: 1, ...(rng() < 0.95 ? { seatNo: 1 + Math.floor(rng() * seats) } : { seatNo: null }) };
        ops.push(op);
        log.push(op);
      }
      const want = seatOrderAsItWas(ops);
      expect(seatOrder(ops)).toEqual(want);
      expect(seatOrder(log)).toEqual(want);
      overtakes += want.examples.length;
    }
    expect(overtakes).toBeGreaterThan(20);
  });
});

// The implementation before the history became columns, kept as the reference the new one must match.
function seatOrderAsItWas(history: readonly HistoryOp[]): SeatOrder {
  const bySeat = new Map<number, HistoryOp[]>();
  for (const op of history) {
    if (op.op !== 'hold' || op.seatNo === null || op.seatNo === undefined) continue;
    const list = bySeat.get(op.seatNo) ?? [];
    list.push(op);
    bySeat.set(op.seatNo, list);
  }
  let seatsWon = 0;
  let seatsContested = 0;
  let seatsWonInOrder = 0;
  const distances: number[] = [];
  const examples: SeatOrder['examples'] = [];
  for (const [seatNo, ops] of bySeat) {
    // The winner: the first acknowledged hold to complete (a second one would be oversold, judged elsewhere).
    const winner = ops.filter((o) => o.outcome === 'ok').sort((a, b) => a.completeMs - b.completeMs)[0];
    if (!winner) continue;
    seatsWon++;
    const earlier = ops.filter((o) => o !== winner && o.invokeMs < winner.invokeMs);
    if (earlier.length > 0) seatsContested++;
    const overtaken = earlier.flatMap((o): { o: HistoryOp; how: 'refused-busy' | 'still-waiting' }[] => {
      if (o.outcome === 'unknown') return [];
      if (o.outcome === 'fail' && o.error === SEAT_BUSY) return [{ o, how: 'refused-busy' }];
      if (o.completeMs > winner.completeMs && o.outcome === 'fail') return [{ o, how: 'still-waiting' }];
      return [];
    });
    if (overtaken.length === 0) {
      seatsWonInOrder++;
      continue;
    }
    for (const { o } of overtaken) distances.push(winner.invokeMs - o.invokeMs);
    const first = overtaken.sort((a, b) => a.o.invokeMs - b.o.invokeMs)[0]!;
    if (examples.length < 10) {
      examples.push({ seatNo, winner: winner.index, overtaken: first.o.index, winnerInvokeMs: winner.invokeMs, overtakenInvokeMs: first.o.invokeMs, how: first.how });
    }
  }
  distances.sort((a, b) => a - b);
  return {
    seatsWon, seatsContested, seatsWonInOrder, inOrderShare: seatsWon > 0 ? round(seatsWonInOrder / seatsWon) : null,
    overtakes: distances.length,
    overtakeMs: distances.length > 0 ? { median: round(distances[Math.floor((distances.length - 1) / 2)]!), max: round(distances[distances.length - 1]!) } : null,
    examples,
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
