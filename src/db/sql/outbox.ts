// The outbox relay's statements.
import { affected, dialect, rows, type Q } from './exec.js';

export interface OutboxRow { id: number; aggregate_type: string; aggregate_id: number; event_type: string; payload: unknown; created_at: Date }

/** The oldest unpublished events, row-locked until the relay's transaction ends. */
export function outboxBatch(trx: Q, limit: number): Promise<OutboxRow[]> {
  return rows<OutboxRow>(trx, {
    sql: `SELECT id, aggregate_type, aggregate_id, event_type, payload, created_at FROM outbox
           WHERE published_at IS NULL ORDER BY id LIMIT ? FOR UPDATE`,
    bindings: [limit],
  });
}

export async function markPublished(trx: Q, ids: number[]): Promise<void> {
  // A list binding: a PostgreSQL array, a comma list on MySQL (mysql2 expands arrays).
  const which = dialect(trx) === 'pg' ? '= ANY(?::bigint[])' : 'IN (?)';
  if (ids.length > 0) await affected(trx, { sql: `UPDATE outbox SET published_at = CURRENT_TIMESTAMP(6) WHERE id ${which}`, bindings: [ids] });
}
