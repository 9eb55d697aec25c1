import type { Knex } from 'knex';
import type { HoldOutcome, StrategyRuntime } from './ports.js';
import { newStoreBusyCounters, storeBusy, type StoreBusyCounters } from './busy.js';
import { concertsWithSchedules, insertReturningId, seatMapJson, userExists } from '../db/sql/catalog.js';
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
    return insertReturningId(this.db, 'users', { name });
  }

  userExists(userId: number): Promise<boolean> {
    return userExists(this.db, userId);
  }

  async listConcerts(): Promise<ConcertView[]> {
    const rows = await concertsWithSchedules(this.db);
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

  /** The seat map as JSON text `[{"seatNo","status"}…]`, or null when the schedule does not exist. */
  seatMapJson(scheduleId: number): Promise<string | null> {
    return seatMapJson(this.db, scheduleId);
  }

  /** Strategy counters and the store's busy answers (deadlock victims, lock-wait timeouts) together. */
  readonly storeCounters: StoreBusyCounters = newStoreBusyCounters();

  counters(): Record<string, number> {
    return { ...this.strategy.counters(), ...this.storeCounters };
  }

  /** A contended store error (deadlock, lock wait timeout) is busy, like a lock the strategy could not get. */
  private async contended(fn: () => Promise<HoldOutcome>): Promise<HoldOutcome> {
    try {
      return await fn();
    } catch (err) {
      const reason = storeBusy(err, this.storeCounters);
      if (reason) return { kind: 'busy', reason };
      throw err;
    }
  }

  hold(userId: number, scheduleId: number, seatNo: number): Promise<HoldOutcome> {
    return this.contended(() => this.strategy.hold({ userId, scheduleId, seatNo, holdTtlMs: this.config.holdTtlMs }));
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
    return pay(this.db, this.strategy, p, this.storeCounters);
  }

  /** A replay of an earlier payment request (same user, key and body), if there was one. */
  replay(p: { userId: number; key: string; hash: string }): Promise<Answer | null> {
    return storedAnswer(this.db, p);
  }

  async cancel(userId: number, reservationId: number): Promise<Answer> {
    try {
      return await cancel(this.db, this.strategy, { userId, reservationId });
    } catch (err) {
      const reason = storeBusy(err, this.storeCounters);
      if (reason) return { status: 409, body: { error: 'BUSY', message: `${reason}; retry` } };
      throw err;
    }
  }

  /** One general-admission ticket (no seat choice) from the schedule's inventory. */
  holdTicket(userId: number, scheduleId: number): Promise<HoldOutcome> {
    return this.contended(() => this.strategy.holdTicket({ userId, scheduleId, holdTtlMs: this.config.holdTtlMs }));
  }
}
