import { summaryLine, tally, type ConnectionErrorCount } from '../infra/error-tally.js';
import type { StrategyResult } from '../report/schema.js';
import type { Io } from './run.js';

// Store connections lost during a run (a fault at work, a store restarting): one line per component
// on stderr and the counts in the run's result, never a line per connection. Runs follow each
// other and stop their servers before they end, so what the tally holds at a run's end is that run's.

/** Takes this process's tally (its own connections and its servers' reports) and prints one line per component. */
export function takeConnectionErrors(io: Io, label: string): ConnectionErrorCount[] {
  const counts = tally.take();
  for (const e of counts) io.err(`${label} ${summaryLine(e)}`);
  return counts;
}

/** The run's result with the connections lost during it, if any. */
export function withConnectionErrors(r: StrategyResult, io: Io, label: string): StrategyResult {
  const counts = takeConnectionErrors(io, label);
  return counts.length > 0 ? { ...r, connectionErrors: counts } : r;
}
