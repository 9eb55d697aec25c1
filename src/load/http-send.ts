import type { Pool } from 'undici';
import type { AttemptRequest, Journey } from './plan.js';
import { REFUSED, type Answer } from './recorder.js';

// One attempt over HTTP on an undici Pool, shared by the closed and the open drivers: the answer's
// status and the ids the history needs; a request with no answer comes back as a wire error.

export async function send(pool: Pool, a: AttemptRequest, j: Journey): Promise<Answer> {
  try {
    const res = await pool.request({
      path: a.path,
      method: a.method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${j.token}`, ...a.headers },
      body: a.body,
    });
    const text = await res.body.text();
    const answer: Answer = { status: res.statusCode };
    if (text && text.charCodeAt(0) === 123 /* { */) {
      try {
        const json = JSON.parse(text) as { error?: unknown; reservationId?: unknown; paymentId?: unknown };
        if (res.statusCode >= 400 && typeof json.error === 'string') answer.errorCode = json.error;
        if (res.statusCode < 300 && typeof json.reservationId === 'number') answer.reservationId = json.reservationId;
        if (res.statusCode < 300 && typeof json.paymentId === 'number') answer.paymentId = json.paymentId;
      } catch {
        // Not JSON after all: the status code is the answer.
      }
    }
    return answer;
  } catch (err) {
    return { wireError: wireError(err) };
  }
}

function wireError(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? 'ERROR';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  if (code === 'ECONNREFUSED' || e.cause?.code === 'ECONNREFUSED') return REFUSED;
  return code;
}
