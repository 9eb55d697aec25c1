import type { Knex } from 'knex';

// The port every seat-lock strategy implements. The booking core and the server depend on this
// file only; strategies/ holds the adapters.

export interface HoldCommand {
  userId: number;
  scheduleId: number;
  seatNo: number;
  holdTtlMs: number;
}

export interface HeldReservation {
  reservationId: number;
  scheduleId: number;
  seatNo: number;
  status: 'HELD';
  expiresAt: string;
}

export type HoldOutcome =
  | { kind: 'held'; reservation: HeldReservation }
  /** Somebody else holds or bought the seat. */
  | { kind: 'taken'; reason: string }
  /** The strategy gave up on a contended seat (NOWAIT, lock timeout, retries exhausted). */
  | { kind: 'busy'; reason: string }
  | { kind: 'not-found' };

export interface StrategyDeps {
  db: Knex;
}

export interface StrategyOptionSpec {
  name: string;
  description: string;
  default: string;
  /** Returns a problem sentence, or null when the value is acceptable. */
  validate(value: string): string | null;
}

export type Counters = Record<string, number>;

export interface StrategyRuntime {
  hold(cmd: HoldCommand): Promise<HoldOutcome>;
  /** The strategy's own counts (retries, lock waits, rejections …) since it was created. */
  counters(): Counters;
  close(): Promise<void>;
}

export interface SeatLockStrategy {
  /** kebab-case, equal to the file name. */
  readonly name: string;
  readonly description: string;
  /** False only for control groups that are expected to oversell. */
  readonly safe: boolean;
  readonly requires: { redis: boolean };
  readonly options: readonly StrategyOptionSpec[];
  /** Session settings applied to every pooled connection (e.g. lock_timeout). */
  sessionSettings?(options: Record<string, string>): Record<string, string>;
  create(deps: StrategyDeps, options: Record<string, string>): StrategyRuntime;
}
