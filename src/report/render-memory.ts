import type { Report, StrategyResult } from './schema.js';
import type { MemoryFigures } from '../load/memory.js';
import { labeller } from './render-faults.js';

// The lab's own memory, as report.md shows it: one line per result, each run's peak when there
// were several. Reads results[].memory and runs[].memory (src/load/memory.ts).

const mib = (bytes: number) => `${Math.round(bytes / 1048576)} MiB`;
const perOp = (bytes: number) => (bytes >= 10_240 ? `${(bytes / 1024).toFixed(0)} KiB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} bytes`);

/** "peak 612 MiB (118 MiB at the start) for 290,112 operations: 1.7 KiB per operation, the history's columns 66 bytes". */
export function memoryText(m: MemoryFigures): string {
  const per = m.bytesPerOp !== null ? `: ${perOp(Math.max(0, m.bytesPerOp))} per operation, the history's columns ${perOp(m.historyBytesPerOp ?? 0)}` : '';
  return `peak ${mib(m.peakRssBytes)} resident (${mib(m.startRssBytes)} at the start) for ${m.opsRecorded.toLocaleString('en-US')} operations${per}`;
}

export function renderMemoryMarkdown(r: Report): string[] {
  const withMemory = r.results.filter((s): s is StrategyResult & { memory: MemoryFigures } => s.memory !== undefined);
  if (withMemory.length === 0) return [];
  const label = labeller(r);
  const out = ['## The lab\'s memory', '',
    'The lab process alone (the load generator, its plan, the recorder and the checkers; the servers, the store and Redis are processes of their own), ' +
    'from seeding to the checks; per operation is (peak − start) ÷ the operations in the history.', ''];
  for (const s of withMemory) {
    const runs = (s.runs ?? []).filter((x) => x.memory);
    const each = runs.length > 1 ? `; each run: ${runs.map((x) => `${x.run}: ${mib(x.memory!.peakRssBytes)}`).join(', ')}` : '';
    out.push(`- ${label(s)}: ${memoryText(s.memory)}${s.memory.run !== undefined && runs.length > 1 ? ` (run ${s.memory.run}, the highest)` : ''}${each}.`);
  }
  out.push('');
  return out;
}
