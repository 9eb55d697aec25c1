import type { Knex } from 'knex';
import type { LoadPlan } from '../src/load/plan.js';
import type { RunResult } from '../src/load/driver.js';
import type { Rng } from '../src/core/rng.js';
import type { JourneySpec } from '../src/load/journey-driver.js';
import type { QueueConfig } from '../src/queue/waiting-room.js';

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
  /** Stateful journeys, for scenarios driven by the journey driver instead of autocannon. */
  journeys?: JourneySpec[];
}

export interface Violation {
  kind: string;
  detail: string;
  evidence?: unknown;
}

export interface Scenario {
  /** kebab-case, equal to the file name. */
  readonly name: string;
  readonly description: string;
  /** Which database checker applies: numbered seats, or a general-admission inventory. */
  readonly kind: 'seats' | 'tickets' | 'balance' | 'queue' | 'journey';
  /** The scenario only makes sense with the waiting room on. */
  readonly requiresQueue?: boolean;
  /** Server settings this scenario wants unless flags say otherwise. */
  readonly serverDefaults?: { holdTtlMs?: number; queue?: QueueConfig };
  readonly defaults: Omit<ScenarioParams, 'seed'>;
  /** "What must hold afterwards", in words, for the report. */
  readonly expectation: string;
  /** Cross-field problems with the parameters (each flag is already a positive integer). */
  validate(p: ScenarioParams): string[];
  /** Seeds the database (in bulk) and builds the load plan. Deterministic for a given seed. */
  prepare(db: Knex, p: ScenarioParams, ctx: { secret: string; rng: Rng }): Promise<Prepared>;
  /** Scenario-specific checks on the outcome counts (the database checks are in src/check). */
  expect(result: RunResult, p: ScenarioParams, prepared: Prepared): Violation[];
}
