import type { ViolationLog } from './violations.js';

// Overselling judged on intervals (DESIGN §7): a reservation occupies its seat (or one unit of the
// inventory) from created_at until ended_at, whatever its status is now. Counting only the rows
// that are still active misses a double-book whose one side has since expired or been cancelled.

/** One reservation's active period. Times are microseconds since the epoch (PostgreSQL's precision). */
export interface ReservationInterval {
  id: number;
  userId: number;
  scheduleId: number;
  /** null for a general-admission ticket. */
  seatNo: number | null;
  status: string;
  startUs: number;
  /** null while the reservation is active (HELD, or CONFIRMED and never cancelled). */
  endUs: number | null;
}

const ACTIVE = new Set(['HELD', 'CONFIRMED']);

/** ISO time with the microseconds a Date cannot hold, so evidence shows why two intervals meet. */
export function isoUs(us: number | null): string | null {
  if (us === null) return null;
  const ms = Math.floor(us / 1000);
  return `${new Date(ms).toISOString().slice(0, -1)}${String(us - ms * 1000).padStart(3, '0')}Z`;
}

/** An interval that ends where it starts never occupied anything; one that ends before it starts is a bug. */
const empty = (r: ReservationInterval) => r.endUs !== null && r.endUs <= r.startUs;

const span = (r: ReservationInterval) => ({ reservationId: r.id, userId: r.userId, status: r.status, from: isoUs(r.startUs), to: isoUs(r.endUs) });

/**
 * A row whose status disagrees with its interval is a bug in whatever wrote it. The overlap rules
 * still take a missing end as "never ended", the conservative reading.
 */
export function checkIntervalStatus(log: ViolationLog, rows: readonly ReservationInterval[]): void {
  for (const r of rows) {
    if (r.endUs !== null && r.endUs < r.startUs) {
      log.add({ kind: 'interval-status-mismatch', detail: `reservation ${r.id} ended at ${isoUs(r.endUs)}, before it began at ${isoUs(r.startUs)}`, evidence: span(r) });
    }
    if (ACTIVE.has(r.status) === (r.endUs === null)) continue;
    log.add({ kind: 'interval-status-mismatch', detail: `reservation ${r.id} is ${r.status} but its ended_at is ${r.endUs === null ? 'NULL' : isoUs(r.endUs)}`, evidence: span(r) });
  }
}

/**
 * No two reservations of one seat are active at the same instant. Each reservation that starts
 * while an earlier one of the same seat is still active adds one to `oversold`: for duplicates that
 * are all still active this is the familiar n − 1. Intervals are half-open, [start, end): a hold
 * that begins at the very microsecond the previous one ended is a resale, not an overlap.
 */
export function checkSeatOverlaps(log: ViolationLog, rows: readonly ReservationInterval[]): number {
  const bySeat = new Map<number, ReservationInterval[]>();
  for (const r of rows) if (r.seatNo !== null && !empty(r)) (bySeat.get(r.seatNo) ?? bySeat.set(r.seatNo, []).get(r.seatNo)!).push(r);
  let oversold = 0;
  for (const [seatNo, list] of [...bySeat].sort((a, b) => a[0] - b[0])) {
    list.sort((a, b) => a.startUs - b.startUs || a.id - b.id);
    let open: ReservationInterval[] = [];
    for (const r of list) {
      open = open.filter((o) => o.endUs === null || o.endUs > r.startUs);
      const other = open[0];
      if (other) {
        oversold++;
        log.add({
          kind: 'seat-overlap',
          detail: `seat ${seatNo}: reservation ${r.id} (user ${r.userId}) began at ${isoUs(r.startUs)} while reservation ${other.id} (user ${other.userId}) was active${open.length > 1 ? `, with ${open.length - 1} more` : ''}`,
          evidence: { seatNo, earlier: span(other), later: span(r), activeAtStart: open.map((o) => o.id) },
        });
      }
      open.push(r);
    }
  }
  return oversold;
}

export interface TicketPeak { atUs: number; at: string | null; active: number; total: number }

/**
 * General admission: at no instant are more tickets active than the inventory holds. A sweep line
 * over start (+1) and end (−1) events; at equal times ends go first, for the same half-open reason
 * as seats. `oversold` is the largest excess at any instant, not the excess at the end.
 */
export function checkTicketsOverInventory(log: ViolationLog, rows: readonly ReservationInterval[], total: number): { oversold: number; peak: TicketPeak | null } {
  const tickets = rows.filter((r) => r.seatNo === null && !empty(r));
  const events: [number, number][] = [];
  for (const r of tickets) {
    events.push([r.startUs, +1]);
    if (r.endUs !== null) events.push([r.endUs, -1]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let active = 0;
  let peak: TicketPeak | null = null;
  for (const [t, d] of events) {
    active += d;
    if (d > 0 && (peak === null || active > peak.active)) peak = { atUs: t, at: isoUs(t), active, total };
  }
  const oversold = peak ? Math.max(0, peak.active - total) : 0;
  if (peak && oversold > 0) {
    const atPeak = tickets.filter((r) => r.startUs <= peak.atUs && (r.endUs === null || r.endUs > peak.atUs));
    log.add({
      kind: 'tickets-over-inventory',
      detail: `${peak.active} tickets were active at ${peak.at} from an inventory of ${total} (${oversold} too many)`,
      evidence: { ...peak, reservationIds: atPeak.slice(0, 50).map((r) => r.id) },
    });
  }
  return { oversold, peak };
}
