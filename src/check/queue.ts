import { queueKeys, type QueueConfig } from '../queue/waiting-room.js';
import { redisFromUrl } from '../infra/redis-client.js';
import type { QueueAnswers } from '../load/history.js';
import { ViolationLog, type CheckResult } from './violations.js';

export interface QueueCheckInput {
  redisUrl: string;
  keyPrefix: string;
  scheduleId: number;
  queue: QueueConfig;
  /** 201 answers to POST /api/queue/tokens. */
  okResponses: number;
  unknownResponses: number;
  /** What the users were told; without it only the waiting room's own records are checked against each other. */
  answers?: QueueAnswers;
}

export interface QueueCheckResult extends CheckResult { admitted: number; maxAdmittedPerSecond: number; maxActive: number }

/** The waiting room's records of one schedule, read in one MULTI so they are one instant's. */
interface Records {
  /** userId → join number. */
  joins: Map<number, number>;
  /** In admission order (time, then join number). */
  admitted: { user: number; join: number; at: number }[];
  waiting: { user: number; join: number }[];
  releasedAt: number[];
}

/**
 * Reads the waiting room's own records in Redis and holds them to what the users were told: join
 * numbers unique and gap-free (1..joins), every join number promised still the user's and promised
 * to nobody else, no user told WAITING later dropped from the line; admissions in join order
 * (pairwise, and nobody still waiting behind a later join already admitted); never more than the
 * rate in any sliding second, never more ACTIVE at once than the limit (one Redis clock).
 * `oversold` here counts admissions beyond either limit.
 */
export async function checkQueue(input: QueueCheckInput): Promise<QueueCheckResult> {
  const log = new ViolationLog();
  const rec = await readRecords(input);
  checkJoinNumbers(log, rec, input);
  if (input.answers) checkPromises(log, rec, input.answers);
  checkLine(log, rec);
  const { excess, maxPerSecond, maxActive } = checkLimits(log, rec, input.queue);
  return { oversold: excess, capacity: input.queue.maxActive, activeReservations: 0, admitted: rec.admitted.length, maxAdmittedPerSecond: maxPerSecond, maxActive,
    violations: log.violations, violationCounts: log.counts };
}

async function readRecords(input: QueueCheckInput): Promise<Records> {
  const r = redisFromUrl(input.redisUrl, { keyPrefix: input.keyPrefix, lazyConnect: true, maxRetriesPerRequest: 1 });
  r.on('error', () => undefined);
  await r.connect();
  try {
    const k = queueKeys(input.scheduleId);
    const res = await r.multi().hgetall(k.joins).zrange(k.admitted, 0, -1, 'WITHSCORES').zrange(k.waiting, 0, -1, 'WITHSCORES').zrange(k.released, 0, -1, 'WITHSCORES').exec();
    if (!res || res.some(([err]) => err)) throw new Error(`reading the waiting room of schedule ${input.scheduleId} failed: ${res?.find(([e]) => e)?.[0]?.message ?? 'transaction aborted'}`);
    const [joins, adm, wait, rel] = res.map(([, v]) => v) as [Record<string, string>, string[], string[], string[]];
    const admitted: Records['admitted'] = [];
    for (let i = 0; i < adm.length; i += 2) {
      const [user, join] = adm[i]!.split(':').map(Number) as [number, number];
      admitted.push({ user, join, at: Number(adm[i + 1]) });
    }
    admitted.sort((a, b) => a.at - b.at || a.join - b.join);
    const waiting: Records['waiting'] = [];
    for (let i = 0; i < wait.length; i += 2) waiting.push({ user: Number(wait[i]), join: Number(wait[i + 1]) });
    const releasedAt: number[] = [];
    for (let i = 1; i < rel.length; i += 2) releasedAt.push(Number(rel[i]));
    return { joins: new Map(Object.entries(joins).map(([u, n]) => [Number(u), Number(n)])), admitted, waiting, releasedAt };
  } finally {
    r.disconnect();
  }
}

function checkJoinNumbers(log: ViolationLog, rec: Records, input: QueueCheckInput): void {
  const n = rec.joins.size;
  if (n < input.okResponses || n > input.okResponses + input.unknownResponses) {
    log.add({ kind: 'joins-disagree-with-responses', detail: `${input.okResponses} joins answered 201${input.unknownResponses ? ` (and ${input.unknownResponses} with an unknown outcome)` : ''} but ${n} join numbers exist` });
  }
  const holders = new Map<number, number[]>();
  for (const [user, join] of rec.joins) holders.set(join, [...(holders.get(join) ?? []), user]);
  for (const [join, users] of holders) {
    if (users.length > 1) log.add({ kind: 'join-number-duplicated', detail: `join number ${join} belongs to ${users.length} users in the waiting room's records`, evidence: { joinNumber: join, users } });
  }
  const missing: number[] = [];
  const max = Math.max(0, ...holders.keys());
  for (let j = 1; j <= max && missing.length < 10; j++) if (!holders.has(j)) missing.push(j);
  const beyond = [...holders.keys()].filter((j) => !Number.isInteger(j) || j < 1).slice(0, 10);
  if (missing.length > 0 || beyond.length > 0) {
    log.add({ kind: 'join-numbers-not-gap-free', detail: `join numbers are not exactly 1..${holders.size}: ${missing.length ? `${missing.join(', ')} missing` : ''}${beyond.length ? ` ${beyond.join(', ')} out of range` : ''}`, evidence: { missing, outOfRange: beyond } });
  }
}

/** The answers the users got, against the records: each promise must still hold. */
function checkPromises(log: ViolationLog, rec: Records, answers: QueueAnswers): void {
  const promised = new Map<number, number[]>();
  for (const a of answers.joins) {
    const users = promised.get(a.joinNumber) ?? [];
    if (!users.includes(a.userId)) users.push(a.userId);
    promised.set(a.joinNumber, users);
    const now = rec.joins.get(a.userId);
    if (now !== a.joinNumber) {
      log.add({ kind: 'join-lost', detail: `user ${a.userId} was told join number ${a.joinNumber}, but the waiting room ${now === undefined ? 'has no record of that join' : `now has it as join ${now}`}`,
        evidence: { userId: a.userId, told: a.joinNumber, recorded: now ?? null } });
    }
  }
  for (const [join, users] of promised) {
    if (users.length > 1) log.add({ kind: 'join-number-reissued', detail: `join number ${join} was promised to ${users.length} users: ${users.slice(0, 5).join(', ')}`, evidence: { joinNumber: join, users } });
  }
  const admitted = new Set(rec.admitted.map((a) => `${a.user}:${a.join}`));
  for (const p of answers.placesLost) {
    if (admitted.has(`${p.userId}:${p.joinNumber}`)) continue;
    log.add({ kind: 'queue-place-lost', detail: `user ${p.userId} waited in line with join number ${p.joinNumber}, then at ${p.atMs} ms was told it was in no line, never having been admitted`, evidence: p });
  }
}

function checkLine(log: ViolationLog, rec: Records): void {
  const { admitted } = rec;
  for (let i = 1; i < admitted.length; i++) {
    if (admitted[i]!.join < admitted[i - 1]!.join) {
      log.add({ kind: 'admitted-out-of-order', detail: `join ${admitted[i]!.join} was admitted after join ${admitted[i - 1]!.join}`, evidence: [admitted[i - 1], admitted[i]] });
    }
  }
  // Pairwise order says nothing about somebody left behind: a join still waiting while a later one got in.
  const latest = admitted.reduce<Records['admitted'][number] | undefined>((m, a) => (!m || a.join > m.join ? a : m), undefined);
  if (latest) {
    for (const w of rec.waiting.filter((x) => x.join < latest.join)) {
      log.add({ kind: 'admission-skipped', detail: `join ${w.join} (user ${w.user}) is still waiting although join ${latest.join} was admitted at ${new Date(latest.at).toISOString()}`, evidence: { waiting: w, admitted: latest } });
    }
  }
  const placed = new Set([...rec.waiting.map((w) => w.user), ...rec.admitted.map((a) => a.user)]);
  for (const [user, join] of rec.joins) {
    if (!placed.has(user)) log.add({ kind: 'queue-place-lost', detail: `join ${join} (user ${user}) is neither waiting nor admitted`, evidence: { userId: user, joinNumber: join } });
  }
}

function checkLimits(log: ViolationLog, rec: Records, queue: QueueConfig): { excess: number; maxPerSecond: number; maxActive: number } {
  const { admitted } = rec;
  let excess = 0;
  let maxPerSecond = 0;
  for (let i = 0, j = 0; i < admitted.length; i++) {
    while (admitted[j]!.at <= admitted[i]!.at - 1000) j++;
    const inWindow = i - j + 1;
    maxPerSecond = Math.max(maxPerSecond, inWindow);
    if (inWindow > queue.ratePerSec) {
      excess++;
      log.add({ kind: 'admission-rate-exceeded', detail: `${inWindow} admissions within 1 s ending at ${new Date(admitted[i]!.at).toISOString()} (rate ${queue.ratePerSec})` });
    }
  }
  const events: [number, number][] = admitted.map((a) => [a.at, +1]);
  for (const at of rec.releasedAt) events.push([at, -1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let active = 0;
  let maxActive = 0;
  for (const [at, d] of events) {
    active += d;
    maxActive = Math.max(maxActive, active);
    if (d > 0 && active > queue.maxActive) {
      excess++;
      log.add({ kind: 'active-limit-exceeded', detail: `${active} ACTIVE at ${new Date(at).toISOString()} (limit ${queue.maxActive})` });
    }
  }
  return { excess, maxPerSecond, maxActive };
}
