import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Profile } from './profile.js';
import { seedSale, type SeededSale, type StepTrace } from './seed.js';
import { profilePlan } from './run-target.js';
import { pick, render, sqlTemplate, type Vars } from './template.js';
import { reservationsFromDb } from './truth.js';
import { readHolds } from './redis-truth.js';
import type { RedisClient } from '../infra/redis-client.js';
import { matchRule, readWith, requestHeaders } from '../load/http-send.js';
import { classify, type AttemptRequest } from '../load/plan.js';

// `bench profile check`: a dry run for the person writing a profile. Each operation once, on a
// sale of its own (3 seats, 3 users): what was sent, what came back, which outcome rule matched,
// what was captured, what the truth query returned — and every problem named with the field it
// concerns, so a wrong path or a missing rule shows in minutes instead of in a run's odd figures.

export interface CheckedStep extends StepTrace {
  /** What the lab reads this answer as (hold steps): the outcome and the rule that decided it (-1: none, read by the status code alone). */
  outcome?: string;
  rule?: number;
  /** What this step is for, in words. */
  purpose?: string;
}

export interface ProfileCheckResult {
  profile: string;
  target: string;
  steps: CheckedStep[];
  truth?: { rows: number; sample: Vars[]; columns: string[] };
  /** What truth.redis read once after the holds: each key with its seat and holder. */
  redisTruth?: { keys: number; sample: { key: string; seatNo: number | null; userId: unknown }[] };
  /** Wrong in the profile, each naming its field: the check fails (exit 1). */
  problems: string[];
  /** About the target, not the profile (e.g. one seat held twice on the dry run). */
  findings: string[];
  notes: string[];
}

const USERS = 3;
const excerpt = (t: string) => t.slice(0, 500);

export async function checkProfile(p: Profile, o: { base: string; db?: Knex; redis?: RedisClient; seats?: number }): Promise<ProfileCheckResult> {
  const out: ProfileCheckResult = { profile: p.name, target: o.base, steps: [], problems: [], findings: [], notes: [] };
  const seats = Math.max(2, o.seats ?? 3);

  if (p.health) {
    const res = await fetch(`${o.base}${p.health.path}`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    out.steps.push({ where: 'health', method: 'GET', path: p.health.path, status: res.status, answer: excerpt(text), captured: {}, missing: [] });
    if (!res.ok) out.problems.push(`health.path: GET ${p.health.path} answered ${res.status}; a healthy target answers 2xx there`);
  }

  // The sale, made the way a run makes it, each call traced.
  let sale: SeededSale;
  try {
    sale = await seedSale(p, { base: o.base, ...(o.db ? { db: o.db } : {}), seats, users: USERS, label: `seatlab-profile-check-${randomBytes(3).toString('hex')}`,
      trace: (t) => { if (t.where !== 'users.http' || out.steps.filter((s) => s.where === 'users.http').length === 0) out.steps.push(t); } });
  } catch (err) {
    out.problems.push((err as Error).message);
    return out;
  }
  for (const s of out.steps) for (const m of s.missing) out.problems.push(`${s.where}.${m} is not in the answer${fieldsOf(s.answer)}`);
  if (out.problems.length > 0) return out;
  out.notes.push(`seeded schedule ${String(sale.vars.scheduleId)} with ${seats} seats and ${USERS} users${p.users.http ? ' (the first user\'s call is shown)' : ''}`);

  // Holds: seat 1 by the first user (free: should be ok), seat 1 again by the second (taken: should be refused), a ticket by the third.
  let okHolds = 0;
  const planOf = (w: Parameters<typeof profilePlan>[0]) => {
    try { return profilePlan(w, p, sale); } catch (err) { out.problems.push((err as Error).message); return undefined; }
  };
  const seatPlan = p.hold ? planOf({ op: 'hold', users: [{ user: 0, seats: [1] }, { user: 1, seats: [1] }] }) : undefined;
  if (seatPlan) {
    const plan = seatPlan;
    const first = await hold(o.base, plan.journeys.at(0)!.token, plan.journeys.at(0)!.attempts[0]!, 'hold', 'seat 1 by user 1: a free seat, expected ok', p, out);
    if (first === 'ok') okHolds++;
    else out.problems.push(`hold: a free seat was answered ${first} (${last(out).status}); expected ok — check hold.method, hold.path and hold.body, or the outcomes rule that matched`);
    const second = await hold(o.base, plan.journeys.at(1)!.token, plan.journeys.at(1)!.attempts[0]!, 'hold', 'seat 1 again by user 2: taken, expected conflict', p, out);
    if (second === 'ok') {
      okHolds++;
      out.findings.push('the same seat was held by two users, one after the other, within the hold time: the target oversells on a dry run (or its holds are not exclusive)');
    } else if (second !== 'conflict' && second !== 'soldOut') {
      out.notes.push(`a taken seat was answered ${second} (${last(out).status}); the lab counts conflict and soldOut as refusals, error as an unknown outcome`);
    }
  }
  const ticketPlan = p.holdTicket ? planOf({ op: 'hold-ticket', users: [{ user: 2, seats: [null] }] }) : undefined;
  if (ticketPlan) {
    const plan = ticketPlan;
    const ticket = await hold(o.base, plan.journeys.at(0)!.token, plan.journeys.at(0)!.attempts[0]!, 'holdTicket', 'one ticket by user 3, expected ok', p, out);
    if (ticket === 'ok') okHolds++;
    else out.problems.push(`holdTicket: a ticket from a full inventory was answered ${ticket} (${last(out).status}); expected ok — check holdTicket.method, .path and .body`);
  }
  if (!p.outcomes) out.notes.push('no outcomes rules: answers are read by status code alone (2xx ok, 409 conflict, 402 soldOut, other 4xx rejected, 5xx error)');

  if (p.seatMap) await seatMap(o.base, p, sale, out, okHolds > 0);
  if (p.truth?.reservations && o.db) await truth(o.db, p, sale, okHolds, out);
  else if (p.truth?.reservations) out.notes.push('truth.reservations was not run: give --target-db <url of the target\'s database>');
  else if (!p.truth?.redis) out.notes.push('no truth.reservations: without the target\'s database a run cannot see a seat sold twice');
  if (p.truth?.redis && o.redis) await redisTruth(o.redis, p, sale, okHolds, out);
  else if (p.truth?.redis) out.notes.push('truth.redis was not read: give --target-redis <url of the target\'s Redis>');
  return out;
}

const last = (r: ProfileCheckResult) => r.steps[r.steps.length - 1]!;

/** One attempt sent as the drivers send it and read by the same code; returns the outcome. */
async function hold(base: string, token: string, a: AttemptRequest, where: 'hold' | 'holdTicket', purpose: string, p: Profile, out: ProfileCheckResult): Promise<string> {
  const res = await fetch(`${base}${a.path}`, { method: a.method, headers: requestHeaders(a, { token }), body: a.body, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  const reader = a.reader ?? {};
  const rule = matchRule(reader.rules, res.status, text);
  const answer = readWith(reader, res.status, text);
  const outcome = answer.outcome ?? classify(res.status, answer.errorCode);
  const captured: Vars = {};
  const missing: string[] = [];
  const step = p[where]!;
  if (outcome === 'ok' && step.capture?.reservationId) {
    captured.reservationId = answer.reservationId;
    if (answer.reservationId === undefined) missing.push(`capture.reservationId: ${step.capture.reservationId}`);
  }
  out.steps.push({ where, purpose, method: a.method, path: a.path, ...(a.body ? { body: JSON.parse(a.body) as unknown } : {}), status: res.status, answer: excerpt(text), captured, missing, outcome, rule });
  for (const m of missing) out.problems.push(`${where}.${m} is not in the success answer${fieldsOf(text)}: the history cannot tie this hold to its row in the database`);
  if (p.outcomes && rule < 0) {
    out.problems.push(`outcomes: ${where} answered ${res.status} ${JSON.stringify(excerpt(text).slice(0, 120))} and no rule matches it; the lab would read it as ${outcome} by its status alone — add a rule such as { "status": ${res.status}, "outcome": "…" }`);
  }
  return outcome;
}

async function seatMap(base: string, p: Profile, sale: SeededSale, out: ProfileCheckResult, held: boolean): Promise<void> {
  const m = p.seatMap!;
  const vars = { ...sale.vars, ...sale.users[0] };
  let path: string;
  try { path = render(m.path, vars, 'seatMap.path') as string; } catch (err) { return void out.problems.push((err as Error).message); }
  const res = await fetch(`${base}${path}`, { method: m.method, headers: { authorization: `Bearer ${String(vars.token)}` }, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  out.steps.push({ where: 'seatMap', purpose: 'the seats as the API shows them', method: m.method, path, status: res.status, answer: excerpt(text), captured: {}, missing: [] });
  if (!res.ok) return void out.problems.push(`seatMap: ${m.method} ${path} answered ${res.status}`);
  let list: unknown;
  try { list = pick(JSON.parse(text), m.list); } catch { return void out.problems.push(`seatMap: the answer is not JSON`); }
  if (!Array.isArray(list)) return void out.problems.push(`seatMap.list: "${m.list}" is not a list in the answer${fieldsOf(text)}`);
  const first = list[0] as unknown;
  for (const k of ['seatNo', 'status'] as const) if (first !== undefined && pick(first, m[k]) === undefined) out.problems.push(`seatMap.${k}: "${m[k]}" is not in a seat of the list${fieldsOf(JSON.stringify(first))}`);
  const statuses = [...new Set(list.map((s) => String(pick(s, m.status))))];
  const taken = list.filter((s) => m.taken.includes(String(pick(s, m.status)))).length;
  last(out).captured = { seats: list.length, taken, statuses };
  if (held && taken === 0) out.problems.push(`seatMap.taken: a seat was held but none shows as taken; the statuses the API shows are ${statuses.join(', ')}`);
}

async function truth(db: Knex, p: Profile, sale: SeededSale, okHolds: number, out: ProfileCheckResult): Promise<void> {
  const q = sqlTemplate(p.truth!.reservations!, sale.vars, 'truth.reservations');
  let raw: Vars[];
  try {
    const res = (await db.raw(q.sql, q.bindings as Knex.RawBinding[])) as { rows?: Vars[] } | Vars[][];
    raw = Array.isArray(res) ? (res[0] as Vars[]) : (res.rows ?? []);
  } catch (err) {
    return void out.problems.push(`truth.reservations: the query failed: ${(err as Error).message}`);
  }
  const columns = raw[0] ? Object.keys(raw[0]) : [];
  out.truth = { rows: raw.length, sample: raw.slice(0, 3), columns };
  if (raw[0]) {
    const missing = ['id', 'userId', 'seatNo', 'active'].filter((c) => !(c in raw[0]!));
    if (!('startUs' in raw[0]) && !('createdAt' in raw[0])) missing.push('startUs or createdAt');
    if (missing.length) out.problems.push(`truth.reservations: the rows have no ${missing.join(', ')} (they have ${columns.join(', ')}); name the columns with AS "…"`);
    else await reservationsFromDb(db, p, sale.vars).catch((err: Error) => out.problems.push(err.message));
  }
  if (raw.length !== okHolds) out.problems.push(`truth.reservations: ${raw.length} rows for the ${okHolds} holds this check was told succeeded; the query must return every reservation of the schedule {{scheduleId}}`);
}

async function redisTruth(r: RedisClient, p: Profile, sale: SeededSale, okHolds: number, out: ProfileCheckResult): Promise<void> {
  const spec = p.truth!.redis!;
  const holds = await readHolds(r, spec, sale.vars);
  out.redisTruth = { keys: holds.length, sample: holds.slice(0, 3) };
  const match = render(spec.match, sale.vars, 'truth.redis.match') as string;
  if (holds.length === 0 && okHolds > 0) {
    const [, some] = await r.scan('0', 'COUNT', 100);
    out.problems.push(`truth.redis.match: no key matches "${match}" after ${okHolds} hold(s) succeeded${some.length ? `; keys there: ${some.slice(0, 5).join(', ')}` : ''}`);
  }
  for (const h of holds.slice(0, 3)) {
    if (h.seatNo === null) out.problems.push(`truth.redis.seatNo: "${spec.seatNo}" gives no seat number for key ${h.key}`);
    if (h.userId === null || h.userId === '') out.problems.push(`truth.redis.userId: "${spec.userId}" gives no holder for key ${h.key}`);
  }
}

function fieldsOf(text: string | undefined): string {
  try {
    const v = JSON.parse(text ?? '') as unknown;
    if (typeof v === 'object' && v !== null) return ` (its fields: ${Object.keys(v).join(', ') || 'none'})`;
  } catch { /* not JSON */ }
  return '';
}
