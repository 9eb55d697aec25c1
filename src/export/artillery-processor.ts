// The processor module the Artillery export writes next to its script (processor.cjs). Artillery 2
// loads it with require() in every worker thread, so it is CommonJS and has no dependencies: Node's
// own fetch and performance. It is kept here as text so the built CLI carries it without an asset
// step. What it does mirrors src/load/journey-loop.ts: one virtual user is one of the lab's users;
// it asks for its seats in order, moves to the next only after a 409 that is not SOLD_OUT, and
// stops at anything else. Every figure is an Artillery counter or histogram, so Artillery adds them
// up across workers (locally across threads, on Fargate/Lambda across containers).

export const ARTILLERY_PROCESSOR = String.raw`'use strict';
// Written by seatlab (bench export --engine artillery). Do not edit: export again instead.
const { performance } = require('node:perf_hooks');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const { threadId } = require('node:worker_threads');

// Rows this worker thread has already sent. Artillery's sequenced payload reader starts again at
// the first row when arrivals outnumber rows; a user who already had their turn is not sent twice.
const seen = new Set();

// When this worker's first user arrived: seatlab.ok_after_ms is each successful hold's time since
// then, so its max (Artillery keeps the max across workers) is the time the last seat went.
let firstArrival;

const REFUSED_RETRIES = 50;
const REFUSED_BACKOFF_MS = 100;

// The lab's reading of an answer (src/load/plan.ts classify): 409 SOLD_OUT and 402 end the user's
// journey, any other 409 is a refusal of this seat (the user tries their next one).
function classify(status, errorCode) {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 409) return errorCode === 'SOLD_OUT' ? 'soldOut' : 'conflict';
  if (status === 402) return 'soldOut';
  if (status >= 400 && status < 500) return 'rejected';
  return 'error';
}

// The profile's reading (src/load/http-send.ts readWith): the first rule whose status matches and
// whose text the body includes decides; no rule matching falls back to the lab's reading.
let reader;
function readerOf(v) {
  if (reader === undefined) reader = v.seatlabReader ? JSON.parse(String(v.seatlabReader)) : {};
  return reader;
}
function ruleFor(r, status, text) {
  return (r.rules || []).find((x) => x.status.includes(status) && (x.bodyIncludes === undefined || text.includes(x.bodyIncludes)));
}
function pick(json, path) {
  let v = json;
  for (const k of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = v[k];
  }
  return v;
}

function errorCodeOf(text) {
  try {
    const json = JSON.parse(text);
    return typeof json.error === 'string' ? json.error : undefined;
  } catch {
    return undefined;
  }
}

// The reservation id at the profile's path, as the lab's history has it: an integer, or a stable
// 48-bit number for anything else (src/target/template.ts idNumber).
const { createHash } = require('node:crypto');
function reservationIdOf(text, path) {
  try {
    const id = pick(JSON.parse(text), path || 'reservationId');
    if (id === undefined || id === null) return undefined;
    const s = String(id);
    if (/^\d+$/.test(s) && Number.isSafeInteger(Number(s))) return Number(s);
    return parseInt(createHash('sha1').update(s).digest('hex').slice(0, 12), 16);
  } catch {
    return undefined;
  }
}

// AbortSignal.timeout rejects with a DOMException named TimeoutError whose legacy numeric code is 23:
// the name decides before any code is read.
function wireError(err) {
  if (err && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timeout';
  const code = (err && ((typeof err.code === 'string' && err.code) || (err.cause && err.cause.code))) || (err && err.name) || 'ERROR';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  return String(code);
}

// The per-operation history, in the lab's format (src/load/history.ts), one file per worker thread:
// <seatlabHistoryDir>/<host>-<pid>-<thread>.jsonl. Times are epoch milliseconds (every worker's
// clock is its machine's); bench check --history merges the files and counts from the first.
// SEATLAB_HISTORY=off, or an empty seatlabHistoryDir, writes none.
let historyFd;
let historyIndex = 0;
function historyFile(dir) {
  if (historyFd !== undefined) return historyFd;
  historyFd = null;
  if (!dir || process.env.SEATLAB_HISTORY === 'off') return historyFd;
  fs.mkdirSync(dir, { recursive: true });
  historyFd = fs.openSync(path.join(dir, os.hostname() + '-' + process.pid + '-' + threadId + '.jsonl'), 'a');
  return historyFd;
}
const epochMs = () => Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000;

// The history's outcome: ok (2xx), fail (a 4xx, or a connection refused before anything was sent),
// unknown (a 5xx, or no answer: it may or may not have happened).
function historyOp(fd, v, s, seatNo, invokeMs, answer) {
  if (fd === null) return;
  const op = { index: historyIndex++, process: Number(v.user), instance: 0, op: s.op, invokeMs, completeMs: epochMs() };
  if (answer.wire !== undefined) {
    op.outcome = answer.wire === 'ECONNREFUSED' ? 'fail' : 'unknown';
    op.error = answer.wire;
  } else {
    // As the lab's Recorder: a profile's rule decides (ok; error → unknown; anything else fail), else the status.
    op.outcome = answer.outcome ? (answer.outcome === 'ok' ? 'ok' : answer.outcome === 'error' ? 'unknown' : 'fail') : answer.status < 300 ? 'ok' : answer.status >= 500 ? 'unknown' : 'fail';
    op.status = answer.status;
    if (answer.errorCode) op.error = answer.errorCode;
  }
  op.userId = Number(v.userId);
  if (Number.isFinite(s.scheduleId)) op.scheduleId = s.scheduleId;
  op.seatNo = seatNo;
  if (answer.reservationId !== undefined) op.reservationId = answer.reservationId;
  fs.writeSync(fd, JSON.stringify(op) + '\n');
}

// One request as the export rendered it; the answer as the profile reads it.
async function send(base, token, req, r, timeoutMs) {
  for (let refusals = 0; ; refusals++) {
    try {
      const res = await fetch(base + req.path, {
        method: req.method,
        headers: Object.assign({ 'content-type': 'application/json', authorization: 'Bearer ' + token }, req.headers || {}),
        body: req.body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      const rule = ruleFor(r, res.status, text);
      const outcome = rule ? rule.outcome : undefined;
      // The answer's own error code (seatlab's SEAT_BUSY, SEAT_TAKEN, …) when it has one, else the rule's text.
      const errorCode = res.status >= 400 || (outcome && outcome !== 'ok') ? errorCodeOf(text) || (rule && rule.bodyIncludes) || 'HTTP_' + res.status : undefined;
      const success = outcome ? outcome === 'ok' : res.status < 300;
      return { status: res.status, outcome, errorCode, reservationId: success ? reservationIdOf(text, r.reservationId) : undefined };
    } catch (err) {
      const wire = wireError(err);
      // Nothing reached the server: the same ask again after a pause, as the lab's driver does.
      if (wire === 'ECONNREFUSED' && refusals < REFUSED_RETRIES) {
        await new Promise((r) => setTimeout(r, REFUSED_BACKOFF_MS));
        continue;
      }
      return { wire };
    }
  }
}

async function seatlabJourney(context, events) {
  const v = context.vars;
  const s = { op: String(v.seatlabOp), scheduleId: v.seatlabScheduleId === '' ? NaN : Number(v.seatlabScheduleId), timeoutMs: Number(v.seatlabTimeoutMs) };
  if (seen.has(v.user)) {
    events.emit('counter', 'seatlab.users.repeated', 1);
    return;
  }
  seen.add(v.user);
  events.emit('counter', 'seatlab.users.arrived', 1);
  const fd = historyFile(v.seatlabHistoryDir === undefined ? '' : String(v.seatlabHistoryDir));
  firstArrival ??= performance.now();
  const asks = String(v.asks).split(';');
  const requests = JSON.parse(Buffer.from(String(v.requests), 'base64url').toString('utf8'));
  const base = String(v.target).replace(/\/$/, '');
  const r = readerOf(v);
  for (let i = 0; i < asks.length; i++) {
    const seatNo = asks[i] === '-' ? null : Number(asks[i]);
    const invokeMs = epochMs();
    const t0 = performance.now();
    const answer = await send(base, v.token, requests[i], r, s.timeoutMs);
    const ms = performance.now() - t0;
    historyOp(fd, v, s, seatNo, invokeMs, answer);
    if (answer.wire !== undefined) {
      // No answer: the outcome is unknown (the hold may or may not exist), never a failure.
      const outcome = answer.wire === 'timeout' ? 'timeout' : 'error';
      events.emit('counter', 'seatlab.' + s.op + '.' + outcome, 1);
      events.emit('counter', 'seatlab.wire.' + answer.wire, 1);
      events.emit('counter', 'seatlab.journeys.' + (outcome === 'timeout' ? 'unknown' : 'stopped'), 1);
      return;
    }
    const outcome = answer.outcome || classify(answer.status, answer.errorCode);
    events.emit('counter', 'seatlab.' + s.op + '.' + outcome, 1);
    events.emit('counter', 'seatlab.status.' + answer.status, 1);
    if (outcome === 'ok') {
      events.emit('histogram', 'seatlab.winners_ms', ms);
      events.emit('histogram', 'seatlab.ok_after_ms', performance.now() - firstArrival);
      events.emit('counter', 'seatlab.journeys.succeeded', 1);
      return;
    }
    if (outcome !== 'error') events.emit('histogram', 'seatlab.losers_ms', ms);
    if (outcome === 'conflict' && i + 1 < asks.length) continue;
    events.emit('counter', 'seatlab.journeys.' + (outcome === 'conflict' ? 'exhausted' : 'stopped'), 1);
    return;
  }
}

module.exports = { seatlabJourney };
`;
