import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Workload } from '../../scenarios/types.js';
import { ARTILLERY_PROCESSOR } from './artillery-processor.js';
import type { AnswerReader } from '../load/plan.js';

// A scenario's seeded plan as an Artillery test: the script, the processor that sends each user's
// asks the way the lab's driver does, and the users (with their tokens and seat choices, in the
// lab's order) as a CSV payload. Building the files is plain data in, text out; seeding the sale
// on a server is the caller's (src/cli/export.ts).

/** The sale the plan is sent to: made on the server before the export, so the tokens are real. */
export interface SeededPlan {
  /** The schedule as the target names it (the history carries it when it is a number). */
  scheduleId: number | string;
  /** One entry per user of the workload, indexed by the workload's user number. */
  users: { userId: number; token: string }[];
  /** Each user's requests, rendered through the profile as the lab's black-box driver sends them (indexed as users). */
  requests: { method: string; path: string; body?: string; headers?: Record<string, string> }[][];
  /** How the profile reads an answer: its outcome rules and where a success's reservation id is. */
  reader: AnswerReader;
}

export interface ArtilleryExport {
  scenario: string;
  workload: Workload;
  sale: SeededPlan;
  target: string;
  /** Users arriving per second; without it every user arrives within the first second. */
  rate?: number;
  timeoutMs: number;
  /** Where the processor writes its per-worker histories (absolute); empty: none. */
  historyDir: string;
  /**
   * Remote workers (run-fargate / Lambda) the sale is meant for. Artillery sends every remote
   * worker the whole script and payload, so for N > 1 the export also writes workers/<i>/, one
   * self-contained test per worker with every Nth user, each run on its own (docs/artillery.md).
   */
  workers?: number;
  /** What made this export, for the README (the command and the sale's figures). */
  about: { command: string; users: number; seats: number; seed: number; profile: string };
}

/**
 * The CSV's columns; "asks" is the user's seat numbers in order, separated by ";" ("-" for an
 * unnumbered ticket); "requests" the same asks as the requests to send (method, path, body,
 * headers, rendered through the profile), JSON in base64url so that the CSV can carry it.
 */
export const PAYLOAD_FIELDS = ['user', 'userId', 'token', 'asks', 'requests'] as const;

function payloadCsv(e: ArtilleryExport, users = e.workload.users): string {
  const rows = users.map((w) => {
    const u = e.sale.users[w.user]!;
    const asks = w.seats.map((s) => (s === null ? '-' : String(s))).join(';');
    if (/[",\n]/.test(u.token)) throw new Error(`a user's token contains a comma, quote or newline, which the CSV payload cannot carry: ${u.token.slice(0, 40)}`);
    const requests = Buffer.from(JSON.stringify(e.sale.requests[w.user])).toString('base64url');
    return `${w.user},${u.userId},${u.token},${asks},${requests}`;
  });
  return `${PAYLOAD_FIELDS.join(',')}\n${rows.join('\n')}\n`;
}

/**
 * Arrivals. Artillery gives each local worker thread every Nth payload row and its share of the
 * arrival rate (lib/dist.js): with a one-second phase of `users` arrivals both shares are equal,
 * so every row arrives exactly once. With --rate the last second can hold more arrivals than rows;
 * the processor skips a row it has already sent (seatlab.users.repeated).
 */
function phases(users: number, rate: number | undefined): Record<string, unknown>[] {
  if (!rate) return [{ name: 'all users at once', duration: 1, arrivalRate: users }];
  return [{ name: `${rate} users a second`, duration: Math.ceil(users / rate), arrivalRate: rate }];
}

/** Worker i of n (from 1) gets the users at positions i-1, i-1+n, …: the lab's order, interleaved as Artillery deals rows to its own threads. */
export function workerUsers(e: ArtilleryExport, i: number, n: number): Workload['users'] {
  return e.workload.users.filter((_, k) => k % n === i - 1);
}

export function artilleryScript(e: ArtilleryExport, worker?: { i: number; n: number }): string {
  const users = worker ? workerUsers(e, worker.i, worker.n).length : e.workload.users.length;
  const rate = e.rate && worker ? Math.max(1, Math.round(e.rate / worker.n)) : e.rate;
  const script = {
    config: {
      target: e.target,
      processor: './processor.cjs',
      phases: phases(users, rate),
      payload: { path: 'payload.csv', fields: [...PAYLOAD_FIELDS], order: 'sequence', skipHeader: true },
      variables: {
        seatlabOp: e.workload.op, seatlabScheduleId: typeof e.sale.scheduleId === 'number' ? e.sale.scheduleId : '', seatlabTimeoutMs: e.timeoutMs, seatlabHistoryDir: e.historyDir,
        // The profile's reading of an answer, as JSON text (Artillery would otherwise template inside it).
        seatlabReader: JSON.stringify(e.sale.reader),
      },
    },
    scenarios: [{ name: `seatlab ${e.scenario}`, flow: [{ function: 'seatlabJourney' }] }],
  };
  const part = worker ? ` — worker ${worker.i} of ${worker.n}: ${users} of the users` : '';
  return `# seatlab ${e.scenario}: ${e.about.users} users, ${e.about.seats} seats, seed ${e.about.seed}${part} (${e.about.command})\n${stringify(script)}`;
}

function readme(e: ArtilleryExport, dir: string): string {
  const { users, seats, seed, command } = e.about;
  return `# seatlab ${e.scenario} on Artillery

Made by \`${command}\`: ${users} users, ${seats} seats, seed ${seed}, schedule ${e.sale.scheduleId} on ${e.target}
(profile ${e.about.profile}). The export seeded this sale on that server itself, as the profile says,
so the tokens in payload.csv are valid there and nowhere else: to run it again on a fresh sale,
export again.

Run it from the seatlab folder (Artillery is one of its dev dependencies):

    npx artillery run ${dir}/script.yml --output ${dir}/artillery.json

Every user is one virtual user; it asks for its seats in order, moves on only after a 409 that is
not SOLD_OUT, and stops at anything else, as \`bench run\` does. Counters in the report:
\`seatlab.${e.workload.op}.<ok|conflict|soldOut|rejected|error|timeout>\`, \`seatlab.journeys.*\`,
\`seatlab.users.arrived\` (must equal ${users}) and \`seatlab.users.repeated\`; histograms
\`seatlab.winners_ms\` (successful holds), \`seatlab.losers_ms\` (refusals) and \`seatlab.ok_after_ms\`
(its max: the time to sell out). Each worker thread writes its holds to ${dir}/history/ (one
.jsonl per thread; SEATLAB_HISTORY=off turns it off). Then judge the sale with the lab's checkers:

    npx bench check --scenario ${e.scenario} --database-url <databaseUrl of bench serve> \\
        --history ${dir}/history --engine-report ${dir}/artillery.json --target ${e.target}

Do not run script.yml with \`artillery run-fargate --count N\` (or on Lambda) with N > 1: every
remote worker runs the whole script with the whole payload, so each user would ask N times.
${(e.workers ?? 1) > 1 ? `For ${e.workers} remote workers this export wrote workers/1 … workers/${e.workers}: disjoint users, each
folder one test. Start them together, one worker each, e.g.

${Array.from({ length: e.workers! }, (_, k) => `    npx artillery run-fargate --region <region> --count 1 --output ${dir}/workers/${k + 1}/artillery.json ${dir}/workers/${k + 1}/script.yml &`).join('\n')}
    wait

Artillery does not add these runs up; add the seatlab.* counters of their reports.` : 'For N remote workers, export again with --workers N.'} See docs/artillery.md.
`;
}

/** The files by path relative to the export's folder: the whole sale, and with workers > 1 one folder per worker. */
export function artilleryFiles(e: ArtilleryExport, dir: string): Record<string, string> {
  const files: Record<string, string> = { 'script.yml': artilleryScript(e), 'processor.cjs': ARTILLERY_PROCESSOR, 'payload.csv': payloadCsv(e), 'README.md': readme(e, dir),
    // What bench check reads back (next to history/): the sale the history is of.
    'export.json': `${JSON.stringify({ engine: 'artillery', scenario: e.scenario, users: e.about.users, seats: e.about.seats, seed: e.about.seed, scheduleId: e.sale.scheduleId, target: e.target, profile: e.about.profile }, null, 2)}\n` };
  const n = e.workers ?? 1;
  for (let i = 1; n > 1 && i <= n; i++) {
    files[`workers/${i}/script.yml`] = artilleryScript(e, { i, n });
    files[`workers/${i}/processor.cjs`] = ARTILLERY_PROCESSOR;
    files[`workers/${i}/payload.csv`] = payloadCsv(e, workerUsers(e, i, n));
  }
  return files;
}

export async function writeArtilleryExport(dir: string, e: ArtilleryExport): Promise<string[]> {
  const files = artilleryFiles(e, dir);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return Object.keys(files).map((f) => path.join(dir, f));
}
