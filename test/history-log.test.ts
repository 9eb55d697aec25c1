import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { HistoryLog } from '../src/load/history-log.js';
import { HistoryFileWriter } from '../src/load/history-file.js';
import { readHistory, type HistoryOp } from '../src/load/history.js';
import { Recorder } from '../src/load/recorder.js';
import { createRng } from '../src/core/rng.js';

// The history as columns, streamed to its file while operations complete: what is read back is
// what was recorded, in index order, with the same fields as the objects the recorder used to keep.

const dirs: string[] = [];
afterAll(async () => { await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))); });
async function tmpFile(name: string): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'seatlab-history-'));
  dirs.push(d);
  return path.join(d, name);
}

/** The object the recorder built before the history became columns (recorder.ts, before), for comparison. */
function legacyOp(index: number, process: number, instance: number, meta: Parameters<Recorder['invoke']>[0], invokeMs: number, completeMs: number,
  outcome: HistoryOp['outcome'], a: { status?: number; reservationId?: number; paymentId?: number; joinNumber?: number }, code?: string): HistoryOp {
  return {
    index, process, instance, op: meta.op, invokeMs, completeMs, outcome,
    ...(a.status !== undefined ? { status: a.status } : {}), ...(code ? { error: code } : {}),
    ...(meta.userId !== undefined ? { userId: meta.userId } : {}), ...(meta.scheduleId !== undefined ? { scheduleId: meta.scheduleId } : {}),
    ...(meta.seatNo !== undefined ? { seatNo: meta.seatNo } : {}),
    ...(a.reservationId !== undefined ? { reservationId: a.reservationId } : meta.reservationId !== undefined ? { reservationId: meta.reservationId } : {}),
    ...(a.paymentId !== undefined ? { paymentId: a.paymentId } : {}), ...(a.joinNumber !== undefined ? { joinNumber: a.joinNumber } : {}),
  };
}

describe('HistoryLog', () => {
  it('streams operations completed out of order to the file in index order, every field as recorded, across chunk boundaries', async () => {
    const file = await tmpFile('h.jsonl.gz');
    const rec = new Recorder(3);
    const clock = { t: 0 };
    (rec as unknown as { now: () => number }).now = () => clock.t;
    rec.history.streamTo(new HistoryFileWriter(file), 5);
    const rng = createRng(7);
    const expected: HistoryOp[] = [];
    // 70,000 operations (more than one 65,536-row chunk), up to 64 in flight, completing in random order.
    const inFlight: { inv: ReturnType<Recorder['invoke']>; meta: Parameters<Recorder['invoke']>[0] }[] = [];
    const metas: Parameters<Recorder['invoke']>[0][] = [
      { op: 'hold', userId: 5, scheduleId: 1, seatNo: 12 }, { op: 'hold-ticket', userId: 6, scheduleId: 1, seatNo: null },
      { op: 'pay', userId: 7, scheduleId: 1, reservationId: 99 }, { op: 'join', userId: 8, scheduleId: 1 }, { op: 'other' },
    ];
    const answers = [
      { status: 201, reservationId: 1234 }, { status: 409, errorCode: 'SEAT_TAKEN' }, { wireError: 'timeout' }, { status: 201, paymentId: 77 },
      { status: 200, joinNumber: 3 }, { status: 503, errorCode: 'UNAVAILABLE' }, { wireError: 'ECONNRESET' },
    ];
    const finish = (k: number) => {
      const [{ inv, meta }] = inFlight.splice(k, 1) as [(typeof inFlight)[number]];
      clock.t += rng() * 3;
      const a = answers[Math.floor(rng() * answers.length)]!;
      const r = rec.complete(inv, a);
      const code = a.status !== undefined && a.status >= 400 ? a.errorCode ?? `HTTP_${a.status}` : a.status === undefined ? a.wireError : undefined;
      expected[inv.index] = legacyOp(inv.index, inv.process, inv.instance, meta, Math.round(inv.startedAt * 1000) / 1000, Math.round(clock.t * 1000) / 1000, r.history, a, code);
    };
    for (let i = 0; i < 70_000; i++) {
      const meta = metas[i % metas.length]!;
      clock.t += rng();
      inFlight.push({ inv: rec.invoke(meta, i % 64, i % 3), meta });
      if (inFlight.length >= 64) finish(Math.floor(rng() * inFlight.length));
      if (i % 10_000 === 0) rec.history.flush();
    }
    while (inFlight.length > 0) finish(Math.floor(rng() * inFlight.length));
    await rec.history.close();

    expect(rec.history.length).toBe(70_000);
    expect([...rec.history]).toEqual(expected);
    const back = await readHistory(file);
    expect(back.map((op) => op.index)).toEqual(expected.map((_, i) => i));
    expect(back).toEqual(expected);
    // Byte for byte the lines the whole-array writer produced: same fields, same order.
    expect(gunzipSync(await readFile(file)).toString()).toBe(expected.map((op) => `${JSON.stringify(op)}\n`).join(''));
  });

  it('appended operations (the liveness probe) take the next indexes and reach the file; an operation never completed is left out', async () => {
    const file = await tmpFile('h.jsonl');
    const log = new HistoryLog();
    log.streamTo(new HistoryFileWriter(file));
    const base = { process: 0, instance: 0, invokeMs: 1, completeMs: 2, outcome: 'ok' as const };
    log.record(0, 0, 0, { op: 'hold', seatNo: 1 }, base);
    // Index 1 was invoked but never completed; 2 completed.
    log.record(2, 0, 0, { op: 'hold', seatNo: 2 }, base);
    log.push({ index: -1, ...base, process: -1, op: 'probe-hold', seatNo: 3, error: 'SEAT_TAKEN', outcome: 'fail', status: 409 });
    await log.close();
    const back = await readHistory(file);
    expect(back.map((op) => [op.index, op.op, op.seatNo])).toEqual([[0, 'hold', 1], [2, 'hold', 2], [3, 'probe-hold', 3]]);
    expect(back[2]).toEqual({ index: 3, process: -1, instance: 0, op: 'probe-hold', invokeMs: 1, completeMs: 2, outcome: 'fail', status: 409, error: 'SEAT_TAKEN', seatNo: 3 });
    expect(log.length).toBe(3);
  });

  it('a run that records nothing leaves no file, and the columns cost well under 100 bytes an operation', async () => {
    const file = await tmpFile('none.jsonl.gz');
    const empty = new HistoryLog();
    empty.streamTo(new HistoryFileWriter(file));
    await empty.close();
    await expect(readFile(file)).rejects.toThrow(/ENOENT/);
    const log = new HistoryLog();
    for (let i = 0; i < 200_000; i++) log.record(i, i, 0, { op: 'hold', userId: i, scheduleId: 1, seatNo: i % 100 }, { invokeMs: i, completeMs: i + 1, outcome: 'fail', status: 409, error: 'SEAT_TAKEN' });
    expect(log.bytes / log.length).toBeLessThan(100);
  });
});
