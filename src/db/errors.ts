// PostgreSQL error codes, translated in one place. The original error stays as `cause`.
export type DbErrorKind = 'lock-not-available' | 'serialization' | 'deadlock' | 'foreign-key' | 'unique' | 'canceled' | 'connection' | 'other';

const CODES: Record<string, DbErrorKind> = {
  '55P03': 'lock-not-available', // NOWAIT, or lock_timeout passed
  '40001': 'serialization',
  '40P01': 'deadlock',
  '23503': 'foreign-key',
  '23505': 'unique',
  '57014': 'canceled', // statement_timeout
  '57P01': 'connection', // admin shutdown
  '08006': 'connection',
  '08003': 'connection',
};

export function dbErrorKind(err: unknown): DbErrorKind {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && CODES[code]) return CODES[code]!;
  if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(code)) return 'connection';
  // node-postgres reports a server that went away without an SQLSTATE.
  if (/Connection terminated|terminating connection|Client has encountered a connection error/i.test(String((err as Error)?.message))) return 'connection';
  return 'other';
}
