import { Command, Option } from 'commander';
import { strategies } from '../strategies/index.js';
import { scenarios } from '../scenarios/index.js';
import { onStopSignal, runAllCleanups, stoppingFor } from './infra/cleanup.js';
import { summaryLine, tally } from './infra/error-tally.js';
import { InfraUnavailableError } from './infra/errors.js';
import { UsageError, EXIT } from './cli/errors.js';
import { parseRunOptions, type RawRunOptions } from './cli/options.js';
import { runBench, type Io } from './cli/run.js';
import { serve, type RawServeOptions } from './cli/serve.js';
import { compare, type RawCompareOptions } from './cli/compare.js';
import { exportPlan, type RawExportOptions } from './cli/export.js';
import { checkSale, type RawCheckOptions } from './cli/check.js';
import { profileCheck, type RawProfileCheckOptions } from './cli/profile-check.js';
import { faultNames } from './nemesis/index.js';
import { runTargetBench } from './target/run-target.js';
import { ProfileError } from './target/profile.js';

const say = (line: string) => process.stderr.write(`${line}\n`);
// Once a signal is stopping the run, the run goes on under it for a moment and all it would say
// (failed requests, servers gone) follows from the stop: it goes unsaid.
const io: Io = {
  err: (line) => { if (!stoppingFor()) say(line); },
  out: (text) => { if (!stoppingFor()) process.stdout.write(text); },
};
// async-exit-hook runs the cleanups on SIGINT/SIGTERM and exits 128 + the signal's number
// (EXIT.interrupted for Ctrl-C); this tells the person what is happening, and what went away meanwhile.
onStopSignal({
  stopping: (signal, labels) => {
    const servers = labels.filter((l) => !l.startsWith('database ')).length;
    say(`\n${signal === 'SIGINT' ? 'interrupted' : 'terminated'}: stopping ${servers} server${servers === 1 ? '' : 's'} seatlab started and removing their data…`);
  },
  stopped: () => {
    for (const e of tally.take()) say(summaryLine(e));
  },
});

const collect = (v: string, prev: string[] = []) => [...prev, v];

async function finish(code: number): Promise<never> {
  // A signal's exit hook is stopping everything and will exit with its own code: wait for it.
  if (stoppingFor()) return new Promise<never>(() => undefined);
  await runAllCleanups();
  process.exit(code);
}

async function guarded(fn: () => Promise<number>): Promise<void> {
  try {
    await finish(await fn());
  } catch (err) {
    if (err instanceof UsageError) {
      for (const p of err.problems) io.err(`error: ${p}`);
      io.err('(see bench <command> --help)');
      return finish(EXIT.usage);
    }
    if (err instanceof ProfileError) {
      io.err(`error: ${err.message}`);
      return finish(EXIT.usage);
    }
    if (err instanceof InfraUnavailableError) {
      io.err(`error: ${err.message}`);
      return finish(EXIT.infra);
    }
    io.err(`error: ${(err as Error)?.message ?? String(err)}`);
    if (process.env.SEATLAB_DEBUG) io.err((err as Error)?.stack ?? '');
    else io.err('(set SEATLAB_DEBUG=1 for a stack trace)');
    return finish(EXIT.usage);
  }
}

/** The waiting-room options `run` and `serve` share (the server takes the same settings either way). */
function withQueueOptions(cmd: Command): Command {
  return cmd
    .option('--queue <on|off>', 'the waiting room in front of the schedule (default off; on for queue scenarios)')
    .option('--queue-active <n>', 'waiting room: at most this many ACTIVE users per schedule (default 100)')
    .option('--queue-rate <n>', 'waiting room: at most this many admissions per second (default 100)')
    .option('--queue-active-ttl <duration>', 'waiting room: an unused ACTIVE turn expires after this (default 5m)');
}

const program = new Command()
  .name('bench')
  .description('seatlab: compare seat-lock strategies under identical ticketing contention')
  .showHelpAfterError('(run with --help for usage)')
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

withQueueOptions(program.command('run'))
  .description('run a scenario against one or more strategies and write results/<run-id>/report.{json,md}')
  .addOption(new Option('--strategy <name|all>', 'strategy name, comma-separated names, or all'))
  .addOption(new Option('--scenario <name>', 'scenario name'))
  .option('--users <n>', 'number of users (scenario default)')
  .option('--seats <n>', 'number of seats (scenario default)')
  .option('--connections <n>', 'concurrent HTTP connections (scenario default)')
  .option('--seed <n>', 'seed of the workload RNG', '42')
  .option('--out <dir>', 'folder for results/<run-id>/', 'results')
  .option('--json', 'print report.json to stdout (and nothing else)')
  .option('--store <list>', 'the stores to compare the strategies on, comma-separated: pg (or postgres, postgresql), mysql (or mariadb); ' +
    'each runs every strategy on a fresh database, interleaved. Default: the stores of the --database-url given, else pg (embedded). ' +
    'A store without a URL: pg embedded; mysql from MYSQL_URL, else testcontainers')
  .option('--database-url <url>', 'use this database (needs CREATE DATABASE) instead of a provisioned one: postgres:// (or postgresql://) for PostgreSQL, ' +
    'mysql:// or mariadb:// for MySQL/MariaDB; repeat for one URL per store [DATABASE_URL, for its own store]', collect)
  .option('--redis-url <url>', 'use this Redis instead of starting redis-server; repeat for N independent nodes [REDIS_URL]', collect)
  .option('--redis-nodes <n>', 'independent Redis servers to start for redlock (quorum n/2+1)')
  .option('--strategy-opt <key=value>', 'strategy option, repeatable (see bench list)', collect)
  .option('--hold-ttl <duration>', 'how long a hold lasts, e.g. 2s, 5m (default 5m; journey 2s)')
  .option('--pool-size <n>', 'database pool size of the booking server', '20')
  .option('--timeout <seconds>', 'per-request timeout; unanswered requests count as unknown', '10')
  .option('--threshold <expr>', 'pass/fail after the run, repeatable: "p99<250", "safe:oversold==0" (safe strategies only), "pessimistic:okPerSec>1000"; ' +
    'with two stores narrow it with @store: "pessimistic@mysql:p99<250", "safe@pg:oversold==0", "@mysql:p99<250" (every strategy on mysql); a breach exits 99', collect)
  .option('--rate <n>', 'open model: this many users arrive per second on a fixed schedule, each request timed from its intended send time; without it the model is closed')
  .option('--max-connections <n>', 'open model: at most this many requests in flight; an arrival that finds them all busy is dropped and counted (default 1000)')
  .option('--transport <http|direct>', 'http (default), or direct: call the booking core in-process, to separate framework cost from locking cost')
  .option('--http-ceiling <duration|off>', 'how long the HTTP ceiling (GET /lab/noop under the same load model) runs before the strategies, e.g. 3s; off skips it, and efficiency is then against the store ceiling alone (default 3s)')
  .option('--max-load-time <duration>', 'stop starting users this long into the load, a safety limit the report notes when reached, e.g. 30m or 2h (default 10m)')
  .option('--runs <n>', 'repetitions per strategy, interleaved A B C A B C (default 3)')
  .option('--warmup <duration>', 'left out of every figure at the start of each run, e.g. 2s or 0 (default 2s)')
  .option('--keep-db', 'keep each run database for inspection')
  .option('--instances <n>', 'booking server processes on the same stores; connections are spread over them round-robin (default 1)')
  .option('--nemesis <faults>', `inject real faults during the load, one column of the fault matrix each: ${faultNames().join(', ')}`)
  .option('--nemesis-every <duration>', 'a fault starts this often (default per fault, e.g. 6s for pause-instance)')
  .option('--nemesis-for <duration>', 'a fault lasts this long (default per fault; pause-instance: the lock TTL + 1s)')
  .option('--target <url>', 'black-box mode: drive this booking API (through --profile) instead of seatlab\'s strategies')
  .option('--profile <file>', 'black-box mode: the JSON or YAML profile that maps the lab\'s operations onto the target\'s API (see profiles/)')
  .option('--target-db <url>', 'black-box mode: the target\'s own database, read with the profile\'s SQL to count oversold (postgres://… or mysql://…)')
  .option('--target-redis <url>', 'black-box mode: the target\'s Redis, where its holds live (the profile\'s truth.redis), sampled during the run (redis://…)')
  .option('--liveness-grace <duration>', 'after the faults end, how long a seat may stay refused before it counts as stuck (default 5s)')
  .option('--link-latency <rtt,...>', 'put a link (a TCP proxy of the lab\'s) between every server instance and every store, adding this round-trip time (half each way), e.g. 0,0.5ms,2ms: every strategy runs at every value (default: no links)')
  .option('--link-jitter <duration>', 'random variation of each one-way link delay, e.g. 0.5ms (needs --link-latency)')
  .option('--redis-topology <single|sentinel|cluster>', 'single (default): independent Redis servers; sentinel: a primary, one replica and three Sentinels, servers connect through Sentinel; cluster: a Redis Cluster (see --redis-cluster)')
  .option('--redis-cluster <n>', 'start a Redis Cluster of n primaries (at least 3) instead of independent servers; servers use it through an ioredis Cluster client (implies --redis-topology cluster; default 3 with it)')
  .option('--redis-cluster-replicas <r>', 'replicas of each cluster primary (default 0; replication is asynchronous)')
  .option('--db-durability <full|async>', 'PostgreSQL synchronous_commit on (full, default) or off (async: a crash can lose acknowledged commits)')
  .action((raw: RawRunOptions) => guarded(async () => {
    const { options, problems } = parseRunOptions(raw);
    if (!options) throw new UsageError(problems);
    if (options.target) return runTargetBench(options, io, process.argv.slice(2));
    return runBench(options, io, process.argv.slice(2));
  }));

withQueueOptions(program.command('serve'))
  .description('start the booking API with one concert and one schedule; prints {url, databaseUrl, concertId, scheduleId, strategy}')
  .option('--strategy <name>', 'strategy name')
  .option('--port <n>', 'port (0 picks a free one)', '0')
  .option('--host <addr>', 'address to listen on; 0.0.0.0 lets a Prometheus in Docker scrape /metrics (and anyone on the network reach the API)', '127.0.0.1')
  .option('--seats <n>', 'seats in the schedule', '100')
  .option('--store <pg|mysql>', 'the store to serve from when no --database-url is given: pg (embedded, the default) or mysql (MYSQL_URL, else testcontainers)')
  .option('--database-url <url>', 'use this database: postgres:// (or postgresql://) for PostgreSQL, mysql:// or mariadb:// for MySQL/MariaDB [DATABASE_URL]')
  .option('--redis-url <url>', 'use this Redis; repeat for N independent nodes [REDIS_URL]', collect)
  .option('--redis-nodes <n>', 'independent Redis servers to start (redlock quorum)')
  .option('--strategy-opt <key=value>', 'strategy option, repeatable', collect)
  .option('--hold-ttl <duration>', 'how long a hold lasts, e.g. 2s, 5m', '5m')
  .option('--pool-size <n>', 'database pool size', '20')
  .option('--instances <n>', 'booking server processes on the same stores (ports --port, --port+1, …; default 1)')
  .option('--link-latency <rtt>', 'reach the stores through a link (a TCP proxy of the lab\'s) per instance adding this round-trip time, e.g. 2ms')
  .option('--link-jitter <duration>', 'random variation of each one-way link delay (needs --link-latency)')
  .option('--db-durability <full|async>', 'PostgreSQL synchronous_commit on (full, default) or off (async: a crash can lose acknowledged commits)')
  .action((raw: RawServeOptions) => guarded(async () => {
    await serve(raw, io);
    return EXIT.ok;
  }));

program
  .command('export')
  .description('write a scenario\'s seeded plan as a test for another load engine (Artillery), on a sale it seeds on a running bench serve; see docs/artillery.md')
  .option('--engine <name>', 'the load engine: artillery')
  .option('--scenario <name>', 'hot-seat, flash-sale or general-admission')
  .option('--users <n>', 'number of users (scenario default)')
  .option('--seats <n>', 'number of seats (scenario default)')
  .option('--seed <n>', 'seed of the workload RNG (the same plan as bench run with this seed)', '42')
  .option('--rate <n>', 'users arriving per second (default: every user within the first second)')
  .option('--workers <n>', 'also write workers/1..n: disjoint users per remote worker, one test each (run-fargate/Lambda --count gives every worker the whole payload)', '1')
  .option('--timeout <duration>', 'per-request timeout in the processor, in seconds (10) or a duration (500ms); unanswered requests count as timeout (unknown)', '10')
  .option('--target <url>', 'a running bench serve (or a target with --profile): the export seeds the sale there and the script targets it')
  .option('--profile <file>', 'how to seed, send and read the target\'s API (default profiles/seatlab.json); see docs/black-box.md')
  .option('--target-db <url>', 'the target\'s database, for a profile that seeds with SQL')
  .option('--out <dir>', 'folder to write script.yml, processor.cjs, payload.csv and README.md to')
  .action((raw: RawExportOptions) => guarded(async () => {
    await exportPlan(raw, io, process.argv.slice(2));
    return EXIT.ok;
  }));

program
  .command('check')
  .description('judge a sale after any load (Artillery\'s, the lab\'s, your own) with the lab\'s checkers; writes report.json/md/html like bench run and exits as it does (3: an invariant violated); see docs/artillery.md')
  .option('--scenario <name>', 'the sale that ran: hot-seat, flash-sale or general-admission')
  .option('--database-url <url>', 'seatlab\'s database the sale ran on (bench serve prints it as databaseUrl)')
  .option('--target-db <url>', 'a target\'s database, read with --profile\'s truth.reservations (instead of --database-url)')
  .option('--profile <file>', 'the target\'s profile (with --target-db)')
  .option('--schedule <id>', 'the sale\'s schedule (default with --database-url: the newest; required with --target-db)')
  .option('--seats <n>', 'the target\'s capacity (required with --target-db; seatlab\'s is read from its database)')
  .option('--history <path>', 'per-operation history: a folder of *.jsonl files (the Artillery export\'s history/) or one lab history file')
  .option('--engine-report <file>', 'the load engine\'s JSON report (artillery run --output); repeat for workers run apart', collect)
  .option('--target <url>', 'the bench serve the sale ran on: probe liveness (available seats can still be held) after the check')
  .option('--liveness-grace <duration>', 'how long an available seat may stay refused before it counts as stuck (default 5s)')
  .option('--name <label>', 'the result\'s name in the report (default: artillery with --engine-report, else load)')
  .option('--out <dir>', 'results directory', 'results')
  .option('--json', 'also print report.json to stdout')
  .action((raw: RawCheckOptions) => guarded(() => checkSale(raw, io, process.argv.slice(2))));

program
  .command('profile')
  .description('work on a target\'s profile (see docs/black-box.md)')
  .command('check <file>')
  .description('a dry run for a profile\'s author: each operation once on a sale of its own (3 seats, 3 users) — what was sent, what came back, which outcome rule matched, ' +
    'what was captured, what truth.reservations returned — and every problem named with its field; exit 0 (no problem), 1 (problems in the profile), 2 (target or database not there)')
  .option('--target <url>', 'the booking API the profile describes')
  .option('--target-db <url>', 'its database (postgres:// or mysql://), for SQL seeding and truth.reservations')
  .option('--target-redis <url>', 'its Redis (redis://), read once after the holds with truth.redis')
  .option('--seats <n>', 'seats of the check\'s sale (default 3)')
  .option('--json', 'also print the whole check as JSON on stdout')
  .action((file: string, raw: RawProfileCheckOptions) => guarded(() => profileCheck(file, raw, io)));

program
  .command('compare <baseline> <current>')
  .description('compare two report.json files result by result (strategy × fault × store; a result of a two-store run is named strategy@store, ' +
    'e.g. pessimistic@mysql); exit 0 (no regression), 4 (regression), ' +
    '3 (a safe strategy oversold), 5 (a result of the baseline is missing from the current report, e.g. skipped for want of Redis), ' +
    '1 (not comparable: scenario, params, rate, transport, instances, faults or stores differ)')
  .option('--max-regression <pct>', 'a change of the mean worse than this that a one-sided Welch t-test over the runs calls worse (p < --alpha) is a regression', '10%')
  .option('--alpha <p>', 'significance level of each Welch test; lower it (e.g. 0.01) for fewer chance findings among many strategies × metrics', '0.05')
  .option('--allow-different-params', 'compare reports of different scenarios, parameters or stores anyway (warns on stderr); ' +
    'a baseline on one store and a current on another then compare strategy by strategy across the stores')
  .action((baseline: string, current: string, raw: RawCompareOptions) => guarded(() => compare(baseline, current, raw, io)));

program
  .command('list')
  .description('list strategies and scenarios')
  .action(() => {
    for (const s of strategies.values()) {
      const opts = s.options.map((o) => `${o.name}=${o.default}`).join(' ');
      io.out(`strategy  ${s.name.padEnd(20)} ${s.safe ? 'safe  ' : 'UNSAFE'} ${s.description}${opts ? ` [options: ${opts}]` : ''}\n`);
    }
    for (const s of scenarios.values()) {
      io.out(`scenario  ${s.name.padEnd(20)} ${s.description} (defaults: users=${s.defaults.users} seats=${s.defaults.seats} connections=${s.defaults.connections})\n`);
    }
  });

await program.parseAsync(process.argv);
