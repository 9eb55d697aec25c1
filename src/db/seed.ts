import type { Knex } from 'knex';
import { signUserToken } from '../core/tokens.js';

export interface SeededSchedule { concertId: number; scheduleId: number; seatCount: number; price: number }
export interface SeededUser { id: number; token: string }

/** One concert, one schedule, seats 1..N, and its general-admission inventory: one statement per table. */
export async function seedSchedule(db: Knex, p: { seats: number; price?: number; name?: string; startsAt?: Date }): Promise<SeededSchedule> {
  const price = p.price ?? 100;
  return db.transaction(async (trx) => {
    const [c] = await trx('concerts').insert({ name: p.name ?? 'seatlab concert' }).returning('id');
    const concertId = (c as { id: number }).id;
    const [s] = await trx('schedules')
      .insert({ concert_id: concertId, starts_at: p.startsAt ?? new Date(Date.now() + 30 * 86400_000), seat_count: p.seats, price })
      .returning('id');
    const scheduleId = (s as { id: number }).id;
    await trx.raw('INSERT INTO seats (schedule_id, seat_no) SELECT ?, g FROM generate_series(1, ?::int) g', [scheduleId, p.seats]);
    await trx('inventory').insert({ schedule_id: scheduleId, total: p.seats, remaining: p.seats });
    return { concertId, scheduleId, seatCount: p.seats, price };
  });
}

/** N users in one INSERT … SELECT generate_series; tokens are minted here, not over HTTP. */
export async function seedUsers(db: Knex, p: { count: number; secret: string; balance?: number; prefix?: string }): Promise<SeededUser[]> {
  const res = await db.raw(
    `INSERT INTO users (name, balance) SELECT ? || g, ? FROM generate_series(1, ?::int) g RETURNING id`,
    [p.prefix ?? 'user-', p.balance ?? 0, p.count],
  );
  const ids = (res.rows as { id: number }[]).map((r) => r.id).sort((a, b) => a - b);
  return ids.map((id) => ({ id, token: signUserToken(p.secret, id) }));
}
