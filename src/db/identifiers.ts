// Identifiers cannot be bound as parameters, so they are validated before interpolation.
const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertIdentifier(name: string): string {
  if (!IDENT.test(name)) throw new Error(`invalid SQL identifier ${JSON.stringify(name)}`);
  return name;
}

export function quoteIdent(name: string): string {
  return `"${assertIdentifier(name)}"`;
}

/** The MySQL/MariaDB form: backticks, after the same validation. */
export function quoteIdentMysql(name: string): string {
  return `\`${assertIdentifier(name)}\``;
}
