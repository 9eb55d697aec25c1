// Database errors of both stores, translated in one place. The original error stays as `cause`.
export type DbErrorKind = 'lock-not-available' | 'serialization' | 'deadlock' | 'foreign-key' | 'unique' | 'canceled' | 'connection' | 'other';

// PostgreSQL SQLSTATEs.
const PG_CODES: Record<string, DbErrorKind> = {
  '55P03': 'lock-not-available', // NOWAIT, or lock_timeout passed
  '40001': 'serialization',
  '40P01': 'deadlock',
  '23503': 'foreign-key',
  '23505': 'unique',
  '57014': 'canceled', // statement_timeout
  '57P01': 'connection', // admin shutdown
  '57P02': 'connection', // crash shutdown: another backend crashed, the server restarts
  '57P03': 'connection', // cannot connect now: starting up, or in crash recovery
  '08000': 'connection',
  '08001': 'connection',
  '08004': 'connection',
  '08006': 'connection',
  '08003': 'connection',
};

// MySQL / MariaDB error numbers (mysql2 puts them in `errno`, the symbolic name in `code`).
const MYSQL_ERRNOS: Record<number, DbErrorKind> = {
  1205: 'lock-not-available', // ER_LOCK_WAIT_TIMEOUT: innodb_lock_wait_timeout passed; MariaDB's NOWAIT too
  3572: 'lock-not-available', // ER_LOCK_NOWAIT (MySQL 8)
  1213: 'deadlock', // ER_LOCK_DEADLOCK: InnoDB chose this transaction as the victim and rolled it back
  1020: 'serialization', // ER_CHECKREAD: MariaDB 11.6.2+ innodb_snapshot_isolation, the row changed since the snapshot
  1451: 'foreign-key',
  1452: 'foreign-key',
  1062: 'unique',
  1317: 'canceled', // ER_QUERY_INTERRUPTED (KILL QUERY)
  3024: 'canceled', // ER_QUERY_TIMEOUT (max_execution_time)
  1969: 'canceled', // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
  1053: 'connection', // ER_SERVER_SHUTDOWN
  1927: 'connection', // ER_CONNECTION_KILLED (MariaDB)
  2006: 'connection', // CR_SERVER_GONE_ERROR
  2013: 'connection', // CR_SERVER_LOST
  4031: 'connection', // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
};

const CONNECTION_CODES = ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'ER_CONNECTION_KILLED', 'ER_SERVER_SHUTDOWN'];

export function dbErrorKind(err: unknown): DbErrorKind {
  const e = err as { code?: unknown; errno?: unknown; sqlState?: unknown; message?: unknown; fatal?: unknown };
  const code = e?.code;
  if (typeof code === 'string' && PG_CODES[code]) return PG_CODES[code]!;
  if (typeof e?.sqlState === 'string' && typeof e?.errno === 'number' && MYSQL_ERRNOS[e.errno]) return MYSQL_ERRNOS[e.errno]!;
  if (typeof code === 'string' && CONNECTION_CODES.includes(code)) return 'connection';
  // node-postgres reports a server that went away without an SQLSTATE; mysql2 marks such errors fatal.
  if (/Connection terminated|Connection ended unexpectedly|terminating connection|Client has encountered a connection error|Connection lost|Can't add new command when connection is in closed state/i.test(String(e?.message))) return 'connection';
  if (e?.fatal === true) return 'connection';
  return 'other';
}
