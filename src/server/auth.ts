import type { RequestHandler } from 'express';
import { verifyUserToken } from '../core/tokens.js';
import { HttpError } from './errors.js';

declare module 'express-serve-static-core' {
  interface Locals { userId: number }
}

export function requireUser(secret: string): RequestHandler {
  return (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return next(new HttpError(401, 'UNAUTHORIZED', 'send Authorization: Bearer <token> (get one from POST /api/users)'));
    const userId = verifyUserToken(secret, m[1]!);
    if (userId === null) return next(new HttpError(401, 'UNAUTHORIZED', 'the bearer token is malformed, forged or expired'));
    res.locals.userId = userId;
    next();
  };
}
