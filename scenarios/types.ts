import type { Knex } from 'knex';
import type { LoadPlan } from '../src/load/plan.js';
import type { RunResult } from '../src/load/driver.js';
import type { Rng } from '../src/core/rng.js';

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
