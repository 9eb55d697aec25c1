import type { Outcome } from './plan.js';
import type { LatencySummaryMs } from './histogram.js';
import type { Fairness, InstanceStats, OutcomeClass, Sellout } from './recorder.js';

/** The open model's account of its schedule: what was asked, what went out, and what did not. */
export interface OpenRate {
  /** Arrivals (journeys started) per second asked for with --rate. */
  requested: number;
  /** Arrivals that started, per second of the schedule as it actually ran. */
  achieved: number;
  /** achieved < 95% of requested. */
  shortfall: boolean;
  /** Scheduled arrivals that never started: the dropped ones plus any past the run's time limit. */
  missed: number;
  /** Arrivals whose intended time came while every connection was busy: not sent (k6's dropped_iterations). */
  dropped: number;
  /** --max-connections: the most journeys in flight at once. */
  maxConnections: number;
  /** The most that were in flight at once in this run. */
  peakConnections: number;
  /** How late the generator started arrivals after their intended time (already inside every latency). */
  startLagMs: { p50: number; p99: number; max: number };
}

/** Plain data out of the run loop; rendering happens elsewhere (report/). */
export interface RunResult {
  /** closed: each connection sends when its previous request is answered; open: requests start on a schedule (--rate). */
  model: 'closed' | 'open';
  /** Open model only: what was asked, what was achieved, and how many scheduled arrivals never went out. */
  rate?: OpenRate;
  /** Closed: connections used; open: the most allowed at once (--max-connections). */
  connections: number;
  durationMs: number;
  requests: number;
  rps: number;
  okPerSec: number;
  outcomes: Record<Outcome, number>;
  statusCodes: Record<string, number>;
  errorCodes: Record<string, number>;
  journeys: { total: number; succeeded: number; exhausted: number; stopped: number; unknown: number };
  latencyMs: LatencySummaryMs;
  okLatencyMs: LatencySummaryMs;
  histogram: string;
  perSecond: { ok: number[]; requests: number[] };
  transportErrors: number;
  /** Per server instance: requests, successes, errors and unknowns (drivers that spread over instances). */
  instances?: InstanceStats[];
  /** Wall-clock time of the load phase's start (epoch ms), the origin of the history's times. */
  t0EpochMs?: number;
  /** Drivers on the Recorder: latency per outcome class, winners'/losers' histograms, the sellout. */
  latencyByOutcome?: Record<OutcomeClass, LatencySummaryMs>;
  histograms?: { ok: string; rejected: string };
  sellout?: Sellout;
  /** Share of holds that went to the first arrivals, and arrival/success rank correlation. */
  fairness?: Fairness;
}
