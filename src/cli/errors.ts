/** A user error: bad flag or configuration. Printed without a stack; exit code 1. */
export class UsageError extends Error {
  readonly exitCode = 1;
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'UsageError';
  }
}

export const EXIT = {
  ok: 0,
  usage: 1,
  infra: 2,
  invariantViolated: 3,
  regression: 4,
  /** bench compare: a (strategy, fault) in the baseline is missing from the current report, so it went unchecked. */
  missingStrategy: 5,
  thresholdBreached: 99,
  /** Ctrl-C (SIGINT): 128 + 2, as a shell reports it; set by async-exit-hook once the cleanups are done (SIGTERM: 143). */
  interrupted: 130,
} as const;
