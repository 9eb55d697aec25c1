import type { BookingService } from '../core/booking.js';
import type { HoldOutcome } from '../core/ports.js';
import { verifyUserToken } from '../core/tokens.js';
import { requestHash } from '../core/payments.js';
import type { AttemptRequest, LoadPlan } from './plan.js';
import type { RunResult } from './result.js';
import { Recorder, type Answer } from './recorder.js';
import { runJourneys } from './journey-loop.js';
import type { HistoryFileWriter } from './history-file.js';

const STATUS: Record<HoldOutcome['kind'], [number, string | undefined]> = {
  held: [201, undefined], taken: [409, 'SEAT_TAKEN'], busy: [409, 'SEAT_BUSY'], 'sold-out': [409, 'SOLD_OUT'], 'not-found': [404, 'NOT_FOUND'],
};

/** The paths --transport direct understands, mapped onto the booking core. */
export const DIRECT_PATHS = ['/api/reservations', '/api/reservations/general', '/api/payments'];

async function call(booking: BookingService, userId: number, a: AttemptRequest): Promise<Answer> {
  const body = JSON.parse(a.body ?? '{}') as { scheduleId: number; seatNo: number; reservationId: number };
  let status: number;
  let errorCode: string | undefined;
  let reservationId: number | undefined;
  switch (a.path) {
    case '/api/reservations':
    case '/api/reservations/general': {
      const r = a.path === '/api/reservations' ? await booking.hold(userId, body.scheduleId, body.seatNo) : await booking.holdTicket(userId, body.scheduleId);
      [status, errorCode] = STATUS[r.kind];
      if (r.kind === 'held') reservationId = r.reservation.reservationId;
      break;
    }
    case '/api/payments': {
      const r = await booking.pay({ userId, reservationId: body.reservationId, key: a.headers?.['idempotency-key'] ?? '', hash: requestHash({ reservationId: body.reservationId }) });
      [status, errorCode] = [r.status, r.body.error as string | undefined];
      break;
    }
    default: throw new Error(`--transport direct cannot call ${a.method} ${a.path}`);
  }
  return { status, ...(errorCode ? { errorCode } : {}), ...(reservationId !== undefined ? { reservationId } : {}) };
}

/**
 * The same plan, concurrency and journey loop as the HTTP driver, calling the booking core in this
 * process: no HTTP parsing, no express, no sockets. Next to the HTTP run it shows what the
 * framework costs, and it doubles as the store ceiling (the same operations, no HTTP).
 */
export async function driveDirect(plan: LoadPlan, booking: BookingService, o: { concurrency: number; secret: string; history?: HistoryFileWriter | false }): Promise<RunResult & { recorder: Recorder }> {
  // history: a file to stream the history to, or false to keep none (the store ceiling only counts).
  const rec = new Recorder(1, o.history !== false);
  if (o.history) rec.history.streamTo(o.history);
  const journeys = await runJourneys(plan, {
    clients: o.concurrency, rec,
    send: async (_, j, a) => {
      const userId = verifyUserToken(o.secret, j.token);
      if (userId === null) throw new Error('a plan token does not verify with this run\'s secret');
      try {
        return await call(booking, userId, a);
      } catch {
        return { status: 500, errorCode: 'INTERNAL' };
      }
    },
  });
  return { model: 'closed', connections: Math.min(o.concurrency, plan.journeys.length), journeys, ...rec.summary(), recorder: rec };
}
