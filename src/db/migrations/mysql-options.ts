import type { Knex } from 'knex';
import { rawRows } from '../dialect.js';

// How the PostgreSQL schema maps onto InnoDB, for every migration:
//   bigserial → BIGINT AUTO_INCREMENT PRIMARY KEY; text → VARCHAR(255) (it is indexed or short);
//   timestamptz → DATETIME(6), holding UTC (every pooled session sets time_zone '+00:00');
//   jsonb → JSON; CHECK constraints stay (enforced since MariaDB 10.2 and MySQL 8.0.16).
//
// Text compares byte for byte, as on PostgreSQL: the servers' default collations are case- and
// (MySQL 8) accent-insensitive, which would make idempotency keys "K1" and "k1" one key and two
// different request hashes equal. The binary NO PAD collation also keeps 'a' and 'a ' apart;
// utf8mb4_bin (PAD SPACE) is the fallback on servers that have neither.
const BINARY_COLLATIONS = ['utf8mb4_0900_bin', 'utf8mb4_nopad_bin', 'utf8mb4_bin'];

/** The table options every MySQL table gets: InnoDB, utf8mb4, a byte-wise collation. */
export async function mysqlTableOptions(db: Knex): Promise<string> {
  const rows = await rawRows<{ name: string }>(db,
    'SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN (?, ?, ?)', BINARY_COLLATIONS);
  const have = new Set(rows.map((r) => r.name));
  const collation = BINARY_COLLATIONS.find((c) => have.has(c)) ?? 'utf8mb4_bin';
  return `ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`;
}
