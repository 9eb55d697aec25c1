import { dbErrorKind } from '../db/errors.js';

/**
 * Store errors that mean "contended, try again": a lock wait that timed out (PostgreSQL 55P03,
 * InnoDB 1205 — also MariaDB's NOWAIT), a deadlock victim (40P01, InnoDB 1213: the store rolled the
 * transaction back whole) and a serialization failure. The API answers them as busy (409), never
 * 500, and counts them by kind.
 */
export interface StoreBusyCounters { deadlocks: number; lockWaitTimeouts: number; serializationFailures: number }

export const newStoreBusyCounters = (): StoreBusyCounters => ({ deadlocks: 0, lockWaitTimeouts: 0, serializationFailures: 0 });

/** The busy reason for such an error (counted), or null for any other error. */
export function storeBusy(err: unknown, counters?: StoreBusyCounters): string | null {
  switch (dbErrorKind(err)) {
    case 'deadlock':
      if (counters) counters.deadlocks++;
      return 'the store chose this request as a deadlock victim and rolled it back';
    case 'lock-not-available':
      if (counters) counters.lockWaitTimeouts++;
      return 'a row lock was not granted in time';
    case 'serialization':
      if (counters) counters.serializationFailures++;
      return 'a concurrent update conflicted (serialization failure)';
    default:
      return null;
  }
}
