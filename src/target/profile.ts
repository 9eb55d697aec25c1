import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { validateRedisTruth, type RedisTruthSpec } from './redis-truth.js';

// A profile describes somebody else's booking API in the lab's terms (Artillery's flow-and-capture
// idea, kept to one screen): how users come to exist and get a bearer token, how a sale is seeded,
// how a seat or ticket is held, what the answers mean, and how to read the truth from the
// target's own database. Values in templates are "{{name}}"; a string that is exactly one
// placeholder keeps the value's type (a number stays a number). SQL gets values as bindings only.

export interface HttpStep {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Answer fields to keep as variables: name → dotted path in the JSON answer ("data.id"). */
  capture?: Record<string, string>;
}

export interface JwtSpec { alg: 'HS256'; secret: string; claims: Record<string, unknown>; expiresInSec?: number }

/** How an answer maps onto the lab's outcomes; the first rule that matches wins. */
export interface OutcomeRule { status: number | number[]; bodyIncludes?: string; outcome: 'ok' | 'conflict' | 'soldOut' | 'rejected' | 'error' }

export interface Profile {
  name: string;
  description?: string;
  /** Answered by a healthy target; its answer is recorded in the report. */
  health?: { path: string };
  /** Tokens minted by the lab, per user (e.g. a queue token a load test may mint itself); say why in `note`. */
  jwt?: Record<string, JwtSpec>;
  note?: string;
  /** Users: created with SQL on --target-db (rows with userId), or one HTTP call each. */
  users: { sql?: string; http?: HttpStep; token: string };
  /** A fresh schedule with {{seats}} seats: SQL statements (the last returns scheduleId and any other variables), or an HTTP call. */
  schedule: { sql?: string[]; http?: HttpStep; seats?: string };
  /** Headers sent with every booking request ({{token}} is the user's bearer token). */
  headers?: Record<string, string>;
  hold?: HttpStep;
  holdTicket?: HttpStep;
  outcomes?: OutcomeRule[];
  /**
   * The truth: the target's reservations from its database (SQL on --target-db), and holds that
   * live only in Redis (sampled from --target-redis during the run; see redis-truth.ts).
   */
  truth?: { reservations?: string; redis?: RedisTruthSpec };
  /** Without --target-db: what the API shows of the seats (a weaker check). */
  seatMap?: HttpStep & { list: string; seatNo: string; status: string; taken: string[] };
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const OUTCOMES = ['ok', 'conflict', 'soldOut', 'rejected', 'error'];
const TOP = ['name', 'description', 'health', 'jwt', 'note', 'users', 'schedule', 'headers', 'hold', 'holdTicket', 'outcomes', 'truth', 'seatMap'];

export class ProfileError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`profile ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export async function loadProfile(file: string): Promise<Profile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ProfileError(file, ['cannot read the file; give the path of a .json or .yaml profile (see profiles/)']);
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new ProfileError(file, [`not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message}`]);
  }
  const problems = validateProfile(raw);
  if (problems.length > 0) throw new ProfileError(file, problems);
  return raw as Profile;
}

/** Every problem at once, each naming the field and what was expected. */
export function validateProfile(raw: unknown): string[] {
  const p: string[] = [];
  if (!isObj(raw)) return ['the profile must be an object with name, users, schedule and hold or holdTicket'];
  for (const k of Object.keys(raw)) if (!TOP.includes(k)) p.push(`${k}: unknown field (known: ${TOP.join(', ')})`);
  str(raw, 'name', p, true);
  if (typeof raw.name === 'string' && !/^[a-z0-9][a-z0-9._-]*$/i.test(raw.name)) p.push('name: expected letters, digits, dot, dash or underscore (it names the report row target:<name>)');
  str(raw, 'description', p, false);
  str(raw, 'note', p, false);
  if (raw.health !== undefined) {
    if (isObj(raw.health)) str(raw.health, 'path', p, true, 'health.');
    else p.push('health: expected an object { path }');
  }
  if (raw.jwt !== undefined) {
    if (!isObj(raw.jwt)) p.push('jwt: expected an object name → { alg: "HS256", secret, claims }');
    else for (const [n, j] of Object.entries(raw.jwt)) {
      if (!isObj(j)) { p.push(`jwt.${n}: expected an object { alg, secret, claims }`); continue; }
      if (j.alg !== 'HS256') p.push(`jwt.${n}.alg: expected "HS256" (got ${JSON.stringify(j.alg)})`);
      str(j, 'secret', p, true, `jwt.${n}.`);
      if (!isObj(j.claims)) p.push(`jwt.${n}.claims: expected an object`);
      if (j.expiresInSec !== undefined && !(Number.isInteger(j.expiresInSec) && (j.expiresInSec as number) > 0)) p.push(`jwt.${n}.expiresInSec: expected a positive integer`);
    }
  }
  if (!isObj(raw.users)) p.push('users: required, an object { sql | http, token }');
  else {
    if (raw.users.sql === undefined && raw.users.http === undefined) p.push('users: expected sql (run on --target-db, returning userId) or http (one call per user)');
    str(raw.users, 'sql', p, false, 'users.');
    if (raw.users.http !== undefined) step(raw.users.http, 'users.http', p);
    str(raw.users, 'token', p, true, 'users.');
  }
  if (!isObj(raw.schedule)) p.push('schedule: required, an object { sql: [statements] | http }');
  else {
    if (raw.schedule.sql === undefined && raw.schedule.http === undefined) p.push('schedule: expected sql (statements run on --target-db) or http');
    if (raw.schedule.sql !== undefined && !(Array.isArray(raw.schedule.sql) && raw.schedule.sql.length > 0 && raw.schedule.sql.every((x) => typeof x === 'string'))) p.push('schedule.sql: expected a non-empty array of SQL strings');
    if (raw.schedule.http !== undefined) step(raw.schedule.http, 'schedule.http', p);
    str(raw.schedule, 'seats', p, false, 'schedule.');
  }
  if (raw.headers !== undefined && !strMap(raw.headers)) p.push('headers: expected an object of header name → string');
  if (raw.hold === undefined && raw.holdTicket === undefined) p.push('hold / holdTicket: at least one is required (numbered seats, or general admission)');
  if (raw.hold !== undefined) step(raw.hold, 'hold', p);
  if (raw.holdTicket !== undefined) step(raw.holdTicket, 'holdTicket', p);
  if (raw.outcomes !== undefined) {
    if (!Array.isArray(raw.outcomes)) p.push('outcomes: expected an array of { status, bodyIncludes?, outcome }');
    else raw.outcomes.forEach((r, i) => {
      if (!isObj(r)) return void p.push(`outcomes[${i}]: expected an object`);
      const st = Array.isArray(r.status) ? r.status : [r.status];
      if (!st.every((s) => Number.isInteger(s) && (s as number) >= 100 && (s as number) <= 599)) p.push(`outcomes[${i}].status: expected an HTTP status or a list of them`);
      if (!OUTCOMES.includes(r.outcome as string)) p.push(`outcomes[${i}].outcome: expected one of ${OUTCOMES.join(', ')} (got ${JSON.stringify(r.outcome)})`);
      str(r, 'bodyIncludes', p, false, `outcomes[${i}].`);
    });
  }
  if (raw.truth !== undefined) {
    if (isObj(raw.truth)) {
      for (const k of Object.keys(raw.truth)) if (k !== 'reservations' && k !== 'redis') p.push(`truth.${k}: unknown field (known: reservations, redis)`);
      if (raw.truth.reservations === undefined && raw.truth.redis === undefined) p.push('truth: expected reservations (SQL on --target-db) or redis (holds kept in Redis, read from --target-redis), or both');
      str(raw.truth, 'reservations', p, false, 'truth.');
      if (raw.truth.redis !== undefined) {
        if (isObj(raw.truth.redis)) validateRedisTruth(raw.truth.redis, p);
        else p.push('truth.redis: expected an object { match, seatNo, userId, sampleMs? }');
      }
    } else p.push('truth: expected an object { reservations: SQL, redis?: { match, seatNo, userId } }');
  }
  if (raw.seatMap !== undefined) {
    step(raw.seatMap, 'seatMap', p);
    if (isObj(raw.seatMap)) {
      for (const k of ['list', 'seatNo', 'status']) str(raw.seatMap, k, p, true, 'seatMap.');
      if (!(Array.isArray(raw.seatMap.taken) && raw.seatMap.taken.every((x) => typeof x === 'string'))) p.push('seatMap.taken: expected a list of the statuses that mean taken');
    }
  }
  return p;
}

function step(v: unknown, at: string, p: string[]): void {
  if (!isObj(v)) return void p.push(`${at}: expected an object { method, path, headers?, body?, capture? }`);
  if (!METHODS.includes(v.method as string)) p.push(`${at}.method: expected one of ${METHODS.join(', ')} (got ${JSON.stringify(v.method)})`);
  if (typeof v.path !== 'string' || !v.path.startsWith('/')) p.push(`${at}.path: expected a path starting with / (got ${JSON.stringify(v.path)})`);
  if (v.headers !== undefined && !strMap(v.headers)) p.push(`${at}.headers: expected an object of header name → string`);
  if (v.capture !== undefined && !strMap(v.capture)) p.push(`${at}.capture: expected an object of variable → answer field path`);
}

function str(o: Record<string, unknown>, k: string, p: string[], required: boolean, at = ''): void {
  if (o[k] === undefined) { if (required) p.push(`${at}${k}: required, a string`); return; }
  if (typeof o[k] !== 'string' || (o[k] as string).length === 0) p.push(`${at}${k}: expected a non-empty string (got ${JSON.stringify(o[k])})`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strMap = (v: unknown) => isObj(v) && Object.values(v).every((x) => typeof x === 'string');
