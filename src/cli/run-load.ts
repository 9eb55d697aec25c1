import type { Knex } from 'knex';
import type { SeatLockStrategy } from '../core/ports.js';
import type { Prepared } from '../../scenarios/types.js';
import type { Provisioned } from '../infra/chain.js';
import type { RunResult } from '../load/result.js';
import type { LoadPlan } from '../load/plan.js';
import type { HistoryLog } from '../load/history-log.js';
import type { HistoryFileWriter } from '../load/history-file.js';
import type { ServerConfig } from '../server/start.js';
import type { Fault, FaultEvent, NemesisTargets } from '../nemesis/types.js';
import type { LinkHost, LinkToxics } from '../infra/link.js';
import { closeLinks, linkInstances } from '../load/instance-links.js';
import type { RunOptions } from './options.js';
import type { Io } from './run.js';
import { driveClosed } from '../load/closed-driver.js';
import { driveOpen } from '../load/open-driver.js';
import { driveJourneys, type JourneyResult } from '../load/journey-driver.js';
import { startInstances, sumCounters, type Instance } from '../load/instances.js';
import { Recorder, type Fairness } from '../load/recorder.js';
import { insideServer, startScraper, type InsideServer } from '../load/scrape.js';
import { startNemesis } from '../nemesis/schedule.js';
import { probeLiveness, type LivenessResult } from '../check/liveness.js';
import { Progress } from './progress.js';
import { stoppingFor } from '../infra/cleanup.js';
import { startCpuWindow, type CpuFigures } from '../load/cpu.js';
import { runComponents } from '../load/cpu-components.js';
import { dialectOfUrl } from '../db/dialect.js';

// The HTTP load phase of one run: N server instances, a warm-up, the measured load with the fault
// schedule running beside it, the faults healed, then the liveness probe while the servers are
// still up. Returns plain data; checking and reporting happen elsewhere.

/** The first fault starts this far into the load, once the rush is under way. */
export const FIRST_FAULT_MS = 1000;

export interface LoadInput {
  o: RunOptions;
  strategy: SeatLockStrategy;
  fault?: Fault;
  server: ServerConfig;
  db: Knex;
  prepared: Prepared;
  warmup?: { scheduleId: number; plan: LoadPlan };
  probe?: { token: string; userId: number };
  redis: Provisioned[];
  /** The store's server, for faults that act on it (crash-db); absent for a store seatlab cannot reach as a process. */
  dbServer?: Provisioned;
  adminUrl: string;
  dbName: string;
  label: string;
  io: Io;
  /** Links between each instance and the stores: the proxy host and their toxics (absent: direct connections). */
  links?: { host: LinkHost; toxics: LinkToxics; redisDataNodes?: { host: string; port: number }[] };
  /** Runs the scenario's database checks while the servers are still up, before the liveness probe writes. */
  checkBeforeProbe: (result: RunResult, history: HistoryLog) => Promise<void>;
  /** Where the history streams to while the load runs (absent: it is kept in memory only). */
  historyFile?: HistoryFileWriter;
}

export interface LoadOutput {
  result: RunResult | JourneyResult;
  /** The history, columnar; its file (if streamed) is complete once `history.close()` has resolved. */
  history: HistoryLog;
  counters: Record<string, number>;
  warmup?: { ok: number; unknown: number };
  nemesis?: { fault: string; everyMs: number; forMs: number; firstMs: number; events: FaultEvent[] };
  liveness?: Omit<LivenessResult, 'ops'>;
  restarts: number;
  fairness?: Fairness;
  /** Inside the servers during the load: their /metrics, scraped once a second (src/load/scrape.ts). */
  inside?: InsideServer;
  /** CPU per component over the measured load (src/load/cpu.ts). */
  cpu?: CpuFigures;
}

export async function loadOverHttp(x: LoadInput): Promise<LoadOutput> {
  const { o, io, label } = x;
  // Links up: each instance gets its own links to the stores, so a fault can cut one instance off.
  const linked = x.links ? await linkInstances(x.links.host, o.instances, x.server, x.links.toxics, x.links.redisDataNodes) : undefined;
  let instances: Instance[];
  try {
    instances = await startInstances(o.instances, linked?.configs ?? x.server, { onLog: (i, l) => io.err(`${label} server${o.instances > 1 ? ` ${i}` : ''}: ${l.trimEnd()}`) });
  } catch (err) {
    if (linked) await closeLinks(linked.links);
    throw err;
  }
  const urls = instances.map((i) => i.url);
  // Silent once a signal is stopping the run: the CLI then says what is stopping, and nothing else.
  const progress = new Progress((t) => { if (!stoppingFor()) process.stderr.write(t); }, process.stderr.isTTY === true);
  try {
    let warm: LoadOutput['warmup'];
    let before: Record<string, number> = {};
    if (x.warmup) {
      // The same hold path on a schedule of its own, so the sale is measured whole on a warm server;
      // left out of the figures, not out of the checks.
      const w = await driveClosed(x.warmup.plan, { urls, connections: o.params.connections, timeoutSec: o.timeoutSec, maxDurationSec: o.warmupMs / 1000, history: false });
      warm = { ok: w.outcomes.ok, unknown: w.outcomes.timeout };
      io.err(`${label} warm-up: ${w.requests} requests in ${(w.durationMs / 1000).toFixed(1)} s (not measured)`);
      before = await sumCounters(instances);
    }

    const rec = new Recorder(instances.length);
    if (x.historyFile) rec.history.streamTo(x.historyFile);
    const now = () => rec.now();
    const targets: NemesisTargets = { instances, redis: x.redis, ...(x.dbServer ? { db: x.dbServer } : {}), adminDbUrl: x.adminUrl, dbName: x.dbName, lockTtlMs: lockTtl(x), redisKeyPrefix: x.server.redisKeyPrefix, ...(linked ? { links: linked.links } : {}) };
    const schedule = x.fault ? { fault: x.fault, ...x.fault.defaults(targets), ...pick(o), firstMs: FIRST_FAULT_MS } : undefined;
    const nemesis = schedule
      ? startNemesis(schedule, targets, now,
        (e) => io.err(`${label} nemesis ${e.fault} at ${(e.startMs / 1000).toFixed(1)}–${(e.endMs / 1000).toFixed(1)} s: ${e.target}: ${e.detail}`))
      : undefined;
    const onProgress = (p: { elapsedMs: number; requests: number; ok: number; errors: number }) => progress.update(label, p);
    let result: RunResult | JourneyResult;
    let history: HistoryLog;
    let fairness: LoadOutput['fairness'];
    // Straight to each instance, not through a link: what the servers say about themselves, not the network.
    const scrapeFrom = now();
    const scraper = startScraper({ instances: instances.length, urlOf: (i) => instances[i]!.url, now });
    // CPU accounting: every process of the run, read just before and just after the measured load.
    const cpu = startCpuWindow(cpuComponentsOf(x, instances));
    try {
      if (x.prepared.journeys) {
        const j = await driveJourneys(x.prepared.journeys, { urls, concurrency: o.params.connections, onProgress, queue: o.queue !== undefined, recorder: rec });
        result = j;
        history = j.history;
        fairness = rec.fairness(x.prepared.seatCount);
      } else if (o.rate) {
        const r = await driveOpen(x.prepared.plan, { urls, rate: o.rate, maxConnections: o.maxConnections, timeoutSec: o.timeoutSec, maxDurationSec: o.maxLoadMs / 1000, onProgress, recorder: rec });
        result = r;
        history = r.recorder.history;
        fairness = r.recorder.fairness(x.prepared.seatCount);
        io.err(`${label} open model: ${r.rate.achieved}/s of ${r.rate.requested}/s started, ${r.rate.dropped} dropped (all ${o.maxConnections} connections busy), ` +
          `peak ${r.rate.peakConnections} in flight, generator late by p99 ${r.rate.startLagMs.p99} ms`);
      } else {
        const r = await driveClosed(x.prepared.plan, { urls, connections: o.params.connections, timeoutSec: o.timeoutSec, maxDurationSec: o.maxLoadMs / 1000, onProgress, recorder: rec });
        result = r;
        history = r.recorder.history;
        fairness = r.recorder.fairness(x.prepared.seatCount);
      }
    } finally {
      progress.done();
    }
    const cpuFigures = cpu.end(result.requests);
    const inside = insideServer(await scraper.stop(), instances.length, scrapeFrom);
    const events = nemesis ? await nemesis.stop() : undefined;
    if (x.prepared.journeys) {
      // Abandoned holds must expire (TTL, then a sweep) and their events be relayed before checking.
      io.err(`${label} waiting ${((o.holdTtlMs + 2500) / 1000).toFixed(1)} s for abandoned holds to expire`);
      await new Promise((r) => setTimeout(r, o.holdTtlMs + 2500));
    }
    await x.checkBeforeProbe(result, history);
    let liveness: LoadOutput['liveness'];
    const kind = x.o.scenario.kind;
    if (x.probe && (kind === 'seats' || kind === 'tickets') && !o.queue) {
      const l = await probeLiveness({ db: x.db, urls, scheduleId: x.prepared.scheduleId, kind, probe: x.probe, graceMs: o.livenessGraceMs, now });
      // Appended after the load: each probe's index follows the load's last.
      for (const op of l.ops) history.push(op);
      const { ops: _ops, ...rest } = l;
      liveness = rest;
      if (l.stuck > 0 || l.unanswered > 0) io.err(`${label} liveness: ${l.stuck} stuck, ${l.unanswered} never obtained of ${l.probed} probed after ${o.livenessGraceMs} ms`);
    }
    const after = await sumCounters(instances);
    const counters = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
    return {
      result, history, counters, warmup: warm, liveness, fairness, inside, cpu: cpuFigures,
      restarts: instances.reduce((a, i) => a + i.restarts, 0),
      ...(schedule && events ? { nemesis: { fault: schedule.fault.name, everyMs: schedule.everyMs, forMs: schedule.forMs, firstMs: schedule.firstMs, events } } : {}),
    };
  } finally {
    await stopAll(instances);
    if (linked) await closeLinks(linked.links);
  }
}

async function stopAll(instances: Instance[]): Promise<void> {
  await Promise.all(instances.map((i) => i.stop().catch(() => undefined)));
}

/** The run's processes: its instances, the store's server, the Redis its servers use, the link proxy, the lab. */
function cpuComponentsOf(x: LoadInput, instances: Instance[]) {
  return runComponents({
    instances, ...(x.dbServer ? { store: { dialect: dialectOfUrl(x.adminUrl), server: x.dbServer } } : {}),
    redis: x.server.redisUrls && x.server.redisUrls.length > 0 ? x.redis : [], ...(x.links ? { linkHostPid: x.links.host.pid } : {}),
  });
}

function lockTtl(x: LoadInput): number | undefined {
  const ttl = x.server.strategyOptions?.lockTtlMs;
  return ttl ? Number(ttl) : undefined;
}

function pick(o: RunOptions): { everyMs?: number; forMs?: number } {
  return { ...(o.nemesis?.everyMs !== undefined ? { everyMs: o.nemesis.everyMs } : {}), ...(o.nemesis?.forMs !== undefined ? { forMs: o.nemesis.forMs } : {}) };
}
