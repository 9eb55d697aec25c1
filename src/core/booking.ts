import type { Knex } from 'knex';
import type { HoldOutcome, StrategyRuntime } from './ports.js';
import { cancel, chargeBalance, pay, storedAnswer, type Answer, type PayRequest } from './payments.js';

export interface ConcertView {
  id: number;
  name: string;
  schedules: { id: number; startsAt: string; seatCount: number; price: number; available: number }[];
}

export interface BookingConfig {
  holdTtlMs: number;
}

/** The booking core. Contended writes go through the strategy; plain reads and inserts do not. */
export class BookingService {
  constructor(
    private readonly db: Knex,
    private readonly strategy: StrategyRuntime,
    readonly config: BookingConfig,
  ) {}

  async createUser(name: string): Promise<number> {
    const [row] = await this.db('users').insert({ name }).returning('id');
    return (row as { id: number }).id;
  }

  async userExists(userId: number): Promise<boolean> {
    return (await this.db('users').where({ id: userId }).first('id')) !== undefined;
  }

  async listConcerts(): Promise<ConcertView[]> {
    const rows = (await this.db.raw(`
      SELECT c.id AS concert_id, c.name, s.id, s.starts_at, s.seat_count, s.price,
             (SELECT count(*) FROM seats x WHERE x.schedule_id = s.id AND x.status = 'AVAILABLE')::int AS available
        FROM concerts c LEFT JOIN schedules s ON s.concert_id = c.id
       ORDER BY c.id, s.starts_at, s.id`)).rows as {
      concert_id: number; name: string; id: number | null; starts_at: Date; seat_count: number; price: number; available: number;
    }[];
    const byId = new Map<number, ConcertView>();
    for (const r of rows) {
      let c = byId.get(r.concert_id);
      if (!c) byId.set(r.concert_id, (c = { id: r.concert_id, name: r.name, schedules: [] }));
      if (r.id !== null) {
        c.schedules.push({ id: r.id, startsAt: r.starts_at.toISOString(), seatCount: r.seat_count, price: r.price, available: r.available });
      }
    }
    return [...byId.values()];
  }

  /**
   * The seat map as JSON text `[{"seatNo","status"}…]`, or null when the schedule does not exist.
   * PostgreSQL builds the JSON: a seat map is read by every buyer, and serialising it in the one
   * server event loop was the largest cost of a journey.
   */
  async seatMapJson(scheduleId: number): Promise<string | null> {
    const row = (await this.db.raw(
      `SELECT (SELECT coalesce(json_agg(json_build_object('seatNo', seat_no, 'status', status) ORDER BY seat_no), '[]'::json)::text
                 FROM seats WHERE schedule_id = s.id) AS seats
         FROM schedules s WHERE s.id = ?`, [scheduleId])).rows[0] as { seats: string } | undefined;
    return row?.seats ?? null;
  }

  hold(userId: number, scheduleId: number, seatNo: number): Promise<HoldOutcome> {
    return this.strategy.hold({ userId, scheduleId, seatNo, holdTtlMs: this.config.holdTtlMs });
  }

  async scheduleOf(reservationId: number): Promise<number | null> {
    return ((await this.db('reservations').where({ id: reservationId }).first('schedule_id')) as { schedule_id: number } | undefined)?.schedule_id ?? null;
  }

  async balance(userId: number): Promise<number | null> {
    return ((await this.db('users').where({ id: userId }).first('balance')) as { balance: number } | undefined)?.balance ?? null;
  }

  charge(userId: number, amount: number): Promise<number | null> {
    return chargeBalance(this.db, userId, amount);
  }

  pay(p: PayRequest): Promise<Answer> {
    return pay(this.db, this.strategy, p);
  }

  /** A replay of an earlier payment request (same user, key and body), if there was one. */
  replay(p: { userId: number; key: string; hash: string }): Promise<Answer | null> {
    return storedAnswer(this.db, p);
  }

  cancel(userId: number, reservationId: number): Promise<Answer> {
    return cancel(this.db, this.strategy, { userId, reservationId });
  }

  /** One general-admission ticket (no seat choice) from the schedule's inventory. */
  holdTicket(userId: number, scheduleId: number): Promise<HoldOutcome> {
    return this.strategy.holdTicket({ userId, scheduleId, holdTtlMs: this.config.holdTtlMs });
  }
}
