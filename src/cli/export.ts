import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createRng } from '../core/rng.js';
import { loadProfile, ProfileError } from '../target/profile.js';
import { profilePlan } from '../target/run-target.js';
import { createDb } from '../db/knex.js';
import type { Journey } from '../load/plan.js';
import { seedSale } from '../target/seed.js';
import { writeArtilleryExport } from '../export/artillery.js';
import { InfraUnavailableError } from '../infra/errors.js';
import { UsageError } from './errors.js';
import { parseCount, parseDuration, selectScenario } from './options.js';
import type { Io } from './run.js';

// `bench export --engine artillery`: the scenario's seeded plan, on a sale the export makes on a
// running seatlab (`bench serve`) through profiles/seatlab.json, written as an Artillery test.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []));
const ENGINES = ['artillery'];

export interface RawExportOptions {
  engine?: string;
  scenario?: string;
  users?: string;
  seats?: string;
  seed?: string;
  rate?: string;
  workers?: string;
  timeout?: string;
  target?: string;
  profile?: string;
  targetDb?: string;
  out?: string;
}

export async function exportPlan(raw: RawExportOptions, io: Io, argv: string[]): Promise<void> {
  const problems: string[] = [];
  if (!raw.engine) problems.push(`--engine is required; valid: ${ENGINES.join(', ')}`);
  else if (!ENGINES.includes(raw.engine)) problems.push(`--engine: unknown engine "${raw.engine}"; valid: ${ENGINES.join(', ')}`);
  const scenario = selectScenario(raw.scenario, problems);
  if (scenario && !scenario.workload) problems.push(`--scenario ${scenario.name} cannot be exported yet; use hot-seat, flash-sale, general-admission`);
  const users = parseCount('--users', raw.users, scenario?.defaults.users ?? 1, problems);
  const seats = parseCount('--seats', raw.seats, scenario?.defaults.seats ?? 1, problems, 1_000_000);
  let seed = 42;
  if (raw.seed !== undefined) {
    if (!/^\d+$/.test(raw.seed.trim()) || Number(raw.seed) > 2 ** 32 - 1) problems.push(`--seed must be an integer from 0 to 4294967295 (got "${raw.seed}")`);
    else seed = Number(raw.seed);
  }
  const rate = raw.rate === undefined ? undefined : parseCount('--rate', raw.rate, 1, problems);
  const workers = parseCount('--workers', raw.workers, 1, problems, 1000);
  // Whole seconds as before (10), or a duration (500ms, 2s).
  const timeoutMs = parseDuration('--timeout', raw.timeout === undefined ? undefined : /^\d+$/.test(raw.timeout.trim()) ? `${raw.timeout.trim()}s` : raw.timeout, 10_000, problems);
  if (!raw.target) problems.push('--target is required: the URL of a running `bench serve` (the export seeds the sale there, so the users\' tokens are real), or of a target with --profile');
  else if (!/^https?:\/\/[^/]+/.test(raw.target)) problems.push(`--target must be an http(s) URL such as http://127.0.0.1:3000 (got "${raw.target}")`);
  if (!raw.out) problems.push('--out is required: the folder to write script.yml, processor.cjs, payload.csv and README.md to');
  if (problems.length > 0 || !scenario?.workload || !raw.target || !raw.out) throw new UsageError(problems);

  const params = { users, seats, connections: scenario.defaults.connections, seed };
  problems.push(...scenario.validate(params));
  if (problems.length > 0) throw new UsageError(problems);
  const target = raw.target.replace(/\/+$/, '');
  const workload = scenario.workload(params, createRng(seed));
  const profileFile = raw.profile ?? path.join(ROOT, 'profiles', 'seatlab.json');
  const profile = await loadProfile(profileFile);
  const missing = workload.op === 'hold' ? (profile.hold ? undefined : 'hold') : (profile.holdTicket ? undefined : 'holdTicket');
  if (missing) throw new ProfileError(profileFile, [`${scenario.name} ${workload.op === 'hold' ? 'holds numbered seats' : 'sells unnumbered tickets'}, but the profile has no "${missing}" step`]);
  const db = raw.targetDb ? createDb({ url: raw.targetDb, poolMax: 4, applicationName: 'seatlab-export' }) : undefined;
  const t0 = performance.now();
  const sale = await seedSale(profile, { base: target, db, seats, users, label: `seatlab-export-${Date.now()}` }).catch((err: Error) => {
    throw new InfraUnavailableError(`could not seed the sale on ${target}: ${err.message}; ${raw.profile ? 'check the target and its profile' : `start one with \`npx bench serve --strategy <name> --seats ${seats}\` and give its url as --target`}`);
  }).finally(() => db?.destroy());
  io.err(`seeded ${users} users and ${seats} seats on ${target} in ${Math.round(performance.now() - t0)} ms (schedule ${String(sale.vars.scheduleId)})`);
  // The requests the lab's black-box driver would send, rendered through the same profile.
  const plan = profilePlan(workload, profile, sale);
  const reader = plan.journeys.at(0)?.attempts[0]?.reader ?? {};
  // Indexed by the workload's user number, as the payload reads them (journey k is workload.users[k]).
  const byUser = new Array<Journey>(sale.users.length);
  workload.users.forEach((w, k) => { byUser[w.user] = plan.journeys.at(k)!; });
  const rawSchedule = sale.vars.scheduleId;
  const scheduleId = typeof rawSchedule === 'number' || (typeof rawSchedule === 'string' && /^\d+$/.test(rawSchedule)) ? Number(rawSchedule) : String(rawSchedule);
  const out = path.resolve(raw.out);
  const files = await writeArtilleryExport(out, {
    scenario: scenario.name, workload, target, rate, timeoutMs, workers, historyDir: path.join(out, 'history'),
    sale: {
      scheduleId, reader,
      users: byUser.map((j) => ({ userId: j.userId!, token: j.token })),
      requests: byUser.map((j) => j.attempts.map((a) => ({ method: a.method, path: a.path, ...(a.body !== undefined ? { body: a.body } : {}), ...(a.headers && Object.keys(a.headers).length > 0 ? { headers: a.headers } : {}) }))),
    },
    about: { command: `bench ${argv.join(' ')}`, users, seats, seed, profile: profile.name },
  });
  io.out(`${JSON.stringify({ engine: 'artillery', out, script: files[0], ...(workers > 1 ? { workers: files.filter((f) => f.endsWith('script.yml')).slice(1) } : {}), scheduleId, users, seats, seed, target, profile: profile.name })}\n`);
  io.err(`wrote ${files.length} files (${[...new Set(files.map((f) => path.basename(f)))].join(', ')}) to ${out}; run: npx artillery run ${files[0]} --output ${path.join(out, 'artillery.json')}`);
}
