import { renderCheckMarkdown } from './render-check.js';
import type { Report, StrategyResult } from './schema.js';
import type { StoreInfo } from './metadata.js';
import { bareLabel, grouped, labeller, renderFaultsMarkdown, renderInstancesMarkdown, reportStores, resultLabel, rttText, showsLinks, showsStore } from './render-faults.js';
import { renderLinksMarkdown } from './render-links.js';
import { renderFairnessMarkdown } from './render-fairness.js';
import { markdownTable, ms, opt } from './tables.js';

export { markdownTable, ms };
import { renderInsideMarkdown } from './render-inside.js';
import { renderCpuMarkdown } from './render-cpu.js';
import { renderMemoryMarkdown } from './render-memory.js';

const n = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

const ENGINES: Record<StoreInfo['engine'], string> = { postgresql: 'PostgreSQL', mysql: 'MySQL', mariadb: 'MariaDB' };

/** "MariaDB 11.4.2", "PostgreSQL 16.4". */
export const engineName = (s: Pick<StoreInfo, 'engine' | 'version'>) => `${ENGINES[s.engine] ?? s.engine} ${s.version}`;

/** Each store, as the report's servers record it (a report from before there were two has servers.postgres only). */
export function storesOf(r: Report): (StoreInfo & { store: string })[] {
  const stores = reportStores(r);
  if (r.servers.stores?.length) return r.servers.stores.map((s, i) => ({ ...s, store: stores[i] ?? (s.engine === 'postgresql' ? 'pg' : 'mysql') }));
  const pg = r.servers.postgres;
  return pg ? [{ engine: 'postgresql', version: pg.version, kind: pg.kind, isolation: pg.settings.default_transaction_isolation ?? 'read committed', settings: pg.settings, store: 'pg' }] : [];
}

/**
 * One store for the machine line: PostgreSQL with its durability and the settings that make it
 * (what a crash can lose) and the ones it always listed, others with their isolation and settings.
 */
function storeText(s: StoreInfo, withIsolation: boolean): string {
  const pg = s.engine === 'postgresql';
  // wal_writer_delay is absent from reports written before it was recorded.
  const keys = pg ? ['synchronous_commit', ...(s.settings.wal_writer_delay !== undefined ? ['wal_writer_delay'] : []), 'shared_buffers', 'max_connections'] : Object.keys(s.settings);
  const settings = keys.filter((k) => s.settings[k] !== undefined || pg).map((k) => `${k}=${s.settings[k]}`).join(', ');
  return `${engineName(s)} (${s.kind}; ${withIsolation ? `isolation ${s.isolation}; ` : ''}${s.durability ? `durability ${s.durability}: ` : ''}${settings})`;
}

export function machineLine(r: Report): string {
  const m = r.machine;
  const withIsolation = showsStore(r);
  const stores = storesOf(r).map((s) => storeText(s, withIsolation)).join(' · ');
  const redis = r.servers.redis ? ` · Redis ${r.servers.redis.version} (${redisShape(r.servers.redis)})` : '';
  const git = r.git.commit ? ` · git ${r.git.commit.slice(0, 10)}${r.git.dirty ? ' (dirty)' : ''}` : '';
  const target = r.target ? `target ${r.target.url} (${r.target.where === 'this machine' ? 'target on this machine: it shares these cores with the load generator' : 'remote'}) · ` : '';
  return `${target}${m.cpuModel} · ${m.cores} cores · ${m.memGiB} GiB · node ${m.node} · ${m.os} · ${stores}${redis}${git}`;
}

/** "3 × embedded", "primary + replica behind 3 Sentinels, embedded" or "cluster of 3 primaries, embedded". */
function redisShape(redis: NonNullable<Report['servers']['redis']>): string {
  if (redis.topology === 'sentinel') return `primary + replica behind ${redis.sentinels ?? '?'} Sentinels, ${redis.kind}`;
  if (redis.topology === 'cluster') return `${clusterText(redis.primaries, redis.replicasPerPrimary)}, ${redis.kind}`;
  return `${redis.nodes} × ${redis.kind}`;
}

function redisLoadText(c: Report['config']): string {
  if (c.redisTopology === 'sentinel') return 'one Redis behind Sentinel (primary + asynchronous replica)';
  if (c.redisTopology === 'cluster') return `one ${clusterText(c.redisCluster?.primaries, c.redisCluster?.replicasPerPrimary)} (keys spread by hash slot)`;
  return `${c.redisNodes} Redis node(s)`;
}

const clusterText = (primaries: number | undefined, replicas: number | undefined) =>
  `Redis Cluster of ${primaries ?? '?'} primaries${replicas ? ` with ${replicas} replica(s) each` : ''}`;

/** The servers section: every store with its engine, version, kind and the isolation level it ran at, then Redis. */
export function renderServersMarkdown(r: Report): string[] {
  const stores = storesOf(r);
  if (stores.length === 0) return [];
  const out = ['## Servers', '', markdownTable(['store', 'engine', 'version', 'kind', 'isolation', 'settings'],
    stores.map((s) => [s.store, ENGINES[s.engine] ?? s.engine, s.version, s.kind, s.isolation, Object.entries(s.settings).map(([k, v]) => `${k}=${v}`).join(', ')]), 6), ''];
  const redis = r.servers.redis;
  if (redis) out.push(`Redis ${redis.version}: ${redisShape(redis)} (${Object.entries(redis.settings).map(([k, v]) => `${k}=${v}`).join(', ')}).`, '');
  if (stores.length > 1) {
    out.push('Every strategy ran on every store with the same seed and load, interleaved (each run: every strategy on every store, in turn), ' +
      'each run on a fresh database; the isolation level is each server\'s default unless a strategy sets its own.', '');
  }
  return out;
}

const HEADER = ['strategy', 'safe', 'req/s', 'ok/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'ok', 'conflict', 'sold out', 'rejected', 'error', 'timeout', 'oversold', 'retries', 'lock failures', 'DB avoided', 'efficiency', 'verdict'];

/** "median [low–high]" when there were several runs, the plain figure otherwise. */
function withCi(value: string, ci: [number, number] | undefined, fmt: (x: number) => string): string {
  return ci && ci[0] !== ci[1] ? `${value} [${fmt(ci[0])}–${fmt(ci[1])}]` : value;
}

/** A count of one sale, with the min–max over runs when they differ. */
function withRange(v: number, range: [number, number] | undefined): string {
  return range && range[0] !== range[1] ? `${v} (${range[0]}–${range[1]})` : String(v);
}

/** The comparison table's columns; with stores, a store column after the strategy. */
export const tableHeader = (withStore: boolean, withLink = false) => [HEADER[0]!, ...(withStore ? ['store'] : []), ...(withLink ? ['link RTT'] : []), ...HEADER.slice(1)];

/** The identity columns of a row: the label, then the store and the link's round trip when the report shows them. */
const idCells = (s: StrategyResult, withStore: boolean, withLink: boolean) => [withLink ? bareLabel(s) : resultLabel(s), ...(withStore ? [s.store ?? 'pg'] : []), ...(withLink ? [rttText(s)] : [])];

export function tableRow(s: StrategyResult, withStore = false, withLink = false): string[] {
  const o = s.outcomes;
  const l = s.latencyMs;
  const st = s.stats && s.stats.rps.n > 1 ? s.stats : undefined;
  const r0 = (x: number) => x.toFixed(0);
  // No latency measured (bench check without a history: the engine's own figures are elsewhere).
  const lat = l.count > 0 || s.requests === 0 ? [withCi(ms(l.p50), st?.p50.ci95, ms), ms(l.p90), withCi(ms(l.p99), st?.p99.ci95, ms), withCi(ms(l.p999), st?.p999.ci95, ms), ms(l.max)] : ['–', '–', '–', '–', '–'];
  return [...idCells(s, withStore, withLink), s.safe ? 'yes' : 'no', withCi(n(s.rps), st?.rps.ci95, r0), withCi(n(s.okPerSec), st?.okPerSec.ci95, r0),
    ...lat,
    ...(['ok', 'conflict', 'soldOut', 'rejected', 'error', 'timeout'] as const).map((k) => withRange(o[k], s.countRanges?.[k])),
    s.oversold > 0 ? `**${s.oversold}**` : '0', String(s.retries), String(s.lockFailures), String(s.dbAvoided), s.efficiency === undefined ? (s.ceilingInvalid ? 'invalid' : '–') : s.efficiency.toFixed(2), s.verdict];
}

export const SALE_HEADER = ['strategy', 'sold out in', 'holds/s until then', 'winners p50 / p99 ms', 'losers p50 / p99 ms', 'errors p99 ms', 'first come', 'oversold', 'verdict'];

/** The sale table's columns; with stores or links, their columns after the strategy (as tableHeader). */
export const saleHeader = (withStore: boolean, withLink = false) => [SALE_HEADER[0]!, ...(withStore ? ['store'] : []), ...(withLink ? ['link RTT'] : []), ...SALE_HEADER.slice(1)];


/** The sale as a ticketing engineer reads it first: when it sold out, who waited how long, who got in. */
export function saleRow(s: StrategyResult, withStore = false, withLink = false): string[] {
  const b = s.latencyByOutcome;
  const pair = (l?: { count: number; p50: number; p99: number }) => (l && l.count > 0 ? `${ms(l.p50)} / ${ms(l.p99)}` : '–');
  return [...idCells(s, withStore, withLink), opt(s.sale?.timeToSelloutMs, (x) => `${(x / 1000).toFixed(2)} s`), opt(s.sale?.holdsPerSecUntilSellout, (x) => x.toFixed(0)),
    pair(b?.ok), pair(b?.rejected), b && b.error.count > 0 ? ms(b.error.p99) : '–',
    opt(s.sale?.firstComeShare, (x) => x.toFixed(2)), s.oversold > 0 ? `**${s.oversold}**` : '0', s.verdict];
}

export function renderMarkdown(report: Report): string {
  // The same strategy on every store side by side, whatever order the results came in.
  const r: Report = { ...report, results: grouped(report.results) };
  const withStore = showsStore(r);
  const withLink = showsLinks(r);
  const label = labeller(r);
  const left = 2 + (withStore ? 1 : 0) + (withLink ? 1 : 0);
  const p = r.scenario.params;
  const out: string[] = [];
  out.push(`# seatlab · ${r.scenario.name} · ${r.runId}`, '');
  out.push(`**Machine:** ${machineLine(r)}`, '');
  if (r.results.some((s) => s.sale)) {
    out.push('## The sale', '');
    out.push(markdownTable(saleHeader(withStore, withLink), r.results.map((s) => saleRow(s, withStore, withLink)), left - 1), '');
    out.push('Sold out in: first request to the last successful hold. Winners: successful holds; losers: 409 and other 4xx answers; ' +
      'each from its own HDR histogram, requests given up on included at the time they were given up on. First come: the share of ' +
      'successful holds that went to the first `seats` users to ask; the next section says who got the seats in full. One sale: the median run.', '');
    out.push(...renderFairnessMarkdown(r));
    out.push('## Throughput and all requests', '');
  }
  out.push(markdownTable(tableHeader(withStore, withLink), r.results.map((s) => tableRow(s, withStore, withLink)), left), '');
  // A journey has no sale table; who got the seats follows its main table.
  if (!r.results.some((s) => s.sale)) out.push(...renderFairnessMarkdown(r));
  out.push(...renderLinksMarkdown(r));
  out.push(...renderInsideMarkdown(r));
  for (const s of r.config.skipped) out.push(`- **${s.strategy}** was not run: ${s.reason}`);
  if (r.config.skipped.length > 0) out.push('');
  out.push(`> ${r.machine.note}. Load average before the run: ${r.machine.loadAvg1m}.`, '');
  out.push(`**Scenario:** ${r.scenario.name} — ${r.scenario.description}. ` +
    Object.entries(p).map(([k, v]) => `${k}=${v}`).join(', ') + `. Must hold afterwards: ${r.scenario.expectation}.`, '');
  const stores = reportStores(r);
  const checkedAfter = renderCheckMarkdown(r);
  if (checkedAfter.length > 0) out.push(...checkedAfter);
  else out.push(`**Runs:** ${r.config.runs} per strategy${stores.length > 1 ? ` on each store (${stores.join(', ')})` : ''}, interleaved; rates and latencies are the median run with a 95% interval ` +
    `of the mean in brackets, counts are one sale's: the median run's, with the min–max over runs in parentheses (never a sum over runs); oversold and stuck are the worst run's. Before each run a ${r.config.warmupMs} ms ` +
    'warm-up holds seats on a schedule of its own: left out of the figures, not out of the checks.', '');
  const open = checkedAfter.length > 0 ? undefined : r.results.find((x) => x.load.model === 'open');
  if (open) out.push(`**Load:** open model over HTTP: ${open.load.rate!.requested} users arrive per second on a fixed schedule (user k at k/${open.load.rate!.requested} s), ` +
      `each sent at its intended time whether or not earlier ones were answered, on at most ${open.load.rate!.maxConnections ?? open.load.connections} connections; ` +
      'latency counts from the intended send time (a follow-up after a 409 from its previous answer), so queueing in the server or in the load generator shows as latency. ' +
      'An arrival that finds every connection busy is dropped: not sent, not in the latency figures, counted. ' +
      r.results.map((x) => `${label(x)}: ${x.load.rate?.achieved ?? '?'}/s started${x.load.rate?.shortfall ? ' (SHORTFALL)' : ''}, ` +
        `${x.load.rate?.dropped ?? '?'} dropped, peak ${x.load.rate?.peakConnections ?? '?'} in flight, generator late by p99 ${x.load.rate?.startLagMs?.p99 ?? '?'} ms`).join('; ') + '.', '');
  if (!open && checkedAfter.length === 0) out.push(`**Load:** closed model over HTTP (each connection sends its next request when the previous one is answered); ` +
    `latency per request, all outcomes; hold TTL ${r.config.holdTtlMs} ms; server pool ${r.config.poolSize} connections` +
    `${r.config.redisNodes > 0 ? `; ${redisLoadText(r.config)}` : ''}` +
    `${typeof r.config.queue === 'object' ? `; waiting room on (at most ${r.config.queue.maxActive} admitted at once, ${r.config.queue.ratePerSec} admissions/s, admission valid ${r.config.queue.activeTtlMs} ms)` : r.config.queue === 'off' ? '; waiting room off' : ''}.`, '');

  if (r.target) {
    const t = r.target;
    out.push('## Target', '');
    out.push(`Black-box run against **${t.url}** (${t.where}) through the profile **${String(t.profile.name)}**` +
      `${typeof t.profile.note === 'string' && t.profile.note ? ` (${t.profile.note})` : ''}. Health: ${t.health ? `${t.health.status} ${t.health.body.slice(0, 120)}` : 'not asked'}. ` +
      (t.truth === 'database' ? 'Oversold is counted from the target\'s own database (the profile\'s truth query), not from its status codes.'
        : t.truth === 'redis' ? 'Oversold is counted from the holds sampled in the target\'s Redis during the run (the profile\'s truth.redis), not from its status codes; a hold shorter than one sample is not seen.'
        : '**Weaker check:** no --target-db, so the truth is what the API shows; a seat sold twice cannot be seen this way.'), '');
  }
  out.push(...renderFaultsMarkdown(r), ...renderInstancesMarkdown(r));
  out.push(...renderCpuMarkdown(r, markdownTable));
  out.push(...renderMemoryMarkdown(r));
  // A sale checked afterwards had no ceilings measured: its load was not the lab's.
  if (checkedAfter.length === 0) out.push('## Ceilings (measured in this run)', '');
  const http = r.ceilings?.http;
  if (checkedAfter.length === 0) out.push(`- HTTP ceiling: the booking server answering GET /lab/noop under the same load model: ${http ? `**${http.perSec} req/s**, p99 ${http.p99Ms} ms` : 'not measured'}.`);
  for (const s of checkedAfter.length === 0 ? r.results : []) {
    out.push(`- ${label(s)}: store ceiling (the same plan, same seed and concurrency, through the same strategy in-process with no HTTP, on a fresh database) ` +
      `${s.storeCeiling ? `**${s.storeCeiling.perSec} req/s**, p99 ${s.storeCeiling.p99Ms} ms${s.storeCeiling.journeys ? ` (on the plan's first ${s.storeCeiling.journeys.toLocaleString('en-US')} of ${s.storeCeiling.ofJourneys!.toLocaleString('en-US')} users)` : ''}` : 'not measured'}; ` +
      `${s.ceilingInvalid ? `**ceiling invalid**: ${s.ceilingInvalid}` : `efficiency ${s.efficiency?.toFixed(2) ?? '–'} (req/s ÷ the lower ceiling)`}.` +
      `${s.whereTimeGoes ? ` Where the time goes: ${s.whereTimeGoes}.` : ''}`);
  }
  out.push('');

  if (r.thresholds?.length) {
    out.push('## Thresholds', '');
    out.push(markdownTable(['threshold', 'strategy', 'value', 'result'], r.thresholds.map((t) => [`\`${t.expr}\``,
      resultLabel({ strategy: t.strategyName, fault: t.fault, store: t.storeName, ...(t.rttMs !== undefined ? { linkLatencyMs: t.rttMs } : {}) }, t.storeName !== undefined), String(t.value), t.pass ? 'pass' : '**FAIL**'])), '');
  }

  out.push('## Invariants', '');
  for (const s of r.results) {
    if (s.violations.length === 0) {
      out.push(`- **${label(s)}**: all invariants hold (active reservations ${s.check.activeReservations} of ${s.check.capacity}` +
        `${s.check.remaining !== undefined ? `, remaining ${s.check.remaining}` : ''}).`);
      continue;
    }
    const counts = Object.entries(s.violationCounts).map(([k, v]) => `${k} × ${v}`).join(', ');
    out.push(`- **${label(s)}** (${s.verdict}): ${counts}`);
    for (const v of s.violations.slice(0, 5)) out.push(`  - ${v.kind}: ${v.detail}`);
    const total = Object.values(s.violationCounts).reduce((a, b) => a + b, 0);
    if (total > 5) out.push(`  - … ${total - 5} more in report.json`);
  }
  for (const s of r.results) for (const note of s.notes) out.push(`- ${label(s)}: ${note}`);
  for (const s of r.results.filter((x) => x.history)) {
    const h = s.history!;
    // The history summary is the first run's; lost acknowledgements are given for every run.
    const runs = s.runs ?? [];
    const perRun = (k: 'lostAcks' | 'unexplainedWrites', what: string, first: number) =>
      (runs.length > 1 && runs.every((x) => x[k] !== undefined) ? `${what} per run ${runs.map((x) => x[k]).join(', ')}` : `${first} ${what}`);
    out.push(`- ${label(s)}: history of ${h.ops} operations in \`${h.file}\`; ${h.unknown} with unknown outcome` +
      `${h.explainedByUnknown ? ` (${h.explainedByUnknown} of them did write)` : ''}; ${perRun('lostAcks', 'lost acknowledgements', h.lostAcks)}; ${perRun('unexplainedWrites', 'unexplained writes', h.unexplainedWrites)}.`);
  }
  out.push('');

  const journeys = r.results.filter((s) => s.stepLatencyMs);
  if (journeys.length > 0) {
    out.push('## Journey steps (p50 / p99 ms)', '');
    const steps = Object.keys(journeys[0]!.stepLatencyMs!);
    out.push(markdownTable(['strategy', ...steps, 'paid', 'abandoned', 'no seat', 'failed', 'expired', 'resold', 'events'], journeys.map((s) => [
      label(s), ...steps.map((k) => `${ms(s.stepLatencyMs![k]!.p50)} / ${ms(s.stepLatencyMs![k]!.p99)}`),
      String(s.journeyOutcomes!.paid), String(s.journeyOutcomes!.abandoned), String(s.journeyOutcomes!.noSeat), String(s.journeyOutcomes!.failed),
      String(s.journeyCheck?.expired ?? ''), String(s.journeyCheck?.resold ?? ''), String(s.journeyCheck?.events ?? '')])), '');
  }

  out.push('## Strategy counters', '');
  for (const s of r.results) {
    const opts = Object.entries(s.options).map(([k, v]) => `${k}=${v}`).join(', ');
    const counters = Object.entries(s.counters).map(([k, v]) => `${k}=${v}`).join(', ');
    out.push(`- **${label(s)}**${opts ? ` (${opts})` : ''}: ${counters || 'none'}; journeys ${s.journeys.succeeded} succeeded, ` +
      `${s.journeys.exhausted} ran out of seats to try, ${s.journeys.stopped} stopped on another answer, ${s.journeys.unknown} unknown; seeding took ${s.seedMs} ms.`);
  }
  out.push('');
  out.push(...renderServersMarkdown(r));
  out.push('## Columns', '');
  out.push((withStore ? 'store: the database the result ran on (pg: PostgreSQL, mysql: MySQL or MariaDB; see Servers). ' : '') +
    'req/s: answered booking requests per second over the load phase. ok/s: successful holds (201) per second. ' +
    'p50…max: latency of every request, in ms, from the load generator (open model: from the intended send time). ok: 201 holds. conflict: 409 (seat taken, or the strategy ' +
    'gave up on a contended seat). sold out: 409 SOLD_OUT. rejected: other 4xx. error: 5xx. timeout: no answer in time — the outcome ' +
    'is unknown, not a failure. oversold: active reservations beyond one per seat (or tickets beyond the inventory), counted in ' +
    "the database after the run. retries: the strategy's own retry count. lock failures: requests turned away because the strategy " +
    'could not get a lock or a contended row. DB avoided: requests answered from Redis without opening a database connection. efficiency: req/s ÷ the lower of the HTTP ' +
    'ceiling (a no-op route) and the store ceiling (the same plan in-process, no HTTP), both measured in the same run; never above 1.05, or the ceiling is marked invalid. ' +
    'verdict: pass, fail (a safe strategy broke an invariant), unsafe-as-expected or race-not-observed (the control group).', '');
  return out.join('\n');
}
