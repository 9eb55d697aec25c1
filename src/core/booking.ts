import type { Knex } from 'knex';
import type { HoldOutcome, StrategyRuntime } from './ports.js';
import { cancel, chargeBalance, pay, type Answer } from './payments.js';

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

  /** Seats of a schedule, or null when the schedule does not exist. */
  async listSeats(scheduleId: number): Promise<{ seatNo: number; status: string }[] | null> {
    const schedule = await this.db('schedules').where({ id: scheduleId }).first('id');
    if (!schedule) return null;
    const rows = await this.db('seats').where({ schedule_id: scheduleId }).orderBy('seat_no').select('seat_no', 'status');
    return rows.map((r: { seat_no: number; status: string }) => ({ seatNo: r.seat_no, status: r.status }));
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

  pay(p: { userId: number; reservationId: number; key: string; hash: string }): Promise<Answer> {
    return pay(this.db, this.strategy, p);
  }

  cancel(userId: number, reservationId: number): Promise<Answer> {
    return cancel(this.db, this.strategy, { userId, reservationId });
  }

  /** One general-admission ticket (no seat choice) from the schedule's inventory. */
  holdTicket(userId: number, scheduleId: number): Promise<HoldOutcome> {
    return this.strategy.holdTicket({ userId, scheduleId, holdTtlMs: this.config.holdTtlMs });
  }
}
