import { readFile } from 'node:fs/promises';
import { ALPHA, compareReports, otherDifferences, paramDifferences, renderComparison } from '../report/compare.js';
import { SCHEMA_VERSION, type Report } from '../report/schema.js';
import { reportStores } from '../report/render-faults.js';
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

export interface RawCompareOptions { maxRegression?: string; alpha?: string; allowDifferentParams?: boolean }

/**
 * bench compare: markdown to stdout; exit 0 (no regression), 4 (regression), 3 (oversell),
 * 5 (a baseline result is missing from the current report), 1 (reports of different experiments).
 */
export async function compare(baselineFile: string, currentFile: string, raw: RawCompareOptions, io: Io): Promise<number> {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(raw.maxRegression ?? '10%');
  if (!m) throw new UsageError([`--max-regression must be a percentage such as 10% (got "${raw.maxRegression}")`]);
  const limit = Number(m[1]);
  const alpha = Number(raw.alpha ?? ALPHA);
  if (!(alpha > 0 && alpha < 0.5)) throw new UsageError([`--alpha must be a p-value between 0 and 0.5, such as 0.05 or 0.01 (got "${raw.alpha}")`]);
  const [baseline, current] = [await load(baselineFile, 'baseline'), await load(currentFile, 'current')];
  const differ = paramDifferences(baseline, current).map((d) => `${d.field} differs: baseline ${d.baseline}, current ${d.current}`);
  const notes: string[] = [];
  if (differ.length > 0 && !raw.allowDifferentParams) {
    throw new UsageError([...differ, 'these reports measure different experiments; rerun with the baseline\'s parameters, or add --allow-different-params to compare anyway']);
  }
  for (const d of differ) io.err(`warning: ${d} (compared anyway: --allow-different-params)`);
  if (differ.length > 0) notes.push(`Compared despite different parameters (--allow-different-params): ${differ.join('; ')}.`);
  const other = otherDifferences(baseline, current);
  if (other.length > 0) notes.push(`Also differs, compared anyway: ${other.map((d) => `${d.field} ${d.baseline} → ${d.current}`).join('; ')}.`);
  // One store each side, not the same one (allowed above): each strategy is compared with itself on the other store.
  const [bs, cs] = [reportStores(baseline), reportStores(current)];
  const acrossStores = bs.length === 1 && cs.length === 1 && bs[0] !== cs[0];
  if (acrossStores) notes.push(`Baseline on ${bs[0]}, current on ${cs[0]}: each strategy is compared with itself on the other store, so a change is the store's as much as the code's.`);
  const c = compareReports(baseline, current, limit, alpha, { acrossStores });
  io.out(renderComparison(c, baseline, current, limit, notes));
  return c.exitCode;
}
