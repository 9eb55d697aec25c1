import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip, createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';

// The history of a run, in Jepsen's sense: every operation the load generator invoked, when it was
// invoked and when it completed, and what became of it. Checkers read it together with the database.

/** What an operation asked for. */
export type OpKind = 'hold' | 'hold-ticket' | 'pay' | 'join' | 'status' | 'seats' | 'probe-hold' | 'probe-ticket' | 'other';

/**
 * ok: the server acknowledged it (2xx). fail: it certainly did not happen (a 4xx, or the connection
 * was refused before anything was sent). unknown: it may or may not have happened (no answer in
 * time, the connection reset mid-request, a 5xx from a server that may have committed).
 */
export type OpOutcome = 'ok' | 'fail' | 'unknown';

export interface HistoryOp {
  /** Position in the history, in invocation order. */
  index: number;
  /** The client that issued it (a connection or a journey); one client has one operation in flight. */
  process: number;
  /** The server instance it went to (0-based). */
  instance: number;
  op: OpKind;
  /** Milliseconds since the load phase began (the `t0` of the history's meta). */
  invokeMs: number;
  completeMs: number;
  outcome: OpOutcome;
  /** HTTP status, when an answer came. */
  status?: number;
  /** The answer's error code (SEAT_TAKEN, …) or what went wrong on the wire (timeout, ECONNRESET, …). */
  error?: string;
  userId?: number;
  scheduleId?: number;
  seatNo?: number | null;
  /** The reservation an acknowledged hold created, or the one a payment was for. */
  reservationId?: number;
  paymentId?: number;
  /** A join acknowledged by the waiting room: the place in line it promised (unique, gap-free). */
  joinNumber?: number;
}

/** What an attempt is, so the driver can record it without parsing request bodies. */
export interface OpMeta {
  op: OpKind;
  userId?: number;
  scheduleId?: number;
  seatNo?: number | null;
  reservationId?: number;
}

export interface HistoryMeta {
  /** Wall-clock time (epoch ms) of invokeMs = 0. */
  t0EpochMs: number;
  ops: number;
  file?: string;
}

/**
 * What the waiting room told its clients: the join numbers it promised, how many joins went
 * unanswered (they may or may not have happened), and users it told WAITING who were later told
 * they were in no line at all. The queue checker holds Redis's records to these promises.
 */
export interface QueueAnswers {
  joins: { userId: number; joinNumber: number }[];
  joinsUnanswered: number;
  placesLost: { userId: number; joinNumber: number; atMs: number }[];
}

/** The queue answers in a history of joins (queue-rush): acknowledged joins with their numbers, unknown ones. */
export function queueAnswersOf(history: Iterable<HistoryOp>): QueueAnswers {
  const joins: QueueAnswers['joins'] = [];
  let joinsUnanswered = 0;
  for (const op of history) {
    if (op.op !== 'join') continue;
    if (op.outcome === 'ok' && op.userId !== undefined && op.joinNumber !== undefined) joins.push({ userId: op.userId, joinNumber: op.joinNumber });
    else if (op.outcome === 'unknown') joinsUnanswered++;
  }
  return { joins, joinsUnanswered, placesLost: [] };
}

/**
 * One JSON line per operation, in invocation order; gzipped when the name ends in .gz (a 10,000-user
 * sale is ~5 MB of text). A run streams its history while the load runs (HistoryLog.streamTo); this
 * writes one it holds whole. An array is sorted by index first; a HistoryLog is in index order already.
 */
export async function writeHistory(file: string, ops: Iterable<HistoryOp>): Promise<void> {
  const sorted = Array.isArray(ops) ? [...(ops as HistoryOp[])].sort((a, b) => a.index - b.index) : ops;
  const lines = Readable.from((function* () { for (const op of sorted) yield `${JSON.stringify(op)}\n`; })());
  await (file.endsWith('.gz') ? pipeline(lines, createGzip(), createWriteStream(file)) : pipeline(lines, createWriteStream(file)));
}

export async function readHistory(file: string): Promise<HistoryOp[]> {
  const ops: HistoryOp[] = [];
  const raw = createReadStream(file);
  const rl = createInterface({ input: file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw, crlfDelay: Infinity });
  for await (const line of rl) if (line.trim()) ops.push(JSON.parse(line) as HistoryOp);
  return ops;
}

/** Classifies an HTTP answer for the history (not for the outcome table, which keeps its own words). */
export function historyOutcome(status: number | undefined): OpOutcome {
  if (status === undefined) return 'unknown';
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 500) return 'unknown';
  return 'fail';
}
