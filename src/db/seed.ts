import type { Knex } from 'knex';
import { signUserToken } from '../core/tokens.js';
import { insertReturningId, insertSeats, insertUsers } from './sql/catalog.js';

export interface SeededSchedule { concertId: number; scheduleId: number; seatCount: number; price: number }
export interface SeededUser { id: number; token: string }

/** One concert, one schedule, seats 1..N, and its general-admission inventory: one statement per table. */
export async function seedSchedule(db: Knex, p: { seats: number; price?: number; name?: string; startsAt?: Date }): Promise<SeededSchedule> {
  const price = p.price ?? 100;
  return db.transaction(async (trx) => {
    const concertId = await insertReturningId(trx, 'concerts', { name: p.name ?? 'seatlab concert' });
    const scheduleId = await insertReturningId(trx, 'schedules',
      { concert_id: concertId, starts_at: p.startsAt ?? new Date(Date.now() + 30 * 86400_000), seat_count: p.seats, price });
    await insertSeats(trx, scheduleId, p.seats);
    await trx('inventory').insert({ schedule_id: scheduleId, total: p.seats, remaining: p.seats });
    return { concertId, scheduleId, seatCount: p.seats, price };
  });
}

/** N users in one INSERT (a few on MySQL); tokens are minted here, not over HTTP. */
export async function seedUsers(db: Knex, p: { count: number; secret: string; balance?: number; prefix?: string }): Promise<SeededUser[]> {
  const ids = await insertUsers(db, { count: p.count, prefix: p.prefix ?? 'user-', balance: p.balance ?? 0 });
  return ids.map((id) => ({ id, token: signUserToken(p.secret, id) }));
}
