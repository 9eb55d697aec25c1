/** Raised when neither an explicit URL, an ephemeral server nor Docker can give us a server. Exit code 2. */
export class InfraUnavailableError extends Error {
  readonly exitCode = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InfraUnavailableError';
  }
}

export function describeCause(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    return err.errors.map(describeCause).join('; ');
  }
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err);
  return String(err);
}
