import { performance } from 'node:perf_hooks';
import type { BookingService } from '../core/booking.js';
import type { HoldOutcome } from '../core/ports.js';
import { verifyUserToken } from '../core/tokens.js';
import { requestHash } from '../core/payments.js';
import { createLatencyHistogram, encode, summarize } from './histogram.js';
import { classify, OUTCOMES, type AttemptRequest, type LoadPlan, type Outcome } from './plan.js';
import type { RunResult } from './driver.js';

const STATUS: Record<HoldOutcome['kind'], [number, string | undefined]> = {
  held: [201, undefined], taken: [409, 'SEAT_TAKEN'], busy: [409, 'SEAT_BUSY'], 'sold-out': [409, 'SOLD_OUT'], 'not-found': [404, 'NOT_FOUND'],
};

/** The paths --transport direct understands, mapped onto the booking core. */
export const DIRECT_PATHS = ['/api/reservations', '/api/reservations/general', '/api/payments'];

async function call(booking: BookingService, userId: number, a: AttemptRequest): Promise<[number, string | undefined]> {
  const body = JSON.parse(a.body ?? '{}') as { scheduleId: number; seatNo: number; reservationId: number };
  switch (a.path) {
    case '/api/reservations': return STATUS[(await booking.hold(userId, body.scheduleId, body.seatNo)).kind];
    case '/api/reservations/general': return STATUS[(await booking.holdTicket(userId, body.scheduleId)).kind];
    case '/api/payments': {
      const r = await booking.pay({ userId, reservationId: body.reservationId, key: a.headers?.['idempotency-key'] ?? '', hash: requestHash({ reservationId: body.reservationId }) });
      return [r.status, r.body.error as string | undefined];
    }
    default: throw new Error(`--transport direct cannot call ${a.method} ${a.path}`);
  }
}

/**
 * The same plan and concurrency as the HTTP driver, calling the booking core in this process: no
 * HTTP parsing, no express, no sockets. Next to the HTTP run it shows what the framework costs.
 */
export async function driveDirect(plan: LoadPlan, booking: BookingService, o: { concurrency: number; secret: string }): Promise<RunResult> {
  const outcomes = Object.fromEntries(OUTCOMES.map((x) => [x, 0])) as Record<Outcome, number>;
  const statusCodes: Record<string, number> = {};
  const errorCodes: Record<string, number> = {};
  const journeys = { total: plan.journeys.length, succeeded: 0, exhausted: 0, stopped: 0, unknown: 0 };
  const all = createLatencyHistogram();
  const okHist = createLatencyHistogram();
  const perSecond = { ok: [] as number[], requests: [] as number[] };
  let requests = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(o.concurrency, plan.journeys.length) }, async () => {
    while (next < plan.journeys.length) {
      const j = plan.journeys[next++]!;
      const userId = verifyUserToken(o.secret, j.token);
      if (userId === null) throw new Error('a plan token does not verify with this run\'s secret');
      for (let i = 0; i < j.attempts.length; i++) {
        const s = performance.now();
        let status: number;
        let code: string | undefined;
        try {
          [status, code] = await call(booking, userId, j.attempts[i]!);
        } catch {
          [status, code] = [500, 'INTERNAL'];
        }
        const us = Math.max(1, Math.round((performance.now() - s) * 1000));
        requests++;
        all.recordValue(us);
        const outcome = classify(status, code);
        outcomes[outcome]++;
        statusCodes[status] = (statusCodes[status] ?? 0) + 1;
        if (code) errorCodes[code] = (errorCodes[code] ?? 0) + 1;
        const sec = Math.floor((performance.now() - t0) / 1000);
        perSecond.requests[sec] = (perSecond.requests[sec] ?? 0) + 1;
        if (outcome === 'ok') {
          okHist.recordValue(us);
          perSecond.ok[sec] = (perSecond.ok[sec] ?? 0) + 1;
          journeys.succeeded++;
          break;
        }
        if (outcome !== 'conflict') { journeys.stopped++; break; }
        if (i === j.attempts.length - 1) journeys.exhausted++;
      }
    }
  }));
  const durationMs = Math.max(1, Math.round(performance.now() - t0));
  for (let i = 0; i < perSecond.requests.length; i++) { perSecond.requests[i] ??= 0; perSecond.ok[i] ??= 0; }
  return {
    model: 'closed', connections: o.concurrency, durationMs, requests,
    rps: Math.round((requests / durationMs) * 10_000) / 10, okPerSec: Math.round((outcomes.ok / durationMs) * 10_000) / 10,
    outcomes, statusCodes, errorCodes, journeys, latencyMs: summarize(all), okLatencyMs: summarize(okHist), histogram: encode(all),
    perSecond, transportErrors: 0,
  };
}
