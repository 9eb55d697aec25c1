import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { classify, SEAT_BUSY } from './plan.js';
import { readHistory, type HistoryOp } from './history.js';
import { REFUSED, Recorder } from './recorder.js';
import type { RunResult } from './result.js';
import type { Fairness } from './recorder.js';

// A history written somewhere else (the Artillery processor's files, one per worker thread, or a
// lab run's history) read back as the lab's own: merged, counted from its first invocation, and
// replayed through a Recorder so the figures (latency by outcome, sellout, who got the seats) are
// computed by the same code as `bench run`'s, from what the clients saw.

/** Times above this are epoch milliseconds (the processor's), not milliseconds since a run's start. */
const EPOCH_MS = 1e12;

/** The history files of a folder (*.jsonl, *.jsonl.gz), or the one file given. */
export async function historyFiles(where: string): Promise<string[]> {
  const s = await stat(where);
  if (!s.isDirectory()) return [where];
  const names = (await readdir(where)).filter((n) => /\.jsonl(\.gz)?$/.test(n)).sort();
  return names.map((n) => path.join(where, n));
}

export interface MergedHistory {
  ops: HistoryOp[];
  files: string[];
  /** Epoch ms of invokeMs = 0: the first invocation for epoch-stamped files; undefined for a lab history (its t0 is in its report). */
  t0EpochMs?: number;
}

/**
 * Every operation of the files as one history: in invocation order, indexed from 0. Epoch-stamped
 * files (the processor's) are counted from the earliest invocation of any of them; processes must
 * already be distinct across files (the processor's is the user's number in the plan).
 */
export async function mergeHistories(where: string): Promise<MergedHistory> {
  const files = await historyFiles(where);
  if (files.length === 0) throw new Error(`${where} holds no history (*.jsonl or *.jsonl.gz files)`);
  const ops: HistoryOp[] = [];
  for (const f of files) for (const op of await readHistory(f)) ops.push(op);
  if (ops.length === 0) return { ops, files };
  const epoch = ops[0]!.invokeMs > EPOCH_MS;
  if (ops.some((op) => op.invokeMs > EPOCH_MS !== epoch)) throw new Error(`${where}: some files count time from the epoch and some from a run's start; give the files of one run`);
  if (files.length > 1 && !epoch) throw new Error(`${where}: ${files.length} lab histories; a lab run's histories have times of their own run, give one file`);
  const t0 = epoch ? ops.reduce((m, op) => Math.min(m, op.invokeMs), Infinity) : 0;
  ops.sort((a, b) => a.invokeMs - b.invokeMs || a.completeMs - b.completeMs);
  const round3 = (n: number) => Math.round(n * 1000) / 1000;
  const merged = ops.map((op, index) => ({ ...op, index, invokeMs: round3(op.invokeMs - t0), completeMs: round3(op.completeMs - t0) }));
  return { ops: merged, files, ...(epoch ? { t0EpochMs: t0 } : {}) };
}

/** What the load did, as `bench run` reports it, computed from a history alone. */
export interface Replayed {
  result: RunResult;
  fairness?: Fairness;
}

/**
 * Replays the history's hold operations through a Recorder: each operation's answer at its own
 * times, and each client (process) as one user's journey: it arrived at its first operation, got a
 * seat at its first acknowledged one, and otherwise ended after its refusals (busy: SEAT_BUSY).
 */
export function replayHistory(ops: readonly HistoryOp[], capacity: number, t0EpochMs?: number): Replayed {
  const rec = new Recorder(1 + ops.reduce((m, op) => Math.max(m, op.instance), 0), false);
  const journeys = { total: 0, succeeded: 0, exhausted: 0, stopped: 0, unknown: 0 };
  const byProcess = new Map<number, HistoryOp[]>();
  for (const op of ops) {
    const list = byProcess.get(op.process);
    if (list) list.push(op);
    else byProcess.set(op.process, [op]);
  }
  // The history's times (ms since its first invocation) are the Recorder's clock.
  for (const op of ops) {
    const inv = rec.invoke({ op: op.op, ...(op.userId !== undefined ? { userId: op.userId } : {}), ...(op.seatNo !== undefined ? { seatNo: op.seatNo } : {}) }, op.process, op.instance, op.invokeMs);
    const a = op.status !== undefined
      ? { status: op.status, ...(op.status >= 400 && op.error ? { errorCode: op.error } : {}) }
      : { wireError: op.error === REFUSED ? REFUSED : op.error ?? 'NO_ANSWER' };
    rec.complete(inv, a, op.completeMs);
  }
  for (const list of byProcess.values()) {
    journeys.total++;
    let conflicts = 0;
    let busy = 0;
    const arrivedAt = list[0]!.invokeMs;
    const won = list.find((op) => op.outcome === 'ok');
    if (won) {
      journeys.succeeded++;
      rec.journey(arrivedAt, won.completeMs);
      continue;
    }
    for (const op of list) {
      if (op.status !== undefined && classify(op.status, op.error) === 'conflict') {
        conflicts++;
        if (op.error === SEAT_BUSY) busy++;
      }
    }
    const last = list[list.length - 1]!;
    const lastClass = last.status !== undefined ? classify(last.status, last.error) : last.error === REFUSED ? 'error' : 'timeout';
    if (lastClass === 'conflict') journeys.exhausted++;
    else if (lastClass === 'timeout') journeys.unknown++;
    else journeys.stopped++;
    rec.journey(arrivedAt, undefined, conflicts > 0 ? { refusals: conflicts, busy, at: last.completeMs } : undefined);
  }
  const s = rec.summary();
  const result: RunResult = { model: 'open', connections: byProcess.size, ...s, journeys, ...(t0EpochMs !== undefined ? { t0EpochMs } : {}) };
  return { result, fairness: rec.fairness(capacity) };
}
