// What a scenario asks the load driver to do: plain data, built before the clock starts.
import type { OpMeta } from './history.js';

export interface AttemptRequest {
  method: 'GET' | 'POST';
  path: string;
  /** JSON text, already serialised. */
  body?: string;
  /** Extra headers (e.g. Idempotency-Key). */
  headers?: Record<string, string>;
  /** What the attempt is, for the history (the driver records it without parsing the body). */
  meta?: OpMeta;
  /** How to read the answer when it is not seatlab's own API (black-box targets, src/target). */
  reader?: AnswerReader;
}

/** A target's answers in the lab's terms: where the reservation id is, and which answers mean what. */
export interface AnswerReader {
  /** Dotted path of the reservation id in a success answer ("data.id"). */
  reservationId?: string;
  /** First match wins; unmatched answers fall back to the status code (2xx ok, 409 conflict, 4xx rejected, 5xx error). */
  rules?: { status: number[]; bodyIncludes?: string; outcome: Outcome }[];
}

/** One user's attempts, tried in order; the journey moves on only after a 409 (conflict). */
export interface Journey {
  token: string;
  userId?: number;
  attempts: AttemptRequest[];
}

/**
 * The journeys of a plan, in the order users arrive: an array, or a compact list that makes each
 * journey when the driver reaches it (a million-user sale need not be a million objects up front).
 */
export interface JourneyList {
  readonly length: number;
  at(index: number): Journey | undefined;
  map<U>(fn: (j: Journey, index: number) => U): U[];
}

export interface LoadPlan {
  journeys: JourneyList;
}

export type Outcome = 'ok' | 'conflict' | 'soldOut' | 'rejected' | 'error' | 'timeout';
export const OUTCOMES: readonly Outcome[] = ['ok', 'conflict', 'soldOut', 'rejected', 'error', 'timeout'];

/** The error code of a 409 that says contended (a lock or a version), not taken: try again. */
export const SEAT_BUSY = 'SEAT_BUSY';

export function classify(status: number, errorCode: string | undefined): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 409) return errorCode === 'SOLD_OUT' ? 'soldOut' : 'conflict';
  // 402: the balance does not cover the price — the balance's "sold out".
  if (status === 402) return 'soldOut';
  if (status >= 400 && status < 500) return 'rejected';
  return 'error';
}
