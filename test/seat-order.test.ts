import { describe, expect, it } from 'vitest';
import { seatOrder } from '../src/check/seat-order.js';
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
});
