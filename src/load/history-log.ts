import type { HistoryOp, OpKind, OpMeta, OpOutcome } from './history.js';
import type { HistoryFileWriter } from './history-file.js';

// The history in memory, one column per field in fixed-size chunks of typed arrays instead of one
// object per operation: a million-user sale records millions of operations, and as objects they
// cost ~1.7 KB each (measured); here a row is ~70 bytes. Row i is the operation of index i, so the
// columns are in invocation order whatever order operations complete in. Readers iterate it as
// plain HistoryOp objects, made one at a time and dropped as they go.

const OPS: readonly OpKind[] = ['hold', 'hold-ticket', 'pay', 'join', 'status', 'seats', 'probe-hold', 'probe-ticket', 'other'];
const OUTCOME_CODES: readonly OpOutcome[] = ['ok', 'fail', 'unknown'];
const OP_CODE = new Map(OPS.map((k, i) => [k, i]));
const OUTCOME_CODE = new Map(OUTCOME_CODES.map((k, i) => [k, i + 1]));

const CHUNK = 1 << 16;
/** flags: the seat is null (a ticket), not absent. */
const SEAT_NULL = 1;

/** One chunk of rows. Optional numbers are NaN when absent; the rarely present ones get their column on first use. */
class Chunk {
  readonly process = new Int32Array(CHUNK);
  readonly instance = new Uint16Array(CHUNK);
  readonly op = new Uint8Array(CHUNK);
  /** 0: not completed (no row yet); 1 + the index in OUTCOME_CODES otherwise. */
  readonly outcome = new Uint8Array(CHUNK);
  readonly flags = new Uint8Array(CHUNK);
  /** 0: no HTTP answer. */
  readonly status = new Uint16Array(CHUNK);
  /** 0: none; otherwise 1 + the index in the log's table of error codes. */
  readonly error = new Uint16Array(CHUNK);
  readonly invokeMs = new Float64Array(CHUNK);
  readonly completeMs = new Float64Array(CHUNK);
  readonly userId = new Float64Array(CHUNK).fill(NaN);
  readonly scheduleId = new Float64Array(CHUNK).fill(NaN);
  readonly seatNo = new Float64Array(CHUNK).fill(NaN);
  readonly reservationId = new Float64Array(CHUNK).fill(NaN);
  paymentId?: Float64Array;
  joinNumber?: Float64Array;
}

const CHUNK_BYTES = CHUNK * (4 + 2 + 1 + 1 + 1 + 2 + 2 + 8 * 6);

/** What the recorder knows when an operation completes, besides its meta. */
export interface Completion {
  invokeMs: number;
  completeMs: number;
  outcome: OpOutcome;
  status?: number;
  error?: string;
  reservationId?: number;
  paymentId?: number;
  joinNumber?: number;
}

export class HistoryLog implements Iterable<HistoryOp> {
  private readonly chunks: Chunk[] = [];
  private readonly errors: string[] = [];
  private readonly errorCode = new Map<string, number>();
  /** One past the highest row written. */
  private end = 0;
  private completed = 0;
  /** Rows below this have gone to the file (or were never completed and never will be). */
  private flushed = 0;
  private writer?: HistoryFileWriter;
  private timer?: NodeJS.Timeout;

  /** Operations recorded (completed), as an array's length would say. */
  get length(): number {
    return this.completed;
  }

  /** Bytes the columns hold (allocated chunks), for the report's memory figures. */
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + CHUNK_BYTES + (c.paymentId ? CHUNK * 8 : 0) + (c.joinNumber ? CHUNK * 8 : 0), 0);
  }

  /**
   * From now on, completed rows go to this file in index order, every `everyMs`, as soon as every
   * row before them is complete (an operation in flight holds back the ones after it until it ends).
   */
  streamTo(writer: HistoryFileWriter, everyMs = 250): void {
    this.writer = writer;
    this.timer = setInterval(() => this.flush(), everyMs);
    this.timer.unref();
  }

  /** Records operation `index`; called once per operation, in completion order. */
  record(index: number, process: number, instance: number, meta: OpMeta, c: Completion): void {
    const chunk = this.chunkFor(index);
    const i = index & (CHUNK - 1);
    chunk.process[i] = process;
    chunk.instance[i] = instance;
    chunk.op[i] = OP_CODE.get(meta.op) ?? OP_CODE.get('other')!;
    chunk.outcome[i] = OUTCOME_CODE.get(c.outcome)!;
    chunk.invokeMs[i] = c.invokeMs;
    chunk.completeMs[i] = c.completeMs;
    if (c.status !== undefined) chunk.status[i] = c.status;
    if (c.error !== undefined) chunk.error[i] = this.errorId(c.error);
    if (meta.userId !== undefined) chunk.userId[i] = meta.userId;
    if (meta.scheduleId !== undefined) chunk.scheduleId[i] = meta.scheduleId;
    if (meta.seatNo === null) chunk.flags[i] = SEAT_NULL;
    else if (meta.seatNo !== undefined) chunk.seatNo[i] = meta.seatNo;
    const reservationId = c.reservationId ?? meta.reservationId;
    if (reservationId !== undefined) chunk.reservationId[i] = reservationId;
    if (c.paymentId !== undefined) (chunk.paymentId ??= new Float64Array(CHUNK).fill(NaN))[i] = c.paymentId;
    if (c.joinNumber !== undefined) (chunk.joinNumber ??= new Float64Array(CHUNK).fill(NaN))[i] = c.joinNumber;
    this.completed++;
    if (index >= this.end) this.end = index + 1;
  }

  /** Appends an operation recorded elsewhere (a liveness probe, a test); its index becomes its place at the end. */
  push(op: HistoryOp): void {
    this.record(this.end, op.process, op.instance, op, op);
  }

  /** The operation of index `index`, or undefined when none completed with that index. */
  get(index: number): HistoryOp | undefined {
    const chunk = this.chunks[index >>> 16];
    const i = index & (CHUNK - 1);
    if (!chunk || index >= this.end || chunk.outcome[i] === 0) return undefined;
    const op: HistoryOp = {
      index, process: chunk.process[i]!, instance: chunk.instance[i]!, op: OPS[chunk.op[i]!]!,
      invokeMs: chunk.invokeMs[i]!, completeMs: chunk.completeMs[i]!, outcome: OUTCOME_CODES[chunk.outcome[i]! - 1]!,
    };
    // The same fields in the same order as the recorder's objects had, so the file's lines do not change.
    if (chunk.status[i] !== 0) op.status = chunk.status[i]!;
    if (chunk.error[i] !== 0) op.error = this.errors[chunk.error[i]! - 1]!;
    if (!Number.isNaN(chunk.userId[i])) op.userId = chunk.userId[i]!;
    if (!Number.isNaN(chunk.scheduleId[i])) op.scheduleId = chunk.scheduleId[i]!;
    if (chunk.flags[i]! & SEAT_NULL) op.seatNo = null;
    else if (!Number.isNaN(chunk.seatNo[i])) op.seatNo = chunk.seatNo[i]!;
    if (!Number.isNaN(chunk.reservationId[i])) op.reservationId = chunk.reservationId[i]!;
    if (chunk.paymentId && !Number.isNaN(chunk.paymentId[i])) op.paymentId = chunk.paymentId[i]!;
    if (chunk.joinNumber && !Number.isNaN(chunk.joinNumber[i])) op.joinNumber = chunk.joinNumber[i]!;
    return op;
  }

  /** Every recorded operation in index order, each a fresh object. */
  *[Symbol.iterator](): Iterator<HistoryOp> {
    for (let index = 0; index < this.end; index++) {
      const op = this.get(index);
      if (op) yield op;
    }
  }

  /** As an array's map and filter, for small histories and tests; a checker of a large one iterates instead. */
  map<U>(fn: (op: HistoryOp) => U): U[] {
    const out: U[] = [];
    for (const op of this) out.push(fn(op));
    return out;
  }

  filter(match: (op: HistoryOp) => boolean): HistoryOp[] {
    const out: HistoryOp[] = [];
    for (const op of this) if (match(op)) out.push(op);
    return out;
  }

  /**
   * Writes the rows that are ready to the file: every completed row up to the first one still in
   * flight, or, with `all` (the load is over), every row (a row never completed is left out, as it
   * always was). Called on a timer, not per operation, so the load loop does not serialise.
   */
  flush(all = false): void {
    if (!this.writer) return;
    const lines: string[] = [];
    while (this.flushed < this.end) {
      const op = this.get(this.flushed);
      if (!op && !all) break;
      this.flushed++;
      if (op) lines.push(`${JSON.stringify(op)}\n`);
      if (lines.length >= 1024) this.writer.write(lines.splice(0).join(''));
    }
    if (lines.length > 0) this.writer.write(lines.join(''));
  }

  /** Flushes every row and closes the file (the load and anything appended after it are over). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flush(true);
    const w = this.writer;
    this.writer = undefined;
    if (w) await w.close();
  }

  private chunkFor(index: number): Chunk {
    const n = index >>> 16;
    while (this.chunks.length <= n) this.chunks.push(new Chunk());
    return this.chunks[n]!;
  }

  private errorId(code: string): number {
    let id = this.errorCode.get(code);
    if (id === undefined) {
      this.errors.push(code);
      id = this.errors.length;
      if (id > 0xffff) throw new Error('more than 65,535 distinct error codes in one history');
      this.errorCode.set(code, id);
    }
    return id;
  }
}
