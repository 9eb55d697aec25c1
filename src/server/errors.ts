import type { ErrorRequestHandler, RequestHandler } from 'express';
import { connectionErrorCode } from '../infra/error-tally.js';

/** An error that maps to an HTTP response `{"error": code, "message": …}`. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export const notFoundRoute: RequestHandler = (req, res) => {
  res.status(404).json({ error: 'NOT_FOUND', message: `no route for ${req.method} ${req.path}` });
};

/** The one place errors become responses. Unknown errors are logged and answered 500 without internals. */
export function errorHandler(log: (msg: string) => void): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: err.code, message: err.message });
      return;
    }
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed') {
      res.status(400).json({ error: 'VALIDATION_FAILED', message: 'the request body is not valid JSON' });
      return;
    }
    // The router could not decode a path parameter (a percent-escape that is not UTF-8, e.g. %ED%A0%80).
    if (err instanceof URIError && e.status === 400) {
      res.status(400).json({ error: 'VALIDATION_FAILED', message: `${e.message}: a path segment is not valid percent-encoded UTF-8; ids in the path are plain digits` });
      return;
    }
    if (e.type === 'entity.too.large') {
      res.status(413).json({ error: 'PAYLOAD_TOO_LARGE', message: 'the request body is larger than 16 kB' });
      return;
    }
    // A store that is away (a Redis failing over, a lost quorum): one answer the client can retry, no stack trace per request.
    if (e.status === 503) {
      res.status(503).json({ error: 'UNAVAILABLE', message: e.message ?? 'a store is unavailable; retry shortly' });
      return;
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: 'BAD_REQUEST', message: e.message ?? 'bad request' });
      return;
    }
    // A store that went away is not a bug of ours: the pool and the Redis clients count the lost
    // connections (src/infra/error-tally.ts), the client gets a retryable answer, and no stack per request.
    if (connectionErrorCode(err) !== undefined) {
      res.status(503).json({ error: 'UNAVAILABLE', message: 'a store is unavailable; retry later' });
      return;
    }
    log(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    res.status(500).json({ error: 'INTERNAL', message: 'the server failed to handle the request; see the server log' });
  };
}
