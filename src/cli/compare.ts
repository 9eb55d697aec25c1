import { readFile } from 'node:fs/promises';
import { compareReports, renderComparison } from '../report/compare.js';
import { SCHEMA_VERSION, type Report } from '../report/schema.js';
import { UsageError } from './errors.js';
import type { Io } from './run.js';

async function load(file: string, what: string): Promise<Report> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UsageError([`${what} ${file}: cannot read the file; give the path of a report.json written by bench run`]);
  }
  let report: Report;
  try {
    report = JSON.parse(text) as Report;
  } catch {
    throw new UsageError([`${what} ${file}: not JSON; give a report.json written by bench run`]);
  }
  if (report.schemaVersion !== SCHEMA_VERSION || !Array.isArray(report.results)) {
    throw new UsageError([`${what} ${file}: not a seatlab report of schemaVersion ${SCHEMA_VERSION}`]);
  }
  return report;
}

/** bench compare: markdown to stdout, exit 0 (no regression), 4 (regression) or 3 (oversell). */
export async function compare(baselineFile: string, currentFile: string, raw: { maxRegression?: string }, io: Io): Promise<number> {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(raw.maxRegression ?? '10%');
  if (!m) throw new UsageError([`--max-regression must be a percentage such as 10% (got "${raw.maxRegression}")`]);
  const limit = Number(m[1]);
  const [baseline, current] = [await load(baselineFile, 'baseline'), await load(currentFile, 'current')];
  if (baseline.scenario.name !== current.scenario.name) {
    io.err(`warning: comparing scenario ${baseline.scenario.name} with ${current.scenario.name}`);
  }
  const c = compareReports(baseline, current, limit);
  io.out(renderComparison(c, baseline, current, limit));
  return c.exitCode;
}
