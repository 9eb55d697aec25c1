import type { Knex } from 'knex';
import type { ReservationInterval } from '../check/intervals.js';
import type { Profile } from './profile.js';
import { idNumber, pick, render, sqlTemplate, type Vars } from './template.js';

// The truth about a target's sale. From its database (the profile's SQL): every reservation of
// the schedule with its seat, user and active period, so the same interval checker that judges
// seatlab's own core judges the target. Without a database only the API's seat map is left: it
// can show how many seats are taken, never that one seat was sold twice.

const toUs = (v: unknown): number | null => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'bigint' || (typeof v === 'string' && /^\d+$/.test(v))) return Number(v);
  const t = new Date(v as string).getTime();
  return Number.isFinite(t) ? t * 1000 : null;
};

/**
 * Rows of truth.reservations: id, userId, seatNo (null for a ticket), active (boolean), and either
 * startUs/endUs (epoch microseconds) or createdAt/endedAt (timestamps). A row that is no longer
 * active and has no end time is taken as never overlapping (the weakest reading, said in the report).
 */
export async function reservationsFromDb(db: Knex, p: Profile, vars: Vars): Promise<{ rows: ReservationInterval[]; endsKnown: boolean }> {
  const q = sqlTemplate(p.truth!.reservations!, vars, 'truth.reservations');
  const res = (await db.raw(q.sql, q.bindings as Knex.RawBinding[])) as { rows?: Vars[] } | Vars[][];
  const raw = Array.isArray(res) ? (res[0] as Vars[]) : (res.rows ?? []);
  let endsKnown = true;
  const rows = raw.map((r): ReservationInterval => {
    const startUs = toUs(r.startUs ?? r.createdAt);
    if (startUs === null) throw new Error('truth.reservations: every row needs startUs or createdAt');
    const active = r.active === true || r.active === 't' || r.active === 1 || r.active === '1';
    let endUs = toUs(r.endUs ?? r.endedAt);
    if (!active && endUs === null) {
      endsKnown = false;
      endUs = startUs;
    }
    return { id: idNumber(r.id), userId: idNumber(r.userId), scheduleId: Number(vars.scheduleId), seatNo: r.seatNo === null || r.seatNo === undefined ? null : Number(r.seatNo),
      status: active ? 'HELD' : 'ENDED', startUs, endUs: active ? null : endUs };
  });
  return { rows, endsKnown };
}

/** What the API's seat map shows: how many seats are taken (the weaker check). */
export async function takenFromApi(base: string, p: Profile, vars: Vars, token: string): Promise<number> {
  const m = p.seatMap!;
  const res = await fetch(`${base}${render(m.path, vars, 'seatMap.path') as string}`, {
    method: m.method, headers: { authorization: `Bearer ${token}`, ...(render(m.headers ?? {}, { ...vars, token }, 'seatMap.headers') as Record<string, string>) },
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) throw new Error(`seatMap: ${m.method} ${m.path} answered ${res.status}`);
  const list = pick(await res.json(), m.list);
  if (!Array.isArray(list)) throw new Error(`seatMap.list: ${m.list} is not a list in the answer`);
  return list.filter((s) => m.taken.includes(String(pick(s, m.status)))).length;
}
