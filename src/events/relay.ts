import type { Knex } from 'knex';
import type { RedisClient } from '../core/ports.js';
import { dbErrorKind } from '../db/errors.js';
import { startPeriodic } from '../core/periodic.js';
import { asLeader } from '../db/sql/reservations.js';
import { markPublished, outboxBatch } from '../db/sql/outbox.js';
import { jsonValue } from '../db/sql/exec.js';

export const EVENTS_STREAM = 'seatlab:events';
const RELAY_LOCK = 'seatlab:outbox-relay';

/**
 * Publishes committed outbox rows to a Redis Stream, oldest first, then marks them published —
 * in one transaction, so a crash between the two republishes (at least once) and never loses an
 * event. Only committed rows are visible, so a rolled-back transaction publishes nothing. One relay
 * at a time (the leader lock) keeps the events of a reservation in commit order.
 */
export async function relayOnce(db: Knex, redis: RedisClient, batch = 500): Promise<number> {
  return asLeader(db, RELAY_LOCK, 0, async (trx) => {
    const rows = await outboxBatch(trx, batch);
    if (rows.length === 0) return 0;
    const pipe = redis.pipeline();
    for (const r of rows) {
      pipe.xadd(EVENTS_STREAM, '*', 'outboxId', String(r.id), 'type', r.event_type, 'aggregate', r.aggregate_type,
        'aggregateId', String(r.aggregate_id), 'payload', JSON.stringify(jsonValue(r.payload)), 'createdAt', r.created_at.toISOString());
    }
    const results = await pipe.exec();
    const failed = results?.find(([e]) => e)?.[0];
    if (failed) throw failed;
    await markPublished(trx, rows.map((r) => r.id));
    return rows.length;
  });
}

export function startRelay(db: Knex, redis: RedisClient, opts: { intervalMs: number; onError?: (e: unknown) => void; onRun?: (ok: boolean) => void }): () => Promise<void> {
  const drain = async () => {
    while ((await relayOnce(db, redis)) > 0) { /* until the backlog is published */ }
  };
  return startPeriodic(drain, {
    ...opts,
    // Drain what was committed before the stop, so nothing waits for a relay that is gone. If the
    // database is already gone (Ctrl-C reaches it too), the rows stay for the next relay: no loss.
    onStop: () => drain().catch((e) => { if (dbErrorKind(e) !== 'connection') opts.onError?.(e); }),
  });
}
