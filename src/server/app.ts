import { isUtf8 } from 'node:buffer';
import express, { type Request, type Response, type NextFunction } from 'express';
import type { BookingService } from '../core/booking.js';
import type { HoldOutcome, StrategyRuntime } from '../core/ports.js';
import { signUserToken } from '../core/tokens.js';
import { requestHash } from '../core/payments.js';
import type { Knex } from 'knex';
import type { WaitingRoom } from '../queue/waiting-room.js';
import { assertAdmitted, queueRouter } from './queue-routes.js';
import { dbErrorKind } from '../db/errors.js';
import { requireUser } from './auth.js';
import { HttpError, errorHandler, notFoundRoute } from './errors.js';
import { Checker } from './validate.js';
import { seedSchedule } from '../db/seed.js';
import type { Answer } from '../core/payments.js';
import { httpMetrics, routeBase, type HoldKind, type HoldOutcomeLabel, type PaymentOutcome, type ServerMetrics } from './metrics.js';

export interface AppDeps {
  booking: BookingService;
  db: Knex;
  /** Present when the waiting room is on. */
  room?: WaitingRoom;
  strategyName: string;
  strategy: StrategyRuntime;
  tokenSecret: string;
  log: (msg: string) => void;
  /** The server's Prometheus metrics; without them there is no /metrics and nothing is recorded. */
  metrics?: ServerMetrics;
}

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => fn(req, res).catch((err) => next(translate(err)));

/** Database failures that mean something to a client get a status of their own. */
function translate(err: unknown): unknown {
  if (err instanceof HttpError) return err;
  switch (dbErrorKind(err)) {
    case 'foreign-key':
      return new HttpError(401, 'UNAUTHORIZED', "the token's user does not exist in this database");
    case 'connection':
      return new HttpError(503, 'UNAVAILABLE', 'the database is unavailable; retry later');
    case 'deadlock':
    case 'lock-not-available':
    case 'serialization':
      return new HttpError(409, 'BUSY', 'the store refused a contended lock (deadlock victim or lock wait timeout); retry');
    default:
      // e.g. the Redis quorum is unavailable
      if ((err as { status?: number }).status === 503) return new HttpError(503, 'UNAVAILABLE', (err as Error).message);
      return err;
  }
}

const HOLD_LABEL: Record<HoldOutcome['kind'], HoldOutcomeLabel> = { 'held': 'ok', 'taken': 'taken', 'busy': 'busy', 'sold-out': 'sold_out', 'not-found': 'not_found' };

/** A payment's answer as a metric outcome: business refusals other than money and contention are "rejected". */
function paymentOutcome(a: Answer): PaymentOutcome {
  if (a.replayed) return 'replayed';
  if (a.status === 201) return 'ok';
  if (a.status === 402) return 'insufficient';
  if (a.body.error === 'BALANCE_BUSY') return 'busy';
  return 'rejected';
}

/** Bytes that are not UTF-8 would otherwise be decoded to U+FFFD and stored as if the client sent that. */
function utf8Only(_req: unknown, _res: unknown, buf: Buffer, encoding: string): void {
  if (encoding === 'utf-8' && !isUtf8(buf)) throw new HttpError(400, 'VALIDATION_FAILED', 'the request body is not valid UTF-8; send JSON encoded as UTF-8');
}

export function createApp(deps: AppDeps): express.Express {
  const { booking, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  if (metrics) {
    // Before the HTTP middleware, so the lab's scrape once a second is not counted as load. Open, like
    // /healthz: a lab server listens on 127.0.0.1 (docs/observability.md says how to keep it private elsewhere).
    app.get('/metrics', (_req, res, next) => {
      // Written as is: res.send would rewrite the content type's parameters.
      metrics.text().then((text) => { res.setHeader('Content-Type', metrics.contentType); res.end(text); }, next);
    });
    // Before the body parser, so a body refused before routing (bad JSON, too large) is counted too.
    app.use(httpMetrics(metrics));
  }
  app.use(express.json({ limit: '16kb', strict: false, verify: utf8Only }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', strategy: deps.strategyName });
  });

  // Lab-only: the HTTP ceiling (the same process answering without touching a store).
  app.get('/lab/noop', (_req, res) => {
    res.json({});
  });

  // Lab-only: the strategy's own counters, read by `bench run` after the load.
  app.get('/lab/counters', (_req, res) => {
    res.json({ strategy: deps.strategyName, counters: booking.counters() });
  });

  // Lab-only: a fresh schedule of N seats (and its general-admission inventory), so a black-box run
  // (src/target, profiles/seatlab.json) can seed a sale over HTTP when it has no database access.
  app.post('/lab/schedules', wrap(async (req, res) => {
    const c = new Checker();
    const body = c.object(req.body);
    const seats = c.positiveInt(body.seats, 'seats', { max: 1_000_000 });
    c.done();
    const s = await seedSchedule(deps.db, { seats });
    res.status(201).json({ concertId: s.concertId, scheduleId: s.scheduleId, seatCount: s.seatCount });
  }));

  const api = express.Router();
  api.use(routeBase);
  const auth = requireUser(deps.tokenSecret);
  const admitted = (req: Request, res: Response, scheduleId?: number) => assertAdmitted(req, deps.room, deps.tokenSecret, res.locals.userId, scheduleId);
  api.use(queueRouter({ db: deps.db, room: deps.room, secret: deps.tokenSecret, auth }));

  api.post('/users', wrap(async (req, res) => {
    const c = new Checker();
    const body = c.object(req.body);
    const name = c.text(body.name, 'name', 200);
    c.done();
    const userId = await booking.createUser(name);
    res.status(201).json({ userId, token: signUserToken(deps.tokenSecret, userId) });
  }));

  api.get('/concerts', auth, wrap(async (_req, res) => {
    res.json(await booking.listConcerts());
  }));

  api.get('/schedules/:id/seats', auth, wrap(async (req, res) => {
    const c = new Checker();
    const scheduleId = c.positiveInt(req.params.id, 'schedule id', { fromString: true });
    c.done();
    await admitted(req, res, scheduleId);
    const seats = await booking.seatMapJson(scheduleId);
    if (seats === null) throw new HttpError(404, 'NOT_FOUND', `schedule ${scheduleId} does not exist`);
    res.type('application/json').send(`{"scheduleId":${scheduleId},"seats":${seats}}`);
  }));

  // The hold's outcome is counted here, where it becomes an answer; a hold that threw is an error.
  const answer = async (res: Response, kind: HoldKind, pending: Promise<HoldOutcome>, what: string) => {
    let outcome: HoldOutcome;
    try {
      outcome = await pending;
    } catch (err) {
      metrics?.hold(kind, 'error');
      throw err;
    }
    metrics?.hold(kind, HOLD_LABEL[outcome.kind]);
    switch (outcome.kind) {
      case 'held':
        res.status(201).json(outcome.reservation);
        return;
      case 'taken':
        throw new HttpError(409, 'SEAT_TAKEN', `${what} is already taken (${outcome.reason})`);
      case 'busy':
        throw new HttpError(409, 'SEAT_BUSY', `${what} is being claimed by another request (${outcome.reason}); retry or pick another`);
      case 'sold-out':
        throw new HttpError(409, 'SOLD_OUT', `${what}: sold out (${outcome.reason})`);
      case 'not-found':
        throw new HttpError(404, 'NOT_FOUND', `${what} does not exist`);
    }
  };

  api.post('/reservations', auth, wrap(async (req, res) => {
    const c = new Checker();
    const body = c.object(req.body);
    const scheduleId = c.positiveInt(body.scheduleId, 'scheduleId');
    const seatNo = c.positiveInt(body.seatNo, 'seatNo');
    c.done();
    await admitted(req, res, scheduleId);
    await answer(res, 'seat', booking.hold(res.locals.userId, scheduleId, seatNo), `seat ${seatNo} of schedule ${scheduleId}`);
  }));

  // General admission: one unnumbered ticket from the schedule's inventory.
  api.post('/reservations/general', auth, wrap(async (req, res) => {
    const c = new Checker();
    const body = c.object(req.body);
    const scheduleId = c.positiveInt(body.scheduleId, 'scheduleId');
    c.done();
    await admitted(req, res, scheduleId);
    await answer(res, 'ticket', booking.holdTicket(res.locals.userId, scheduleId), `a ticket for schedule ${scheduleId}`);
  }));

  api.delete('/reservations/:id', auth, wrap(async (req, res) => {
    const c = new Checker();
    const reservationId = c.positiveInt(req.params.id, 'reservation id', { fromString: true });
    c.done();
    const a = await booking.cancel(res.locals.userId, reservationId);
    if (a.status === 204) {
      // Cancelling frees the user's turn in the waiting room.
      const scheduleId = await booking.scheduleOf(reservationId);
      if (deps.room && scheduleId) await deps.room.release(scheduleId, res.locals.userId);
      res.status(204).end();
    }
    else res.status(a.status).json(a.body);
  }));

  api.get('/balance', auth, wrap(async (_req, res) => {
    const balance = await booking.balance(res.locals.userId);
    if (balance === null) throw new HttpError(401, 'UNAUTHORIZED', "the token's user does not exist in this database");
    res.json({ userId: res.locals.userId, balance });
  }));

  api.post('/balance/charge', auth, wrap(async (req, res) => {
    const c = new Checker();
    const body = c.object(req.body);
    const amount = c.positiveInt(body.amount, 'amount', { max: 1_000_000_000 });
    c.done();
    const balance = await booking.charge(res.locals.userId, amount);
    if (balance === null) throw new HttpError(401, 'UNAUTHORIZED', "the token's user does not exist in this database");
    res.json({ balance });
  }));

  api.post('/payments', auth, wrap(async (req, res) => {
    const c = new Checker();
    const key = req.get('idempotency-key');
    if (key === undefined) c.problems.push('the Idempotency-Key header is required (any unique string per payment attempt, e.g. a UUID)');
    else if (key.length < 1 || key.length > 200) c.problems.push('the Idempotency-Key header must be 1 to 200 characters');
    // Node's strict parser already refuses NUL in headers; --insecure-http-parser lets it through.
    else c.storable(key, 'the Idempotency-Key header');
    const body = c.object(req.body);
    const reservationId = c.positiveInt(body.reservationId, 'reservationId');
    c.done();
    const hash = requestHash({ reservationId });
    let scheduleId: number | undefined;
    try {
      scheduleId = await admitted(req, res);
    } catch (err) {
      // A replay answers as the first request did, even though paying has since freed the queue
      // turn; the stored answer is only looked up when the waiting room refuses.
      const replayed = err instanceof HttpError && err.code === 'NOT_ADMITTED' ? await booking.replay({ userId: res.locals.userId, key: key!, hash }) : null;
      if (!replayed) throw err;
      metrics?.payment('replayed');
      res.status(replayed.status).json(replayed.body);
      return;
    }
    let a: Answer;
    try {
      a = await booking.pay({ userId: res.locals.userId, reservationId, key: key!, hash, admittedScheduleId: scheduleId });
    } catch (err) {
      metrics?.payment('error');
      throw err;
    }
    metrics?.payment(paymentOutcome(a));
    // Paying frees the user's turn in the waiting room (after the commit; the release is idempotent).
    if (a.status === 201 && deps.room && scheduleId) await deps.room.release(scheduleId, res.locals.userId);
    res.status(a.status).json(a.body);
  }));

  app.use('/api', api);
  app.use(notFoundRoute);
  app.use(errorHandler(deps.log));
  return app;
}
