import type { Knex } from 'knex';
import { dialectOf } from '../dialect.js';

// Overselling is judged on intervals (DESIGN §7): a reservation is active from created_at until
// ended_at (NULL while HELD or CONFIRMED). Both ends are clock_timestamp(), the moment of the write,
// not now(): now() is the transaction's start, so a hold that waited on a row lock would appear to
// begin before the hold it replaced had ended, a false overlap. The default changes too, so rows
// written by code that does not name created_at (seeds, tests) get the same meaning.
// Rows that ended before this migration get updated_at, the best record of that moment we have.
export async function up(db: Knex): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    // created_at's default is CURRENT_TIMESTAMP(6) since 001 on MySQL: the start of the INSERT
    // statement itself, not of the transaction, so a hold that waited on a row lock in an earlier
    // statement is stamped after that wait. Nothing to change. (A statement that may itself wait
    // and must stamp the moment of its write uses SYSDATE(6), MySQL's clock_timestamp().)
    await db.raw('ALTER TABLE reservations ADD COLUMN ended_at DATETIME(6) NULL');
    await db.raw(`UPDATE reservations SET ended_at = updated_at WHERE status IN ('EXPIRED', 'CANCELLED')`);
    return;
  }
  await db.raw(`
    ALTER TABLE reservations ADD COLUMN ended_at timestamptz NULL,
                             ALTER COLUMN created_at SET DEFAULT clock_timestamp();
    UPDATE reservations SET ended_at = updated_at WHERE status IN ('EXPIRED', 'CANCELLED');
  `);
}

export async function down(db: Knex): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    await db.raw('ALTER TABLE reservations DROP COLUMN ended_at');
    return;
  }
  await db.raw('ALTER TABLE reservations DROP COLUMN ended_at, ALTER COLUMN created_at SET DEFAULT now();');
}
