import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Knex } from 'knex';
import { signQueueToken, verifyQueueToken } from '../core/tokens.js';
import type { QueuePlace, WaitingRoom } from '../queue/waiting-room.js';
import { HttpError } from './errors.js';
import { Checker } from './validate.js';

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => fn(req, res).catch(next);

// Any string may arrive here (?token=%00 decodes to NUL); it is only compared with an HMAC, never stored.
function queueTokenFrom(req: Request, secret: string): { userId: number; scheduleId: number; raw: string } {
  const raw = req.get('x-queue-token') || (typeof req.query.token === 'string' ? req.query.token : undefined);
  if (!raw) throw new HttpError(401, 'UNAUTHORIZED', 'send the queue token as the X-Queue-Token header (or ?token= for events)');
  const t = verifyQueueToken(secret, raw);
  if (!t) throw new HttpError(401, 'UNAUTHORIZED', 'the queue token is malformed, forged or expired; join again');
  return { ...t, raw };
}

const view = (place: QueuePlace, queueToken: string) => ({ queueToken, position: place.position, joinNumber: place.joinNumber, status: place.status, etaSeconds: place.etaSeconds });

/** POST /queue/tokens, GET /queue/status, GET /queue/events (SSE). Mounted under /api. */
export function queueRouter(deps: { db: Knex; room: WaitingRoom | undefined; secret: string; auth: RequestHandler }): express.Router {
  const r = express.Router();
  // Schedules are never deleted, so a schedule seen once stays valid: joins skip the database.
  const knownSchedules = new Set<number>();
  const scheduleExists = async (id: number) => {
    if (knownSchedules.has(id)) return true;
    const found = (await deps.db('schedules').where({ id }).first('id')) !== undefined;
    if (found) knownSchedules.add(id);
    return found;
  };
  const room = () => {
    if (!deps.room) throw new HttpError(404, 'NOT_FOUND', 'the waiting room is off; start the server with --queue on');
    return deps.room;
  };

  r.post('/queue/tokens', deps.auth, wrap(async (req, res) => {
    const c = new Checker();
    const scheduleId = c.positiveInt(c.object(req.body).scheduleId, 'scheduleId');
    c.done();
    const waiting = room();
    if (!(await scheduleExists(scheduleId))) throw new HttpError(404, 'NOT_FOUND', `schedule ${scheduleId} does not exist`);
    const place = await waiting.join(scheduleId, res.locals.userId);
    res.status(201).json(view(place, signQueueToken(deps.secret, res.locals.userId, scheduleId)));
  }));

  r.get('/queue/status', wrap(async (req, res) => {
    const waiting = room();
    const t = queueTokenFrom(req, deps.secret);
    res.json(view(await waiting.status(t.scheduleId, t.userId), t.raw));
  }));

  // Server-Sent Events: a `status` event whenever the place changes, until ACTIVE (then the stream ends).
  r.get('/queue/events', wrap(async (req, res) => {
    const waiting = room();
    const t = queueTokenFrom(req, deps.secret);
    const token = t.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let last = '';
    let closed = false;
    req.on('close', () => { closed = true; });
    let beats = 0;
    while (!closed) {
      const place = await waiting.status(t.scheduleId, t.userId);
      const data = JSON.stringify(view(place, token));
      if (data !== last) {
        res.write(`event: status\ndata: ${data}\n\n`);
        last = data;
      } else if (++beats % 30 === 0) {
        res.write(': keep-alive\n\n');
      }
      if (place.status !== 'WAITING') break;
      await new Promise((done) => setTimeout(done, 100));
    }
    res.end();
  }));
  return r;
}

/**
 * With the queue on, a schedule's seats, holds and payments need an ACTIVE queue token for it.
 * Without a schedule (payments) the token's own schedule is checked and returned; the payment then
 * refuses a reservation of another schedule.
 */
export async function assertAdmitted(req: Request, room: WaitingRoom | undefined, secret: string, userId: number, scheduleId?: number): Promise<number | undefined> {
  if (!room) return undefined;
  const raw = req.get('x-queue-token');
  const t = raw ? verifyQueueToken(secret, raw) : null;
  if (scheduleId === undefined && t) scheduleId = t.scheduleId;
  if (!t || t.userId !== userId || t.scheduleId !== scheduleId) {
    throw new HttpError(403, 'NOT_ADMITTED', `${scheduleId ? `schedule ${scheduleId}` : 'this schedule'} is behind the waiting room: join with POST /api/queue/tokens and send X-Queue-Token once ACTIVE`);
  }
  if (!(await room.isActive(scheduleId, userId))) {
    throw new HttpError(403, 'NOT_ADMITTED', `you are not admitted to schedule ${scheduleId} yet (or your turn expired); check GET /api/queue/status`);
  }
  return scheduleId;
}
