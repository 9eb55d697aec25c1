import type { Knex } from 'knex';
import type { Profile, HttpStep } from './profile.js';
import { mintJwt, pick, render, sqlTemplate, type Vars } from './template.js';

// A fresh sale on the target: a schedule with N seats and M users with their tokens, made the
// way the profile says — SQL on --target-db, or the target's own HTTP calls. Nothing here is
// measured; it happens before the clock starts.

export interface SeededSale { vars: Vars; users: Vars[] }

/** One call of a seeding step as it went: for `bench profile check`, which shows a profile's author each step. */
export interface StepTrace {
  where: string;
  method: string;
  path: string;
  body?: unknown;
  status?: number;
  /** The answer's text, cut to 500 characters. */
  answer?: string;
  captured: Vars;
  /** Capture paths the answer does not have, as "capture.<name>: <path>". */
  missing: string[];
}

export type Tracer = (t: StepTrace) => void;

const env = () => Object.fromEntries(Object.entries(process.env).map(([k, v]) => [`env.${k}`, v]));

async function call(base: string, s: HttpStep, vars: Vars, where: string, trace?: Tracer): Promise<Vars> {
  const path = render(s.path, vars, where) as string;
  const body = s.body === undefined ? undefined : render(s.body, vars, where);
  const res = await fetch(`${base}${path}`, {
    method: s.method,
    headers: { 'content-type': 'application/json', ...(render(s.headers ?? {}, vars, where) as Record<string, string>) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  const t: StepTrace = { where, method: s.method, path, ...(body !== undefined ? { body } : {}), status: res.status, answer: text.slice(0, 500), captured: {}, missing: [] };
  if (!res.ok) {
    trace?.(t);
    throw new Error(`${where}: ${s.method} ${s.path} answered ${res.status}: ${text.slice(0, 200)}`);
  }
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    trace?.(t);
    throw new Error(`${where}: ${s.method} ${s.path} answered ${res.status} with a body that is not JSON, so nothing can be captured from it: ${text.slice(0, 200)}`);
  }
  for (const [k, at] of Object.entries(s.capture ?? {})) {
    const v = pick(json, at);
    t.captured[k] = v;
    if (v === undefined) t.missing.push(`capture.${k}: ${at}`);
  }
  trace?.(t);
  return t.captured;
}

async function rows(db: Knex, sql: string, vars: Vars, where: string): Promise<Vars[]> {
  const q = sqlTemplate(sql, vars, where);
  const res = (await db.raw(q.sql, q.bindings as Knex.RawBinding[])) as { rows?: Vars[] } | Vars[][];
  return Array.isArray(res) ? (res[0] as Vars[]) : (res.rows ?? []);
}

/** Seeds one sale: `seats` seats (or tickets), `users` users, a label unique to this run. */
export async function seedSale(p: Profile, o: { base: string; db?: Knex; seats: number; users: number; label: string; trace?: Tracer }): Promise<SeededSale> {
  const base: Vars = { ...env(), seats: o.seats, users: o.users, label: o.label };
  let vars: Vars;
  if (p.schedule.sql) {
    if (!o.db) throw new Error(`profile ${p.name} seeds its schedule with SQL: give --target-db <url of the target's database>`);
    vars = { ...base };
    await o.db.transaction(async (trx) => {
      for (const [i, stmt] of p.schedule.sql!.entries()) {
        const out = await rows(trx, stmt, vars, `schedule.sql[${i}]`);
        if (out[0]) vars = { ...vars, ...out[0] };
      }
    });
  } else {
    vars = { ...base, ...(await call(o.base, p.schedule.http!, base, 'schedule.http', o.trace)) };
  }
  if (vars.scheduleId === undefined) throw new Error(`profile ${p.name}: the schedule step must give a scheduleId (a column or a capture named scheduleId)`);
  if (p.schedule.seats) {
    if (!o.db) throw new Error(`profile ${p.name} maps seat numbers with SQL (schedule.seats): give --target-db`);
    // Per-seat variables (e.g. the target's own seat id), keyed "seat.<seatNo>.<column>".
    for (const r of await rows(o.db, p.schedule.seats, vars, 'schedule.seats')) {
      for (const [k, v] of Object.entries(r)) if (k !== 'seatNo') vars[`seat.${String(r.seatNo)}.${k}`] = v;
    }
  }

  let users: Vars[];
  if (p.users.sql) {
    if (!o.db) throw new Error(`profile ${p.name} creates users with SQL: give --target-db`);
    users = await rows(o.db, p.users.sql, { ...vars, count: o.users }, 'users.sql');
    if (users.length !== o.users) throw new Error(`users.sql returned ${users.length} rows for ${o.users} users`);
  } else {
    // One call per user, 32 at a time (seeding is not measured, but 10,000 calls in a row take a while).
    users = new Array<Vars>(o.users);
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(32, o.users) }, async () => {
      while (next < o.users) {
        const i = next++;
        users[i] = { i: i + 1, ...(await call(o.base, p.users.http!, { ...vars, i: i + 1 }, 'users.http', o.trace)) };
      }
    }));
  }
  users = users.map((u, i) => {
    if (u.userId === undefined) throw new Error(`profile ${p.name}: every user needs a userId (a column or a capture named userId)`);
    const uv: Vars = { ...vars, ...u, i: i + 1 };
    for (const [name, spec] of Object.entries(p.jwt ?? {})) uv[`jwt.${name}`] = mintJwt(spec, uv, `jwt.${name}`);
    return { ...uv, token: render(p.users.token, uv, 'users.token') };
  });
  return { vars, users };
}
