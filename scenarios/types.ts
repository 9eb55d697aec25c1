import type { Knex } from 'knex';
import type { LoadPlan } from '../src/load/plan.js';
import type { RunResult } from '../src/load/result.js';
import type { Rng } from '../src/core/rng.js';
import type { JourneySpec } from '../src/load/journey-driver.js';
import type { QueueConfig } from '../src/queue/waiting-room.js';
import type { CheckResult } from '../src/check/violations.js';
import type { QueueAnswers } from '../src/load/history.js';

export interface ScenarioParams {
  users: number;
  seats: number;
  connections: number;
  seed: number;
}

export interface Prepared {
  scheduleId: number;
  seatCount: number;
  plan: LoadPlan;
  /** Stateful journeys, for scenarios driven by the journey driver instead of a plan of attempts. */
  journeys?: JourneySpec[];
}

export interface Violation {
  kind: string;
  detail: string;
  evidence?: unknown;
}

/** What a scenario's checker gets after the load. */
export interface CheckContext {
  db: Knex;
  scheduleId: number;
  params: ScenarioParams;
  /** 201 answers the load generator saw, and answers whose outcome is unknown. */
  okResponses: number;
  unknownResponses: number;
  /** The run's first Redis and key prefix, for checkers that read Redis (queue, events). */
  redisUrl?: string;
  keyPrefix: string;
  queue?: QueueConfig;
  /** Journeys only: holds that were walked away from. */
  abandoned: number;
  seatCount: number;
  /** With the waiting room: what it told the users (join numbers promised, places lost), to hold its records to. */
  queueAnswers?: QueueAnswers;
}

/** A checker's result: the common part, plus what this scenario's checker saw. */
export type ScenarioCheck = CheckResult & {
  seatsHeldOrSold?: number;
  remaining?: number;
  journey?: { confirmed: number; expired: number; resold: number; events: number };
};

/** One user's part of the workload: which user (an index into the seeded users) and what it asks for, in order. */
export interface UserWork { user: number; seats: (number | null)[] }

/**
 * The workload as plain data, from the seeded RNG: `prepare` builds its plan from it, and the
 * black-box mode (src/target) sends the same asks to somebody else's API, so both see the same
 * sale byte for byte. `op` says what every ask is: a numbered seat, or an unnumbered ticket.
 */
export interface Workload { op: 'hold' | 'hold-ticket'; users: UserWork[] }

export interface Scenario {
  /** kebab-case, equal to the file name. */
  readonly name: string;
  readonly description: string;
  /** Which database checker applies: numbered seats, or a general-admission inventory. */
  readonly kind: 'seats' | 'tickets' | 'balance' | 'queue' | 'journey';
  /** The scenario only makes sense with the waiting room on. */
  readonly requiresQueue?: boolean;
  /** The waiting room is on unless --queue off says otherwise (to measure what it changes). */
  readonly queueByDefault?: boolean;
  /** Needs Redis whatever the strategy (the journey's event stream). */
  readonly needsRedis?: boolean;
  /** Server settings this scenario wants unless flags say otherwise. */
  readonly serverDefaults?: { holdTtlMs?: number; queue?: QueueConfig };
  readonly defaults: Omit<ScenarioParams, 'seed'>;
  /** "What must hold afterwards", in words, for the report. */
  readonly expectation: string;
  /** Cross-field problems with the parameters (each flag is already a positive integer). */
  validate(p: ScenarioParams): string[];
  /** The scenario's asks as data (scenarios that a black-box target can run); consumes the RNG exactly as prepare does. */
  workload?(p: ScenarioParams, rng: Rng): Workload;
  /** Seeds the database (in bulk) and builds the load plan. Deterministic for a given seed. */
  prepare(db: Knex, p: ScenarioParams, ctx: { secret: string; rng: Rng }): Promise<Prepared>;
  /** The database checker of this scenario (src/check/…), run after the load. */
  check(ctx: CheckContext): Promise<ScenarioCheck>;
  /**
   * Scenario-specific checks on the outcome counts (the database checks are in src/check), given
   * what the database checker saw (holds that expired and put items back on sale, for one).
   */
  expect(result: RunResult, p: ScenarioParams, prepared: Prepared, check: ScenarioCheck): Violation[];
}
