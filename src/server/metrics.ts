import { performance } from 'node:perf_hooks';
import type { Request, RequestHandler, Response } from 'express';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Counters, StrategyObserver } from '../core/ports.js';

// What one booking server exports at GET /metrics (the names are a contract with the lab's scraper
// and the Grafana dashboard: /work/contract-17.md, docs/observability.md). One Registry per server,
// never prom-client's global one: tests start several servers in one process, and each must report
// only its own requests under its own strategy and instance labels.

/** Seconds; resolves 0.1 ms to 10 s. Every histogram uses them. */
export const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const HOLD_OUTCOMES = ['ok', 'taken', 'busy', 'sold_out', 'not_found', 'error'] as const;
export const PAYMENT_OUTCOMES = ['ok', 'replayed', 'insufficient', 'busy', 'rejected', 'error'] as const;
export const BACKGROUND_TASKS = ['sweeper', 'relay', 'reconciler', 'admission'] as const;
export type HoldKind = 'seat' | 'ticket';
export type HoldOutcomeLabel = (typeof HOLD_OUTCOMES)[number];
export type PaymentOutcome = (typeof PAYMENT_OUTCOMES)[number];
export type BackgroundTask = (typeof BACKGROUND_TASKS)[number];

export interface MetricsOptions {
  strategy: string;
  /** The server's index in the run ("0" when it runs alone). */
  instance: string;
  /** The strategy's own counters (retries, lockFailures), mirrored as Prometheus counters. */
  counters: () => Counters;
}

interface HttpSeries { count: Counter.Internal; duration: Histogram.Internal<string> }

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly httpCount: Counter<'route' | 'method' | 'status'>;
  private readonly httpDuration: Histogram<'route' | 'method' | 'status'>;
  // Children bound to their labels once, so a request costs a map lookup rather than prom-client's
  // label validation and hashing of a fresh object.
  private readonly httpSeries = new Map<string, HttpSeries>();
  private readonly holds = new Map<string, Counter.Internal>();
  private readonly payments = new Map<string, Counter.Internal>();
  private readonly runs = new Map<string, Counter.Internal>();
  private readonly lockWaitSeconds: Histogram;
  private readonly poolWaitSeconds: Histogram;
  private readonly querySeconds: Histogram;
  private readonly redisSeconds: Histogram<'command'>;
  private readonly redisByCommand = new Map<string, Histogram.Internal<string>>();

  constructor(o: MetricsOptions) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ strategy: o.strategy, instance: o.instance });
    // Event-loop lag (nodejs_eventloop_lag_p99_seconds …), CPU, memory, GC: prom-client's defaults.
    collectDefaultMetrics({ register: this.registry });

    this.httpCount = new Counter({ name: 'seatlab_http_requests_total', help: 'HTTP requests answered, by route pattern ("unmatched" when no route matched), method and status', labelNames: ['route', 'method', 'status'], registers });
    this.httpDuration = new Histogram({ name: 'seatlab_http_request_duration_seconds', help: 'Time from the request reaching the app to the response being written, by route, method and status', labelNames: ['route', 'method', 'status'], buckets: BUCKETS, registers });

    const holds = new Counter({ name: 'seatlab_hold_outcomes_total', help: 'Holds answered by the booking core: kind seat|ticket, outcome ok|taken|busy|sold_out|not_found|error', labelNames: ['kind', 'outcome'], registers });
    // Every outcome is exported from the start at 0, so a rate over the first increase is not lost.
    for (const kind of ['seat', 'ticket'] as const) for (const outcome of HOLD_OUTCOMES) this.holds.set(`${kind} ${outcome}`, zero(holds.labels(kind, outcome)));
    const payments = new Counter({ name: 'seatlab_payment_outcomes_total', help: 'Payments answered: ok|replayed|insufficient|busy|rejected|error', labelNames: ['outcome'], registers });
    for (const outcome of PAYMENT_OUTCOMES) this.payments.set(outcome, zero(payments.labels(outcome)));

    this.lockWaitSeconds = new Histogram({ name: 'seatlab_lock_wait_seconds', help: 'Per attempt, what the strategy waited for a lock or a contended row', buckets: BUCKETS, registers });
    mirror(registers, 'seatlab_lock_retries_total', "Lock retries (the strategy's retries counter)", () => o.counters().retries);
    mirror(registers, 'seatlab_lock_failures_total', 'Gave up on a lock or a contended row (the strategy\'s lockFailures counter)', () => o.counters().lockFailures);

    this.poolWaitSeconds = new Histogram({ name: 'seatlab_db_pool_wait_seconds', help: 'Time waiting to acquire a pooled database connection', buckets: BUCKETS, registers });
    this.querySeconds = new Histogram({ name: 'seatlab_db_query_seconds', help: 'Time in database queries, sent to answered', buckets: BUCKETS, registers });
    this.redisSeconds = new Histogram({ name: 'seatlab_redis_command_seconds', help: 'Redis command time, sent to answered, by lower-case command name', labelNames: ['command'], buckets: BUCKETS, registers });

    const runs = new Counter({ name: 'seatlab_background_runs_total', help: 'Runs of background jobs in this process: task sweeper|relay|reconciler|admission, result ok|error', labelNames: ['task', 'result'], registers });
    for (const task of BACKGROUND_TASKS) for (const result of ['ok', 'error']) this.runs.set(`${task} ${result}`, zero(runs.labels(task, result)));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The exposition, less samples whose value is NaN. prom-client writes one ("Nan") for the event-loop
   * lag's mean and stddev when no delay was sampled since the previous scrape (two scrapes within the
   * monitor's 10 ms resolution: the lab's last scrape, a paused instance's queued scrapes answered at
   * once, the lab and a Prometheus together). It carries no number, and the lab's parser
   * (prom2javascript) rejects the whole text for it, turning the scrape into a gap.
   */
  async text(): Promise<string> {
    const text = await this.registry.metrics();
    return text.includes(' Nan\n') ? text.replace(/^.* Nan\n/gm, '') : text;
  }

  httpRequest(route: string, method: string, status: number, seconds: number): void {
    const key = `${status} ${method} ${route}`;
    let s = this.httpSeries.get(key);
    if (!s) {
      const labels = [route, method, String(status)];
      s = { count: this.httpCount.labels(...labels), duration: this.httpDuration.labels(...labels) };
      this.httpSeries.set(key, s);
    }
    s.count.inc();
    s.duration.observe(seconds);
  }

  hold(kind: HoldKind, outcome: HoldOutcomeLabel): void {
    this.holds.get(`${kind} ${outcome}`)!.inc();
  }

  payment(outcome: PaymentOutcome): void {
    this.payments.get(outcome)!.inc();
  }

  backgroundRun(task: BackgroundTask, ok: boolean): void {
    this.runs.get(`${task} ${ok ? 'ok' : 'error'}`)!.inc();
  }

  /** Bound callbacks for the places that only take a function (pool, periodic jobs, Redis clients). */
  readonly lockWait = (seconds: number): void => this.lockWaitSeconds.observe(seconds);
  readonly poolWait = (seconds: number): void => this.poolWaitSeconds.observe(seconds);
  readonly query = (seconds: number): void => this.querySeconds.observe(seconds);
  readonly redisCommand = (command: string, seconds: number): void => {
    let h = this.redisByCommand.get(command);
    if (!h) {
      h = this.redisSeconds.labels(command.toLowerCase());
      this.redisByCommand.set(command, h);
    }
    h.observe(seconds);
  };
  readonly runOf = (task: BackgroundTask) => (ok: boolean): void => this.backgroundRun(task, ok);

  /** What the strategy reports through (src/core/ports.ts StrategyObserver). */
  readonly observer: StrategyObserver = {
    lockWait: this.lockWait,
    backgroundRun: (task, ok) => this.backgroundRun(task, ok),
  };
}

function zero(c: Counter.Internal): Counter.Internal {
  c.inc(0);
  return c;
}

/**
 * A Prometheus counter that follows a count kept elsewhere (the strategy's counters): at each
 * scrape it is raised by what the count grew since the last one, so it equals the count exactly and
 * nothing is counted twice.
 */
function mirror(registers: Registry[], name: string, help: string, read: () => number | undefined): void {
  let seen = 0;
  new Counter({
    name, help, registers,
    collect() {
      const now = read() ?? 0;
      if (now > seen) {
        this.inc(now - seen);
        seen = now;
      }
    },
  });
}

/**
 * Records every answered request on 'finish'. The route is the pattern that matched (the router's
 * base, captured by `routeBase`, joined with req.route.path), so /api/schedules/7/seats and …/8/seats
 * are one series; no match (404, or a body refused before routing) is "unmatched". A request the
 * client abandoned before the answer was written is not counted.
 */
export function httpMetrics(m: ServerMetrics): RequestHandler {
  return (req, res, next) => {
    const t0 = performance.now();
    res.once('finish', () => m.httpRequest(routeOf(req, res), req.method, res.statusCode, (performance.now() - t0) / 1000));
    next();
  };
}

/**
 * First middleware of a mounted router: remembers its base path. Express restores req.baseUrl when a
 * request leaves the router (an error going to the app's handler), so at 'finish' it may be gone.
 */
export const routeBase: RequestHandler = (req, res, next) => {
  (res.locals as { routeBase?: string }).routeBase = req.baseUrl;
  next();
};

function routeOf(req: Request, res: Response): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path !== 'string') return 'unmatched';
  return ((res.locals as { routeBase?: string }).routeBase ?? '') + path;
}
