import type { Violation } from '../../scenarios/types.js';

const EVIDENCE_LIMIT = 20;

/** Collects violations, keeping evidence for the first few of each kind and counting all. */
export class ViolationLog {
  readonly violations: Violation[] = [];
  readonly counts: Record<string, number> = {};

  add(v: Violation): void {
    this.counts[v.kind] = (this.counts[v.kind] ?? 0) + 1;
    if (this.counts[v.kind]! <= EVIDENCE_LIMIT) this.violations.push(v);
  }
}

/** Every 201 wrote exactly one reservation; unknown outcomes may or may not have. */
export function checkResponsesAgainstRows(log: ViolationLog, created: number, ok: number, unknown: number): void {
  if (created >= ok && created <= ok + unknown) return;
  const expected = unknown === 0 ? `${ok}` : `${ok}…${ok + unknown} (${unknown} unknown outcomes)`;
  log.add({ kind: 'responses-disagree-with-db', detail: `${ok} hold responses were 201 but ${created} reservations exist (expected ${expected})` });
}

export interface CheckResult {
  oversold: number;
  capacity: number;
  activeReservations: number;
  /**
   * Holds that ended EXPIRED or CANCELLED, each putting an item back on sale: a sale that outlasts
   * the hold TTL sells some items twice, one after the other, so successful holds may exceed the
   * items by this many without any of them overlapping (the interval checker judges overlaps).
   */
  returnedToSale?: number;
  violations: Violation[];
  violationCounts: Record<string, number>;
}

export interface CheckInput {
  scheduleId: number;
  /** 201 responses seen by the load generator. */
  okResponses: number;
  /** Requests whose outcome is unknown (timeouts, resets): each may or may not have written. */
  unknownResponses: number;
}
