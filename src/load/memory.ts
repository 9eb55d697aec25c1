// The lab process's own memory over one run (seed → ceiling → load → checks): its peak resident
// size and what that comes to per recorded operation, so a report says whether the driver itself
// would fit a sale ten times larger. Only this process: the servers, the store and Redis are
// processes of their own (their CPU is in cpu.ts).

export interface MemoryFigures {
  /** The lab process's highest resident set size during the run, bytes. */
  peakRssBytes: number;
  /** Its resident set size when the run began (the runtime, modules and whatever earlier runs left). */
  startRssBytes: number;
  /** Operations in the run's history (0 when it keeps none). */
  opsRecorded: number;
  /** (peak − start) ÷ operations: what the run cost per operation, the plan and the seed included; null without operations. */
  bytesPerOp: number | null;
  /** The history's own columns per operation (src/load/history-log.ts); null without operations. */
  historyBytesPerOp: number | null;
  /** Over several runs: the run these figures are from (the one with the highest peak). */
  run?: number;
}

/** How often the resident size is sampled; the kernel's high-water mark catches what falls between samples. */
const SAMPLE_MS = 200;

export function startMemoryWindow(): { end(ops: number, historyBytes: number): MemoryFigures } {
  const startRss = process.memoryUsage.rss();
  // ru_maxrss only rises: when it rose during the run, the process's peak was in the run.
  const hwmBefore = process.resourceUsage().maxRSS * 1024;
  let peak = startRss;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, SAMPLE_MS);
  timer.unref();
  return {
    end(ops, historyBytes) {
      clearInterval(timer);
      const hwm = process.resourceUsage().maxRSS * 1024;
      const peakRssBytes = Math.max(peak, process.memoryUsage.rss(), hwm > hwmBefore ? hwm : 0);
      return {
        peakRssBytes, startRssBytes: startRss, opsRecorded: ops,
        bytesPerOp: ops > 0 ? Math.round((peakRssBytes - startRss) / ops) : null,
        historyBytesPerOp: ops > 0 ? Math.round(historyBytes / ops) : null,
      };
    },
  };
}
