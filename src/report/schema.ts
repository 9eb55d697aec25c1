import type { SeatOrder } from '../check/seat-order.js';
import type { Fairness } from '../load/recorder.js';
import type { InsideServer } from '../load/scrape.js';
import type { QueueConfig } from '../queue/waiting-room.js';
import type { LatencySummaryMs } from '../load/histogram.js';
import type { Outcome } from '../load/plan.js';
import type { Violation } from '../../scenarios/types.js';
import type { MachineInfo } from './metadata.js';
import type { Spread } from './stats.js';
import type { ThresholdResult } from './thresholds.js';
import type { InstanceStats } from '../load/recorder.js';
import type { FaultEvent } from '../nemesis/types.js';
import type { OutcomeClass } from '../load/recorder.js';
import type { OpenRate } from '../load/result.js';
import type { Dialect } from '../db/dialect.js';
import type { StoreInfo } from './metadata.js';
import type { ConnectionErrorCount } from '../infra/error-tally.js';
import type { CpuFigures } from '../load/cpu.js';
import type { MemoryFigures } from '../load/memory.js';

/** The names a store goes by on the command line and in thresholds: each dialect and its aliases. */
const STORE_ALIASES: Record<string, Dialect> = { pg: 'pg', postgres: 'pg', postgresql: 'pg', mysql: 'mysql', mariadb: 'mysql' };
export const VALID_STORES = 'pg (or postgres, postgresql), mysql (or mariadb)';

/** pg / postgres / postgresql → pg, mysql / mariadb → mysql; undefined for anything else. */
export function storeFromName(name: string): Dialect | undefined {
  return Object.hasOwn(STORE_ALIASES, name.toLowerCase()) ? STORE_ALIASES[name.toLowerCase()] : undefined;
}

/** What a ticketing engineer asks first: how long until the last seat went, and who got them. */
export interface SaleFigures {
  /** First request to the last successful hold (hot seat: to the winner); null without a success. */
  timeToSelloutMs: number | null;
  holdsPerSecUntilSellout: number | null;
  /** Share of successful holds that went to the first `seats` arrivals (1 = first come, first served). */
  firstComeShare: number | null;
  /** Spearman's rank correlation between arrival order and the order holds succeeded (winners only). */
  rankCorrelation: number | null;
}

/** One run's raw figures, kept so a report can be re-aggregated later. */
export interface RunFigures {
  run: number;
  durationMs: number;
  requests: number;
  rps: number;
  okPerSec: number;
  latencyMs: LatencySummaryMs;
  outcomes: Record<Outcome, number>;
  oversold: number;
  verdict: StrategyResult['verdict'];
  histogram: string;
  perSecond: { ok: number[]; requests: number[] };
  warmup: { ms: number; applied: boolean; excludedRequests: number };
  sale?: SaleFigures;
  latencyByOutcome?: Record<OutcomeClass, LatencySummaryMs>;
  /** Operations whose outcome is unknown (no answer, reset, 5xx), from the history. */
  unknown?: number;
  /** Seats or tickets still refused after the faults, while PostgreSQL had them on sale. */
  stuck?: number;
  /** Acknowledged operations whose write is missing from the database afterwards (the history checker's). */
  lostAcks?: number;
  /** Writes in the database that no acknowledged or unknown operation explains (the history checker's). */
  unexplainedWrites?: number;
  faults?: FaultEvent[];
  /** This run's CPU per component over its measured load. */
  cpu?: CpuFigures;
  /** The lab process's peak resident size over this run, and per recorded operation. */
  memory?: MemoryFigures;
}

/** What the history checker found (see src/check/history.ts) and where the history is. */
export interface HistorySummary {
  /** report-relative path of the JSON-lines history, one operation a line. */
  file: string;
  ops: number;
  unknown: number;
  unknownByError: Record<string, number>;
  lostAcks: number;
  unexplainedWrites: number;
  explainedByUnknown: number;
}

export interface LivenessSummary { graceMs: number; available: number; probed: number; stuck: number; unanswered: number; stuckItems: (number | null)[] }

// An integer with no minor part: additions are optional fields (results[].store, config.stores,
// servers.stores), so every reader of version 1 still reads a new report and compare still accepts
// an old one. Only a change that breaks such a reader bumps it.
export const SCHEMA_VERSION = 1;

export interface StrategyResult {
  strategy: string;
  /** The store this result ran on; absent in reports written before there were two (read it as pg). */
  store?: Dialect;
  /** The fault injected during this result's runs (a column of the fault matrix); absent when healthy. */
  fault?: string;
  /** Numbered seats only: was each seat won by the earliest request that stayed for it (src/check/seat-order.ts); with several runs, the median run's. */
  seatOrder?: SeatOrder;
  /** Who got the seats, from how every user's journey ended (src/load/recorder.ts); with several runs, the median run's by first-come share. */
  fairness?: Fairness;
  /** Inside the servers: their /metrics scraped once a second during the load (src/load/scrape.ts); with several runs, the median run's by lock wait p99. */
  inside?: InsideServer;
  /** The round-trip time (ms) the links between the servers and the stores added; absent when the servers reached the stores directly. */
  linkLatencyMs?: number;
  /** The jitter (ms) on each one-way link delay. */
  linkJitterMs?: number;
  /** Why this configuration is unsafe by design (e.g. fencing off); it is then judged as a control group. */
  unsafeReason?: string;
  description: string;
  /** Whether the strategy claims to be safe; an unsafe control group is expected to oversell. */
  safe: boolean;
  options: Record<string, string>;
  /** Which load model produced these numbers; the open model says whether the rate was sustained. */
  load: { model: 'closed' | 'open'; connections: number; transport: 'http' | 'direct'; rate?: OpenRate };
  seedMs: number;
  durationMs: number;
  requests: number;
  rps: number;
  okPerSec: number;
  latencyMs: LatencySummaryMs;
  okLatencyMs: LatencySummaryMs;
  /** One sale's counts: with several runs, the median run's (see countRanges and totals). */
  outcomes: Record<Outcome, number>;
  /** Several runs: each outcome's [min, max] over the runs. */
  countRanges?: Record<string, [number, number]>;
  /** Several runs: sums over all runs, labelled as such (never shown as one sale). */
  totals?: { runs: number; requests: number; outcomes: Record<Outcome, number> };
  statusCodes: Record<string, number>;
  errorCodes: Record<string, number>;
  journeys: { total: number; succeeded: number; exhausted: number; stopped: number; unknown: number };
  oversold: number;
  retries: number;
  /** Gave up on a lock or a contended row (NOWAIT, lock timeout, lock not acquired, retries exhausted). */
  lockFailures: number;
  /** Requests answered without opening a database connection (Redis pre-check). */
  dbAvoided: number;
  counters: Record<string, number>;
  /** What the database checker saw: seats (seatsHeldOrSold) or general-admission inventory (remaining). */
  check: { capacity: number; activeReservations: number; seatsHeldOrSold?: number; remaining?: number };
  violations: Violation[];
  violationCounts: Record<string, number>;
  /** "pass" (no violation), "fail" (a safe strategy broke an invariant), "unsafe-as-expected" or "race-not-observed" for control groups. */
  verdict: 'pass' | 'fail' | 'unsafe-as-expected' | 'race-not-observed';
  notes: string[];
  perSecond: { ok: number[]; requests: number[] };
  /** HDR histogram of all request latencies (µs), compressed base64 (journeys: holds and payments). */
  histogram: string;
  /** The store ceiling: the same plan replayed through the strategy in-process, no HTTP, same concurrency. */
  storeCeiling?: { perSec: number; p99Ms: number; durationMs: number; journeys?: number; ofJourneys?: number };
  /** rps ÷ the lower of the HTTP and store ceilings; absent when that came out above 1.05 (see ceilingInvalid). */
  efficiency?: number;
  /** Why no efficiency is printed: the run beat its own ceiling, so the ceiling measured other work. */
  ceilingInvalid?: string;
  /** One line: where a request's CPU goes, from the measured figures in `cpu` (server, store, Redis, links, the lab), and how busy the machine was. */
  whereTimeGoes?: string;
  /** Warm-up of this run (a single run) — see runs[] for each run's. */
  warmup: { ms: number; applied: boolean; excludedRequests: number };
  /** Every run, in the order they ran (strategies interleaved: A B C A B C …). */
  runs?: RunFigures[];
  /** Over the runs: median, min, max and a 95% interval of the mean (Student's t). */
  stats?: { rps: Spread; okPerSec: Spread; p50: Spread; p99: Spread; p999: Spread };
  /** Journeys only: latency per step, what became of the journeys, and what the checker counted. */
  stepLatencyMs?: Record<string, LatencySummaryMs>;
  journeyOutcomes?: { holds: number; paid: number; abandoned: number; noSeat: number; failed: number; gaveUpWaiting: number };
  journeyCheck?: { confirmed: number; expired: number; resold: number; events: number };
  /** Booking server processes and what each one served (the history's instance field). */
  instances?: { count: number; restarts: number; perInstance: InstanceStats[] };
  /** The fault's schedule and every injection, with times relative to the load phase's start. */
  nemesis?: { fault: string; everyMs: number; forMs: number; firstMs: number; events: FaultEvent[] };
  history?: HistorySummary;
  liveness?: LivenessSummary;
  /** Operations whose outcome is unknown (no answer, a reset, a 5xx that may have committed). */
  unknown?: number;
  /** Seats or tickets still refused after the faults while PostgreSQL had them on sale. */
  stuck?: number;
  /** The median run's sale figures (each run's are in runs[]). */
  sale?: SaleFigures;
  /** Latency of each outcome class, from its own HDR histogram (median run): winners, losers, errors, unknowns. */
  latencyByOutcome?: Record<OutcomeClass, LatencySummaryMs>;
  /** Encoded HDR histograms of winners (2xx) and losers (4xx), for the percentile curves (first run). */
  outcomeHistograms?: { ok: string; rejected: string };
  /** Cumulative successful holds per 100 ms since the first request (first run): the sellout curve. */
  selloutCurve?: number[];
  /**
   * Store connections that failed during these runs (summed over them), per component ('lab',
   * 'server 0' …) and store, by error code: a fault or a stopping store at work. Absent when none
   * failed. A server reports its counts every second, so a killed one loses its last second.
   */
  connectionErrors?: ConnectionErrorCount[];
  /**
   * CPU per component over the measured load (after the warm-up, the drive alone), from /proc:
   * user + system time of the lab's own process, each server instance, the store's server with its
   * backends, each Redis, the link proxy; per answered request and as a share of cores × duration.
   * A server the lab did not start is in notMeasured with the reason. With several runs, the run
   * whose total CPU per request is the median (`run` says which; every run's are in runs[]).
   */
  cpu?: CpuFigures;
  /** bench check: the load engine's own figures, and which checks ran on the sale. */
  engine?: EngineFigures;
  checks?: CheckRan[];
  /**
   * The lab process's own memory (not the servers', the store's or Redis's): its peak resident size
   * from seeding to the checks, and that per recorded operation. With several runs, the run with the
   * highest peak (`run` says which; every run's are in runs[]).
   */
  memory?: MemoryFigures;
}

/** A percentile summary as a load engine reports it (ms). */
export interface EngineSummary { count: number; p50: number; p99: number; max: number }

/** The load engine's own aggregated figures (bench check --engine-report): what the engine saw, unchecked. */
export interface EngineFigures {
  engine: 'artillery';
  /** The engine's reports read (one per worker when they were run apart). */
  reports: string[];
  /** How the reports were combined: counters added; percentiles the worst worker's when there are several. */
  merged: string;
  /** From the engine's first to its last counter (its reporting periods round these to whole periods). */
  durationMs: number | null;
  /** Hold requests sent, and per second over durationMs. */
  requests: number;
  rps: number | null;
  /** The lab's outcome words: ok, conflict, soldOut, rejected, error, timeout. */
  outcomes: Record<string, number>;
  statusCodes: Record<string, number>;
  wireErrors: Record<string, number>;
  journeys: Record<string, number>;
  users: { arrived: number; repeated: number };
  winnersMs: EngineSummary | null;
  losersMs: EngineSummary | null;
  /** The latest successful hold after its worker's first arrival (max of seatlab.ok_after_ms). */
  timeToSelloutMs: number | null;
}

/** One check `bench check` can run, and whether it ran (and if not, what it needed). */
export interface CheckRan { check: string; ran: boolean; detail: string }

export interface Report {
  schemaVersion: typeof SCHEMA_VERSION;
  runId: string;
  createdAt: string;
  tool: { name: 'seatlab'; version: string };
  scenario: { name: string; description: string; expectation: string; params: Record<string, number> };
  config: {
    strategies: string[];
    /** Strategies left out because their servers could not be had (`--strategy all`). */
    skipped: { strategy: string; reason: string }[];
    redisNodes: number;
    /**
     * --redis-topology sentinel: the one logical Redis was a primary and a replica behind three
     * Sentinels; cluster: a Redis Cluster of redisCluster's shape (absent: independent servers).
     */
    redisTopology?: 'sentinel' | 'cluster';
    /** --redis-cluster: its primaries and the replicas of each. */
    redisCluster?: { primaries: number; replicasPerPrimary: number };
    strategyOptions: Record<string, string>;
    holdTtlMs: number;
    poolSize: number;
    timeoutSec: number;
    seed: number;
    runs: number;
    warmupMs: number;
    command: string[];
    /** Booking server processes per run. */
    instances?: number;
    /** The waiting room: its limits when it was on, 'off' when not (absent in reports before this field: on for journey and queue-rush, off otherwise). */
    queue?: QueueConfig | 'off';
    /** The faults injected (one column of the fault matrix each), when --nemesis was given. */
    nemesis?: { faults: string[]; everyMs?: number; forMs?: number };
    livenessGraceMs?: number;
    /** The stores this run compared, in the order the cells ran (absent before there were two: pg). */
    stores?: Dialect[];
    /**
     * Links (TCP proxies of the lab's) between every server instance and every store: the round
     * trips they added (one cell per value; half each way), the jitter, why they were on, and what a
     * link costs by itself (a round trip through a 0 ms link minus a direct one, µs, on this machine).
     */
    links?: { latenciesMs: number[]; jitterMs: number; reason: string; overheadUs?: number; proxyPid?: number };
    /** PostgreSQL commit durability: full (synchronous_commit on) or async (off). */
    dbDurability?: string;
  };
  machine: MachineInfo;
  servers: {
    /** Every store of the run: engine, version, how it was had, the isolation level it ran at, key settings. */
    stores?: StoreInfo[];
    /** Kept when PostgreSQL is among the stores, for readers of reports written before there were two. */
    postgres?: { version: string; kind: string; settings: Record<string, string> };
    /**
     * nodes: independent Redis servers; with topology 'sentinel', the data nodes (primary + replica)
     * of one logical Redis, watched by `sentinels` Sentinels; with 'cluster', every node of the
     * cluster (`primaries` of them primaries, each with `replicasPerPrimary` replicas).
     */
    redis?: { version: string; kind: string; nodes: number; settings: Record<string, string>; topology?: 'single' | 'sentinel' | 'cluster'; sentinels?: number; primaries?: number; replicasPerPrimary?: number };
  };
  git: { commit: string | null; dirty: boolean | null };
  /** Black-box mode: the API measured instead of a strategy (src/target). */
  target?: {
    url: string;
    /** "this machine" when the target listens on a loopback address, else "remote". */
    where: 'this machine' | 'remote';
    profile: Record<string, unknown>;
    health?: { status: number; body: string };
    /** How the truth was read: from the target's database (strong) or from what its API shows (weaker). */
    truth: 'database' | 'redis' | 'api';
  };
  results: StrategyResult[];
  /** Measured in the same run: the booking server answering a no-op route under the same load model. */
  ceilings?: { http?: { perSec: number; p99Ms: number; durationMs: number } };
  /** Every --threshold for every strategy it applies to. */
  thresholds: ThresholdResult[];
  summary: { exitCode: number; failedStrategies: string[] };
}
