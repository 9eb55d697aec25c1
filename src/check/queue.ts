import { redisFromUrl } from '../infra/redis-client.js';
import { queueKeys, type QueueConfig } from '../queue/waiting-room.js';
import { ViolationLog, type CheckResult } from './violations.js';

export interface QueueCheckInput {
  redisUrl: string;
  keyPrefix: string;
  scheduleId: number;
  queue: QueueConfig;
  /** 201 answers to POST /api/queue/tokens. */
  okResponses: number;
  unknownResponses: number;
}

export interface QueueCheckResult extends CheckResult { admitted: number; maxAdmittedPerSecond: number; maxActive: number }

/**
 * Reads the waiting room's own records in Redis: join numbers unique and gap-free (1..joins),
 * admissions in join order, never more than the rate in any sliding second, never more ACTIVE at
 * once than the limit (from the admission and release timestamps, one Redis clock).
 * `oversold` here counts admissions beyond either limit.
 */
export async function checkQueue(input: QueueCheckInput): Promise<QueueCheckResult> {
  const log = new ViolationLog();
  const r = redisFromUrl(input.redisUrl, { keyPrefix: input.keyPrefix, lazyConnect: true, maxRetriesPerRequest: 1 });
  r.on('error', () => undefined);
  await r.connect();
  try {
    const k = queueKeys(input.scheduleId);
    const joins = Object.values(await r.hgetall(k.joins)).map(Number).sort((a, b) => a - b);
    if (joins.length < input.okResponses || joins.length > input.okResponses + input.unknownResponses) {
      log.add({ kind: 'joins-disagree-with-responses', detail: `${input.okResponses} joins answered 201 but ${joins.length} join numbers exist` });
    }
    const gaps = joins.filter((n, i) => n !== i + 1);
    if (gaps.length > 0) log.add({ kind: 'join-numbers-not-gap-free', detail: `join numbers are not exactly 1..${joins.length}`, evidence: { firstWrong: gaps.slice(0, 10) } });

    const adm = await r.zrange(k.admitted, 0, -1, 'WITHSCORES');
    const admitted: { join: number; at: number }[] = [];
    for (let i = 0; i < adm.length; i += 2) admitted.push({ join: Number(adm[i]!.split(':')[1]), at: Number(adm[i + 1]) });
    admitted.sort((a, b) => a.at - b.at || a.join - b.join);
    for (let i = 1; i < admitted.length; i++) {
      if (admitted[i]!.join < admitted[i - 1]!.join) {
        log.add({ kind: 'admitted-out-of-order', detail: `join ${admitted[i]!.join} was admitted after join ${admitted[i - 1]!.join}`, evidence: [admitted[i - 1], admitted[i]] });
      }
    }
    let excess = 0;
    let maxPerSecond = 0;
    for (let i = 0, j = 0; i < admitted.length; i++) {
      while (admitted[j]!.at <= admitted[i]!.at - 1000) j++;
      const inWindow = i - j + 1;
      maxPerSecond = Math.max(maxPerSecond, inWindow);
      if (inWindow > input.queue.ratePerSec) {
        excess++;
        log.add({ kind: 'admission-rate-exceeded', detail: `${inWindow} admissions within 1 s ending at ${new Date(admitted[i]!.at).toISOString()} (rate ${input.queue.ratePerSec})` });
      }
    }
    const rel = await r.zrange(k.released, 0, -1, 'WITHSCORES');
    const events: [number, number][] = admitted.map((a) => [a.at, +1]);
    for (let i = 0; i < rel.length; i += 2) events.push([Number(rel[i + 1]), -1]);
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let active = 0;
    let maxActive = 0;
    for (const [at, d] of events) {
      active += d;
      maxActive = Math.max(maxActive, active);
      if (d > 0 && active > input.queue.maxActive) {
        excess++;
        log.add({ kind: 'active-limit-exceeded', detail: `${active} ACTIVE at ${new Date(at).toISOString()} (limit ${input.queue.maxActive})` });
      }
    }
    return { oversold: excess, capacity: input.queue.maxActive, activeReservations: 0, admitted: admitted.length, maxAdmittedPerSecond: maxPerSecond, maxActive,
      violations: log.violations, violationCounts: log.counts };
  } finally {
    r.disconnect();
  }
}
