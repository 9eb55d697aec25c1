import type { Pool } from 'undici';
import type { AnswerReader, AttemptRequest, Journey } from './plan.js';
import { idNumber, pick } from '../target/template.js';
import { REFUSED, type Answer } from './recorder.js';

// One attempt over HTTP on an undici Pool, shared by the closed and the open drivers: the answer's
// status and the ids the history needs; a request with no answer comes back as a wire error.

export async function send(pool: Pool, a: AttemptRequest, j: Journey): Promise<Answer> {
  try {
    const res = await pool.request({
      path: a.path,
      method: a.method,
      headers: requestHeaders(a, j),
      body: a.body,
    });
    const text = await res.body.text();
    if (a.reader) return readWith(a.reader, res.statusCode, text);
    const answer: Answer = { status: res.statusCode };
    if (text && text.charCodeAt(0) === 123 /* { */) {
      try {
        const json = JSON.parse(text) as { error?: unknown; reservationId?: unknown; paymentId?: unknown; joinNumber?: unknown };
        if (res.statusCode >= 400 && typeof json.error === 'string') answer.errorCode = json.error;
        if (res.statusCode < 300 && typeof json.reservationId === 'number') answer.reservationId = json.reservationId;
        if (res.statusCode < 300 && typeof json.paymentId === 'number') answer.paymentId = json.paymentId;
        if (res.statusCode < 300 && typeof json.joinNumber === 'number') answer.joinNumber = json.joinNumber;
      } catch {
        // Not JSON after all: the status code is the answer.
      }
    }
    return answer;
  } catch (err) {
    return { wireError: wireError(err) };
  }
}

/** The first of a profile's outcome rules that matches an answer (-1: none does). */
export function matchRule(rules: AnswerReader['rules'], status: number, text: string): number {
  return rules?.findIndex((x) => x.status.includes(status) && (x.bodyIncludes === undefined || text.includes(x.bodyIncludes))) ?? -1;
}

/** A target's answer read by its profile: the first matching rule decides; the id comes from its path. */
export function readWith(r: AnswerReader, status: number, text: string): Answer {
  const rule = r.rules?.[matchRule(r.rules, status, text)];
  const answer: Answer = { status, ...(rule ? { outcome: rule.outcome } : {}) };
  if (status >= 400 || (rule && rule.outcome !== 'ok')) answer.errorCode = rule?.bodyIncludes ?? `HTTP_${status}`;
  if (r.reservationId && (rule ? rule.outcome === 'ok' : status < 300)) {
    try {
      const raw = pick(JSON.parse(text), r.reservationId);
      if (raw !== undefined && raw !== null) answer.reservationId = idNumber(raw);
    } catch {
      // No JSON: no id to check against the database.
    }
  }
  return answer;
}

/** What every attempt carries: JSON, the user's bearer token, then the profile's own headers over them. */
export function requestHeaders(a: AttemptRequest, j: Pick<Journey, 'token'>): Record<string, string> {
  return { 'content-type': 'application/json', authorization: `Bearer ${j.token}`, ...a.headers };
}

function wireError(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? 'ERROR';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  if (code === 'ECONNREFUSED' || e.cause?.code === 'ECONNREFUSED') return REFUSED;
  return code;
}
