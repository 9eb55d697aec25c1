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

/** What one seat's requests come to: its winner (from the first pass), then what the second pass finds. */
interface SeatState {
  /** The winner's position in the history's iteration order (-1: nobody won the seat yet). */
  winner: number; winnerIndex: number; winnerInvokeMs: number; winnerCompleteMs: number;
  contested: boolean;
  /** The earliest-asked request the winner overtook, and how. */
  first?: { index: number; invokeMs: number; how: 'refused-busy' | 'still-waiting' };
}

/**
 * Two passes over the history, keeping one small record per seat rather than every hold (a
 * million-user sale has millions): the first finds each seat's winner, the second the requests
 * that asked before it. The history must iterate the same way twice (an array or a HistoryLog).
 */
export function seatOrder(history: Iterable<HistoryOp>): SeatOrder {
  const isHold = (op: HistoryOp): op is HistoryOp & { seatNo: number } => op.op === 'hold' && op.seatNo !== null && op.seatNo !== undefined;
  // Seats in the order they first appear, as the examples always listed them.
  const seats = new Map<number, SeatState>();
  let pos = 0;
  for (const op of history) {
    const at = pos++;
    if (!isHold(op)) continue;
    let s = seats.get(op.seatNo);
    if (!s) seats.set(op.seatNo, s = { winner: -1, winnerIndex: 0, winnerInvokeMs: 0, winnerCompleteMs: 0, contested: false });
    // The winner: the first acknowledged hold to complete (a second one would be oversold, judged elsewhere); ties go to the earlier in the history.
    if (op.outcome === 'ok' && (s.winner < 0 || op.completeMs < s.winnerCompleteMs)) {
      Object.assign(s, { winner: at, winnerIndex: op.index, winnerInvokeMs: op.invokeMs, winnerCompleteMs: op.completeMs });
    }
  }
  const distances: number[] = [];
  pos = 0;
  for (const op of history) {
    const at = pos++;
    if (!isHold(op)) continue;
    const s = seats.get(op.seatNo)!;
    if (s.winner < 0 || at === s.winner || !(op.invokeMs < s.winnerInvokeMs)) continue;
    s.contested = true;
    // An unknown outcome is neither overtaken nor not: it may have won.
    const how = op.outcome === 'fail' && op.error === SEAT_BUSY ? 'refused-busy' : op.outcome === 'fail' && op.completeMs > s.winnerCompleteMs ? 'still-waiting' : undefined;
    if (!how) continue;
    distances.push(s.winnerInvokeMs - op.invokeMs);
    if (!s.first || op.invokeMs < s.first.invokeMs) s.first = { index: op.index, invokeMs: op.invokeMs, how };
  }
  let seatsWon = 0;
  let seatsContested = 0;
  let seatsWonInOrder = 0;
  const examples: SeatOrder['examples'] = [];
  for (const [seatNo, s] of seats) {
    if (s.winner < 0) continue;
    seatsWon++;
    if (s.contested) seatsContested++;
    if (!s.first) {
      seatsWonInOrder++;
      continue;
    }
    if (examples.length < 10) {
      examples.push({ seatNo, winner: s.winnerIndex, overtaken: s.first.index, winnerInvokeMs: s.winnerInvokeMs, overtakenInvokeMs: s.first.invokeMs, how: s.first.how });
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
