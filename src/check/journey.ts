import type { Knex } from 'knex';
import * as sql from '../db/sql/checks.js';
import { redisFromUrl } from '../infra/redis-client.js';
import { EVENTS_STREAM } from '../events/relay.js';
import { checkSeats } from './seats.js';
import { checkBalance } from './balance.js';
import { ViolationLog, type CheckInput, type CheckResult } from './violations.js';

export interface JourneyCheckInput extends CheckInput {
  redisUrl: string;
  keyPrefix: string;
  /** Holds that were abandoned (should have expired by now). */
  abandoned: number;
}

export interface JourneyCheckResult extends CheckResult { confirmed: number; expired: number; resold: number; events: number }

/** Seats (never sold twice), money (conserved) and events (every confirmed/expired reservation published). */
export async function checkJourney(db: Knex, input: JourneyCheckInput): Promise<JourneyCheckResult> {
  const log = new ViolationLog();
  const seats = await checkSeats(db, input);
  const money = await checkBalance(db, { ...input, okResponses: -1 });
  for (const r of [seats, money]) {
    for (const v of r.violations) if (v.kind !== 'responses-disagree-with-db' || r === seats) log.add(v);
  }
  const r = redisFromUrl(input.redisUrl, { keyPrefix: input.keyPrefix, lazyConnect: true, maxRetriesPerRequest: 1 });
  r.on('error', () => undefined);
  await r.connect();
  const published = new Set<string>();
  try {
    for (let from = '-'; ;) {
      const batch = (await r.xrange(EVENTS_STREAM, from, '+', 'COUNT', 5000)) as [string, string[]][];
      for (const [, f] of batch) {
        const m: Record<string, string> = {};
        for (let i = 0; i < f.length; i += 2) m[f[i]!] = f[i + 1]!;
        published.add(`${m.type}:${m.aggregateId}`);
      }
      if (batch.length < 5000) break;
      from = `(${batch.at(-1)![0]}`;
    }
  } finally {
    r.disconnect();
  }
  const rows = await sql.endedReservations(db, input.scheduleId);
  for (const row of rows) {
    const type = row.status === 'CONFIRMED' ? 'reservation.confirmed' : 'reservation.expired';
    if (!published.has(`${type}:${row.id}`)) log.add({ kind: 'event-missing', detail: `reservation ${row.id} is ${row.status} but ${type} is not in the stream` });
  }
  const confirmed = rows.filter((x) => x.status === 'CONFIRMED').length;
  const expired = rows.filter((x) => x.status === 'EXPIRED').length;
  const stillHeld = await sql.heldCount(db, input.scheduleId);
  if (input.abandoned > 0 && stillHeld > 0) log.add({ kind: 'abandoned-holds-not-expired', detail: `${stillHeld} holds are still HELD after their TTL and a sweep` });
  const resold = await sql.resoldSeats(db, input.scheduleId);
  return { oversold: seats.oversold, capacity: seats.capacity, activeReservations: seats.activeReservations, confirmed, expired, resold, events: published.size,
    violations: log.violations, violationCounts: log.counts };
}
