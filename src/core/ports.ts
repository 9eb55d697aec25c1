import type { Knex } from 'knex';
import type { Cluster, Redis } from 'ioredis';

// The port every seat-lock strategy implements. The booking core and the server depend on this
// file only; strategies/ holds the adapters.

export interface HoldCommand {
  userId: number;
  scheduleId: number;
  seatNo: number;
  holdTtlMs: number;
}

/** A general-admission ticket: no seat choice, one unit of the schedule's inventory. */
export interface TicketCommand {
  userId: number;
  scheduleId: number;
  holdTtlMs: number;
}

export interface HeldReservation {
  reservationId: number;
  scheduleId: number;
  /** null for a general-admission ticket. */
  seatNo: number | null;
  status: 'HELD';
  expiresAt: string;
}

export type HoldOutcome =
  | { kind: 'held'; reservation: HeldReservation }
  /** Somebody else holds or bought the seat. */
  | { kind: 'taken'; reason: string }
  /** The strategy gave up on a contended seat (NOWAIT, lock timeout, retries exhausted). */
  | { kind: 'busy'; reason: string }
  /** No inventory left (general admission, or a schedule with every seat taken). */
  | { kind: 'sold-out'; reason: string }
  | { kind: 'not-found' };

/** Spend points from a balance (a payment): a contended write like a seat. */
export interface SpendCommand {
  userId: number;
  amount: number;
  /** What the ledger row refers to, e.g. "reservation:42". */
  ref: string;
}

export type DebitOutcome =
  | { kind: 'debited'; balance: number }
  | { kind: 'insufficient' }
  /** Gave up on a contended balance (lock not acquired, retries exhausted, stale fence). */
  | { kind: 'busy'; reason: string }
  | { kind: 'not-found' };

/** A seat (or, with seatNo null, a general-admission ticket) that went back on sale. */
export interface ReleasedItem { scheduleId: number; seatNo: number | null }

/**
 * A client of one logical Redis: a server (alone or behind Sentinel), or a Redis Cluster. On a
 * cluster a script or MULTI must keep to one slot: keys used together share a hash tag ({…}).
 */
export type RedisClient = Redis | Cluster;

export interface StrategyDeps {
  db: Knex;
  /** One client per independent Redis server; empty when the strategy does not need Redis. */
  redis: RedisClient[];
  /** Where the strategy reports what it waited for; absent when nobody measures (tests, --transport direct). */
  observe?: StrategyObserver;
}

/**
 * What a strategy tells the server's metrics while it works. Plain callbacks, so strategies know
 * nothing of Prometheus; each is cheap and never throws.
 */
export interface StrategyObserver {
  /**
   * One attempt waited this long (seconds) at the point where contenders queue: a SELECT … FOR
   * UPDATE (NOWAIT: the attempt), a distributed-lock acquire, a version-checked or unguarded UPDATE
   * of the contended row. Reported whether the attempt got the lock or not.
   */
  lockWait(seconds: number): void;
  /** One run of a background job the strategy runs itself (redis-decr's reconciler): ok, or it failed. */
  backgroundRun(task: 'reconciler', ok: boolean): void;
}

export interface StrategyOptionSpec {
  name: string;
  description: string;
  default: string;
  /** Returns a problem sentence, or null when the value is acceptable. */
  validate(value: string): string | null;
}

/**
 * The strategy's own counts. Three names have a fixed meaning and feed the comparison table:
 * `retries`, `lockFailures` (gave up on a lock or a contended row) and `dbAvoided` (requests
 * answered without opening a database connection).
 */
export type Counters = Record<string, number>;

export interface StrategyRuntime {
  /** Called once before the server takes requests (e.g. to rebuild Redis state from PostgreSQL). */
  init?(): Promise<void>;
  hold(cmd: HoldCommand): Promise<HoldOutcome>;
  holdTicket(cmd: TicketCommand): Promise<HoldOutcome>;
  /** Debits a balance and writes the ledger row, inside the caller's payment transaction. */
  debit(trx: Knex.Transaction, cmd: SpendCommand): Promise<DebitOutcome>;
  /**
   * Wraps the whole payment transaction when the strategy guards balances outside the database
   * (a distributed lock must be held until after the commit). Returns null when the guard could
   * not be had (busy).
   */
  aroundSpend?<T>(userId: number, fn: () => Promise<T>): Promise<T | null>;
  /** Seats or tickets went back on sale (cancel, expiry): keep state outside the database in step. */
  released?(items: ReleasedItem[]): Promise<void>;
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
  /** Why this configuration is unsafe by design (a control variant such as fencing off), or null when it claims to be safe. */
  unsafeWith?(options: Record<string, string>): string | null;
  readonly requires: { redis: boolean };
  readonly options: readonly StrategyOptionSpec[];
  /** Session settings applied to every pooled connection (e.g. lock_timeout). */
  sessionSettings?(options: Record<string, string>): Record<string, string>;
  create(deps: StrategyDeps, options: Record<string, string>): StrategyRuntime;
}
