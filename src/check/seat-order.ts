import type { HistoryOp } from '../load/history.js';
import { SEAT_BUSY } from '../load/plan.js';

// Who got each seat, judged seat by seat from the history, so the seats users happened to choose do
// not matter (the flash sale's "first come" share cannot tell strategies apart, since most users
// ask for seats others already took). A seat is won in arrival order when no earlier request for it
// lost out to a later one: an overtake is a later request for the seat winning while an earlier
// request for the same seat was refused as busy (someone held a lock or a version moved, not the
// seat being taken) or was still waiting for its answer. A request whose outcome is unknown is
// neither: it may have won. Works on any history, a black-box target's too.

export interface SeatOrder {
  /** Seats some request won. */
  seatsWon: number;
  /** Seats asked for by more than one request before they were won. */
  seatsContested: number;
  /** Seats won with no overtake. */
  seatsWonInOrder: number;
  /** seatsWonInOrder / seatsWon, or null when nothing was won. */
  inOrderShare: number | null;
  /** Earlier requests overtaken by a later winner of the same seat. */
  overtakes: number;
  /** How much later than the earliest overtaken request the winner asked, ms (median and worst over overtakes). */
  overtakeMs: { median: number; max: number } | null;
  /** A few overtakes as evidence: the seat, the winner's and the overtaken request's history indexes and ask times. */
  examples: { seatNo: number; winner: number; overtaken: number; winnerInvokeMs: number; overtakenInvokeMs: number; how: 'refused-busy' | 'still-waiting' }[];
}

export function seatOrder(history: readonly HistoryOp[]): SeatOrder {
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
